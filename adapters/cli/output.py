"""Rendering of command results: JSON for machines, aligned tables for people.

Every CLI verb prints its data through this module (stdout only; logs and
errors go to stderr). JSON goes through :func:`projections.plain.plain`, so
``--json`` output is stable and a value renders the same way in every verb.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, TextIO

from projections.plain import plain


def dumps(value: Any) -> str:
    """Pretty JSON text of ``value`` (keys in their natural order)."""
    return json.dumps(plain(value), indent=2)


def print_json(value: Any, stream: TextIO | None = None) -> None:
    print(dumps(value), file=stream or sys.stdout)


def cell(value: Any) -> str:
    """One table cell: short, single-line text for a value."""
    if value is None or value == "":
        return "-"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ",".join(f"{k}={cell(v)}" for k, v in value.items()) or "-"
    if isinstance(value, set | frozenset):
        return ",".join(sorted(cell(v) for v in value)) or "-"
    if isinstance(value, list | tuple):
        return ",".join(cell(v) for v in value) or "-"
    return " ".join(str(value).split())


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces; an empty table is the header alone."""
    text_rows = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in text_rows]
    return "\n".join(lines)


def render_fields(fields: Mapping[str, Any], indent: int = 0) -> str:
    """``key: value`` lines; nested mappings and lists of mappings are indented beneath."""
    pad = " " * indent
    width = max((len(k) for k in fields), default=0)
    lines: list[str] = []
    for key, value in fields.items():
        if isinstance(value, Mapping) and value:
            lines.append(f"{pad}{key}:")
            lines.append(render_fields(value, indent + 2))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            lines.append(f"{pad}{key}:")
            for item in value:
                lines.append(f"{pad}  - " + ", ".join(f"{k}={cell(v)}" for k, v in item.items()))
        else:
            lines.append(f"{pad}{(key + ':').ljust(width + 1)} {cell(value)}")
    return "\n".join(lines)
