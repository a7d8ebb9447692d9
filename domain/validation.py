"""Argument rules shared by the aggregates' public commands (names, sizes, tags).

Each check raises ``InvalidValue`` with a one-line reason, or returns the normalised
value. Called only from command methods, never from ``@event`` bodies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

from domain.errors import InvalidValue
from domain.values import SECTOR

_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$")
_TAG = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")

E = TypeVar("E", bound=StrEnum)


def name(field: str, value: object) -> str:
    """A DNS-label-like name: lowercase letters, digits, '-' and '.', 1..63 chars."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidValue(field, value, "use 1-63 lowercase letters, digits, '-' or '.', "
                                          "starting and ending with a letter or digit")
    return value


def size(field: str, value: object) -> int:
    """A positive byte count that is a whole number of 4096-byte sectors."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(field, value, "must be an integer number of bytes")
    if value <= 0:
        raise InvalidValue(field, value, "must be greater than 0")
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
    """A sorted, de-duplicated tuple of tags (letters, digits, '-', '_', '.')."""
    if isinstance(values, str):
        raise InvalidValue(field, values, "must be a list of tags, not one string")
    out = set()
    for tag in values:
        if not isinstance(tag, str) or not _TAG.match(tag):
            raise InvalidValue(field, tag, "a tag is 1-63 letters, digits, '-', '_' or '.'")
        out.add(tag)
    return tuple(sorted(out))


def text(field: str, value: object, limit: int = 1024) -> str:
    """A single-line string of at most ``limit`` characters."""
    if not isinstance(value, str) or "\n" in value or len(value) > limit:
        raise InvalidValue(field, value, f"must be one line of at most {limit} characters")
    return value
