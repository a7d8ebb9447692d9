"""JSON transcoding that keeps the domain's value types through the event store.

The standard ``JSONTranscoder`` writes a ``StrEnum`` as a bare string and a tuple as
a list (``json`` handles both natively, so no custom transcoding is ever consulted),
and rejects dataclasses. Events and aggregate snapshots must come back with the same
types they were saved with, or a replayed aggregate differs from the live one. This
transcoder boxes those values before encoding and unboxes them while decoding.
Only the types registered here can be revived (a stored name never picks a class).

Used by ``domain.application.ControlPlane.construct_transcoder``.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Transcoding, UUIDAsHex

from domain import values

_ENUMS: dict[str, type[StrEnum]] = {
    cls.__name__: cls
    for cls in vars(values).values()
    if isinstance(cls, type) and issubclass(cls, StrEnum) and cls is not StrEnum
}
_RECORDS: dict[str, type[Any]] = {
    cls.__name__: cls for cls in vars(values).values() if isinstance(cls, type) and dataclasses.is_dataclass(cls)
}


@dataclasses.dataclass(frozen=True)
class _Boxed:
    kind: str  # "enum", "record", "tuple" or "dict"
    name: str
    data: Any


def _box(obj: Any) -> Any:
    cls = type(obj)
    if cls in (str, int, float, bool) or obj is None:
        return obj
    if isinstance(obj, StrEnum):
        return _Boxed("enum", cls.__name__, obj.value)
    if cls is dict:
        if obj.keys() == {"_type_", "_data_"}:  # would read back as an encoded value: escape it
            return _Boxed("dict", "", [[k, _box(v)] for k, v in obj.items()])
        return {k: _box(v) for k, v in obj.items()}
    if cls is list:
        return [_box(v) for v in obj]
    if cls is tuple:
        return _Boxed("tuple", "", [_box(v) for v in obj])
    if dataclasses.is_dataclass(obj) and _RECORDS.get(cls.__name__) is cls:
        fields = {f.name: _box(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return _Boxed("record", cls.__name__, fields)
    return obj  # UUID, datetime, Decimal: the registered transcodings handle them


class _BoxedTranscoding(Transcoding):
    type = _Boxed
    name = "pronghorn"

    def encode(self, obj: _Boxed) -> list[Any]:
        return [obj.kind, obj.name, obj.data]

    def decode(self, data: list[Any]) -> Any:
        kind, name, payload = data
        if kind == "enum":
            return _ENUMS[name](payload)
        if kind == "tuple":
            return tuple(payload)
        if kind == "dict":
            return dict(payload)
        if kind == "record":
            return _RECORDS[name](**payload)
        raise ValueError(f"unknown boxed kind {kind!r}")


class DomainTranscoder(JSONTranscoder):
    """``JSONTranscoder`` that round-trips StrEnums, tuples and domain records exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.register(UUIDAsHex())
        self.register(DecimalAsStr())
        self.register(DatetimeAsISO())
        self.register(_BoxedTranscoding())

    def encode(self, obj: Any) -> bytes:
        return super().encode(_box(obj))
