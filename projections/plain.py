"""Plain data (dicts, lists, str, int, float, bool, None) from domain values.

Read models and the CLI show domain values — frozen dataclasses, StrEnums,
UUIDs, datetimes, sets — as JSON-shaped data. :func:`plain` is the one
conversion: ``--json`` output (``adapters.cli.output``) and event data in
``pronghorn events`` go through it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any
from uuid import UUID


def plain(value: Any) -> Any:
    """A JSON-serialisable copy of ``value`` (recursively). Sets become sorted lists."""
    if isinstance(value, Enum):
        return plain(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, UUID | PurePath | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((plain(v) for v in value), key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, Iterable):
        return [plain(v) for v in value]
    return str(value)
