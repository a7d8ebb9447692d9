"""Byte sizes as people type them: ``4096``, ``512Mi``, ``1Gi``, ``1.5Gi``, ``10G``.

Used by the ``volume`` and ``node`` verbs to parse ``--size`` and ``--disk
PATH:CAPACITY`` and to print sizes back. Binary suffixes (Ki, Mi, Gi, Ti, Pi, Ei)
are powers of 1024, decimal ones (k, K, M, G, T, P, E) powers of 1000, as in
Kubernetes quantities. The result must be a whole, positive number of bytes;
the domain decides what else a size must be (e.g. a multiple of 4096).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_UNITS: dict[str, int] = {
    "": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "P": 1000**5,
    "E": 1000**6,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "Pi": 1024**5,
    "Ei": 1024**6,
}
_PATTERN = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKMGTPE]i?)?[bB]?\s*$")
# Binary units printed back, largest first.
_BINARY = [("Ei", 1024**6), ("Pi", 1024**5), ("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)]


class SizeError(ValueError):
    """A size that is not a whole, positive number of bytes; ``str()`` says why."""


def parse_size(text: str) -> int:
    """``"1Gi"`` -> 1073741824. Raises :class:`SizeError` with a one-line message."""
    match = _PATTERN.match(text)
    if match is None or (match.group(2) or "") not in _UNITS:
        raise SizeError(f"invalid size {text!r} (expected e.g. 4096, 512Mi, 1Gi, 10G)")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:  # pragma: no cover - the pattern only admits decimals
        raise SizeError(f"invalid size {text!r}") from None
    value = number * _UNITS[match.group(2) or ""]
    if value != value.to_integral_value():
        raise SizeError(f"invalid size {text!r}: not a whole number of bytes")
    if value <= 0:
        raise SizeError(f"invalid size {text!r}: must be greater than zero")
    return int(value)


def format_size(size: int) -> str:
    """1073741824 -> ``"1Gi"``; 1536 MiB -> ``"1.5Gi"``; odd sizes stay in bytes."""
    for suffix, unit in _BINARY:
        if size >= unit:
            whole, rest = divmod(size, unit)
            if rest == 0:
                return f"{whole}{suffix}"
            if (size * 10) % unit == 0:
                return f"{size / unit:.1f}{suffix}"
    return str(size)


def format_usage(size: int) -> str:
    """Measured bytes, rounded for people: 0 -> ``"0"``, 16781312 -> ``"16.0Mi"``, 1000 -> ``"1000"``."""
    for suffix, unit in _BINARY:
        if size >= unit:
            return f"{size / unit:.1f}{suffix}"
    return str(size)
