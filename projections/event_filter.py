"""Which events a reader asked for: ``--type``, ``--aggregate``, ``--since``, ``--until``, ``--limit``.

A pure value shared by ``pronghorn events`` and ``GET /v1/events`` /
``GET /v1/volumes/{name}/events``. ``matches`` takes what is known about an event
without decoding it (its type, aggregate kind and name, time), so a volume's index
rows are filtered before any event is fetched (``projections.indexed_history``) and
the cluster-wide stream filters by topic first (``projections.event_stream``).
``limit`` keeps the LAST N matching events (the newest; printed oldest first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class EventFilter:
    types: frozenset[str] = frozenset()  # event class names (Attached) or Kind.Name (Volume.Attached)
    aggregate: str = ""  # an aggregate kind (Replica), or kind/name (Replica/r2)
    since: datetime | None = None  # at or after (UTC)
    until: datetime | None = None  # at or before (UTC)
    limit: int | None = None  # keep only the last N matches

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be at least 1")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=UTC))

    def wants_type(self, kind: str, type_name: str) -> bool:
        return not self.types or type_name in self.types or f"{kind}.{type_name}" in self.types

    def wants_kind(self, kind: str) -> bool:
        """Whether events of this aggregate kind can match (the name is checked by ``matches``)."""
        wanted = self.aggregate.partition("/")[0]
        return not wanted or wanted.lower() == kind.lower()

    def matches(self, kind: str, name: str, type_name: str, timestamp: datetime) -> bool:
        if not self.wants_type(kind, type_name) or not self.wants_kind(kind):
            return False
        wanted_name = self.aggregate.partition("/")[2]
        if wanted_name and wanted_name != name:
            return False
        if self.since is not None and timestamp < self.since:
            return False
        return self.until is None or timestamp <= self.until

    def last(self, items: Sequence[T]) -> Sequence[T]:
        """The last ``limit`` items (all without a limit)."""
        return items[-self.limit :] if self.limit is not None else items
