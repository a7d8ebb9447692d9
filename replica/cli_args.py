"""Command-line argument types shared by the replica's and the engine's CLIs.

argparse ``type=`` callables: sizes (``64M``, ``1GiB``; a positive multiple of
the 4096-byte sector) and ``HOST:PORT`` addresses (an optional ``tcp://``
prefix; an empty host means 127.0.0.1).
"""

from __future__ import annotations

import argparse
import re

from replica.wire import SECTOR

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """``4096``, ``64M``, ``1GiB``, ``2g`` -> bytes; must be a positive multiple of 4096."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if not match:
        raise argparse.ArgumentTypeError(f"invalid size {text!r} (examples: 1073741824, 64M, 1GiB)")
    size = int(match.group(1)) * _UNITS[match.group(2)]
    if size <= 0 or size % SECTOR:
        raise argparse.ArgumentTypeError(f"size {text!r} must be a positive multiple of {SECTOR}")
    return size


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``tcp://HOST:PORT`` -> (host, port)."""
    host, sep, port = text.removeprefix("tcp://").rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"invalid address {text!r} (expected HOST:PORT)")
    return host or "127.0.0.1", int(port)
