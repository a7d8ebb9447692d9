"""The cluster-wide event stream: every stored event (volumes, nodes, jobs, catalogs...), filtered.

``ClusterStream(app).select(wanted, after)`` reads the store's notification log
(``recorder.select_notifications``) for ``pronghorn events`` without a volume and
``GET /v1/events``. A type or aggregate-kind filter is checked on the topic, before
decoding; ``--since`` starts at the first event at or after that time (found by
bisecting the log: event times follow the log's order, up to the events of one save);
``--until`` stops ``UNTIL_SLACK`` after that time; ``--limit N`` reads the log
backwards until it has the last N. Entries carry no per-volume position (0): the
global one is ``notification_id``. An aggregate's name comes from its first event
(its ``name``, else its ``volume``), looked up once per aggregate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from projections.event_filter import EventFilter
from projections.history import HistoryEntry

BATCH = 1000
UNTIL_SLACK = timedelta(minutes=1)  # events of one save can be stored out of time order


@lru_cache(maxsize=1024)
def kind_and_type(topic: str) -> tuple[str, str]:
    """``domain.volume:Volume.Attached`` -> (Volume, Attached)."""
    qualname = topic.partition(":")[2]
    kind, _, type_name = qualname.rpartition(".")
    return kind or "?", type_name


class ClusterStream:
    def __init__(self, app: Application[Any]) -> None:
        self.app = app
        self._names: dict[UUID, str] = {}

    def last_id(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def select(self, wanted: EventFilter, after: int = 0) -> list[HistoryEntry]:
        """Matching events after notification ``after``, oldest first."""
        if wanted.limit is not None and after == 0:
            return self._last(wanted)
        start = max(after + 1, self._first_since(wanted) if after == 0 else 1)
        found: list[HistoryEntry] = []
        while True:
            batch = self.app.recorder.select_notifications(start, BATCH)
            for entry in self._matching(batch, wanted):
                if wanted.until is not None and entry.timestamp > wanted.until + UNTIL_SLACK:
                    return list(wanted.last(found))
                if wanted.matches(entry.aggregate, entry.aggregate_name, entry.type, entry.timestamp):
                    found.append(entry)
            if len(batch) < BATCH:
                return list(wanted.last(found))
            start = batch[-1].id + 1

    def _last(self, wanted: EventFilter) -> list[HistoryEntry]:
        limit = wanted.limit or 0
        found: list[HistoryEntry] = []
        stop = self.last_id()
        while stop >= 1 and len(found) < limit:
            batch = self.app.recorder.select_notifications(max(1, stop - BATCH + 1), BATCH, stop=stop)
            entries = list(self._matching(batch, wanted))
            found[:0] = [e for e in entries if wanted.matches(e.aggregate, e.aggregate_name, e.type, e.timestamp)]
            if wanted.since is not None and entries and all(e.timestamp < wanted.since for e in entries):
                break
            stop = (batch[0].id - 1) if batch else 0
        return found[-limit:]

    def _first_since(self, wanted: EventFilter) -> int:
        """The id to start from: the first event at or after ``since`` (1 without one)."""
        if wanted.since is None:
            return 1
        low, high = 1, self.last_id() + 1
        decode: Any = self.app.mapper.to_domain_event
        while low < high:
            middle = (low + high) // 2
            found = self.app.recorder.select_notifications(middle, 1)
            if not found:
                high = middle
            elif decode(found[0]).timestamp < wanted.since - UNTIL_SLACK:
                low = found[0].id + 1
            else:
                high = middle
        return low

    def _matching(self, batch: Sequence[Notification], wanted: EventFilter) -> Iterable[HistoryEntry]:
        """Entries of the notifications whose topic can match (decoded only those)."""
        decode: Any = self.app.mapper.to_domain_event
        for notification in batch:
            kind, type_name = kind_and_type(notification.topic)
            if wanted.wants_type(kind, type_name) and wanted.wants_kind(kind):
                event = decode(notification)
                aggregate = UUID(str(notification.originator_id))
                yield HistoryEntry(
                    position=0, notification_id=notification.id, aggregate=kind,
                    aggregate_name=self._name(aggregate, event), aggregate_id=aggregate,
                    version=notification.originator_version, timestamp=event.timestamp, type=type_name, event=event,
                )

    def _name(self, aggregate: UUID, event: Any) -> str:
        if aggregate not in self._names:
            first = event
            if event.originator_version != 1:
                stored = self.app.recorder.select_events(aggregate, limit=1)
                first = self.app.mapper.to_domain_event(stored[0]) if stored else event
            self._names[aggregate] = str(getattr(first, "name", None) or getattr(first, "volume", None) or "")
        return self._names[aggregate]
