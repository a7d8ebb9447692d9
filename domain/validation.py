"""Argument rules shared by the aggregates' public commands (names, sizes, tags).

Each check raises ``InvalidValue`` with a one-line reason, or returns the normalised
value. Called only from command methods, never from ``@event`` bodies.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

from domain.errors import InvalidValue
from domain.values import SECTOR

_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$")
_TAG = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
# Directories of the operating system: never a disk for replica data, nor anything beneath them.
SYSTEM_DIRECTORIES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run",
                      "/sbin", "/sys", "/usr")
MAX_PATH = 4096
MAX_TAGS = 64  # per list: a node's, a disk's, a selector's
MAX_SIZE = 1 << 50  # 1 PiB: past any disk here, and far from where 64-bit sizes and offsets overflow

E = TypeVar("E", bound=StrEnum)


def name(field: str, value: object) -> str:
    """A DNS-label-like name: lowercase letters, digits, '-' and '.', 1..63 chars."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidValue(field, value, "use 1-63 lowercase letters, digits, '-' or '.', "
                                          "starting and ending with a letter or digit")
    return str(value)  # a plain str, even when given a StrEnum


def size(field: str, value: object) -> int:
    """A positive byte count, at most ``MAX_SIZE``, that is a whole number of 4096-byte sectors."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(field, value, "must be an integer number of bytes")
    if value <= 0:
        raise InvalidValue(field, value, "must be greater than 0")
    if value > MAX_SIZE:
        raise InvalidValue(field, value, f"must be at most {MAX_SIZE} (1Pi)")
    if value % SECTOR:
        raise InvalidValue(field, value, f"must be a multiple of {SECTOR}")
    return value


def integer(field: str, value: object, low: int, high: int | None = None) -> int:
    """An integer within ``low..high`` (inclusive; ``high`` None = unbounded)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(field, value, "must be an integer")
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise InvalidValue(field, value, f"must be {bound}")
    return value


def choice(field: str, value: object, enum: type[E]) -> E:
    """One of a StrEnum's values (given as the enum member or its string)."""
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidValue(field, value, f"must be one of {allowed}") from None


def tags(field: str, values: Iterable[object]) -> tuple[str, ...]:
    """A sorted, de-duplicated tuple of at most ``MAX_TAGS`` tags (letters, digits, '-', '_', '.')."""
    if isinstance(values, str):
        raise InvalidValue(field, values, "must be a list of tags, not one string")
    out = set()
    for tag in values:
        if not isinstance(tag, str) or not _TAG.match(tag):
            raise InvalidValue(field, tag, "a tag is 1-63 letters, digits, '-', '_' or '.'")
        out.add(str(tag))
    if len(out) > MAX_TAGS:
        raise InvalidValue(field, len(out), f"at most {MAX_TAGS} tags")
    return tuple(sorted(out))


def text(field: str, value: object, limit: int = 1024) -> str:
    """A single-line string of at most ``limit`` characters."""
    if not isinstance(value, str) or "\n" in value or len(value) > limit:
        raise InvalidValue(field, value, f"must be one line of at most {limit} characters")
    return str(value)  # a plain str, even when given a StrEnum (dict keys must not change type)


def address(field: str, value: object) -> str:
    """An IP address (IPv4 or IPv6) a process can listen on and others reach: not a host name,
    not the unspecified address (0.0.0.0, ::), not multicast. Returned in its canonical text."""
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        ip = ipaddress.ip_address(value)
    except ValueError:
        raise InvalidValue(field, value, "must be an IP address, e.g. 10.0.0.5 or fd00::5") from None
    if ip.is_unspecified or ip.is_multicast:
        raise InvalidValue(field, value, "must be one host's address (not unspecified or multicast)")
    return str(ip)


def disk_path(field: str, value: object) -> str:
    """An absolute, normalised directory path that is not ``/`` nor an operating-system
    directory (``SYSTEM_DIRECTORIES``) or beneath one. A trailing ``/`` and repeated ``/`` are
    dropped; ``.`` and ``..`` are refused rather than resolved. Whether the directory
    exists is for the node's own manager to check: this runs where the node is not."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise InvalidValue(field, value, "must be an absolute path")
    if len(value) > MAX_PATH or any(c in value for c in "\0\n\r"):
        raise InvalidValue(field, value, f"must be one line of at most {MAX_PATH} characters")
    parts = [p for p in value.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise InvalidValue(field, value, "must be normalised (no '.' or '..' components)")
    path = "/" + "/".join(parts)
    if path == "/":
        raise InvalidValue(field, value, "must not be the root directory")
    system = next((d for d in SYSTEM_DIRECTORIES if path == d or path.startswith(d + "/")), None)
    if system is not None:
        raise InvalidValue(field, value, f"must not be in the operating system's {system}")
    return path
