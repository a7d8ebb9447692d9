"""A volume's history read through the per-volume history index, not by scanning the log.

``indexed_history(app, view, volume)`` reads the volume's index rows
(``projections.history_rows``: per-volume position, notification id, aggregate,
version, type, time) from a caught-up status view; events are fetched and decoded
only for the rows asked for, aggregate by aggregate (``recorder.select_events``:
the store's primary key), and the status at a position is the nearest stored
checkpoint at or before it with the events after it folded in. It answers the same
questions as ``projections.history.History`` (which scans the whole notification
log; tests/property/test_indexed_history.py checks they agree). Used by
``pronghorn events`` / ``replay`` and the REST events route, via
``projections.read_models``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from projections.event_filter import EventFilter
from projections.history import HistoryEntry, HistoryError, Timeline
from projections.history_rows import IndexedAggregate, IndexRow
from projections.status_parts import evolve
from projections.status_views import VolumeStatusView
from projections.volume_status import VolumeStatus, fold


class IndexedHistory(Timeline):
    """A volume's history: cheap index rows, events decoded on demand."""

    def __init__(self, app: Application[Any], view: VolumeStatusView, volume: str, rows: Sequence[IndexRow],
                 aggregates: dict[str, IndexedAggregate]) -> None:
        self.app = app
        self.view = view
        self.volume = volume
        self.rows = tuple(rows)
        self.aggregates = aggregates

    def points(self) -> Sequence[IndexRow]:
        return self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[HistoryEntry]:
        return iter(self.entries(self.rows))

    def between(self, a: int, b: int) -> tuple[HistoryEntry, ...]:
        """Entries after position ``a`` up to and including ``b`` (a <= b)."""
        return tuple(self.entries(self.rows[min(a, b) : max(a, b)]))

    def entry(self, position: int) -> HistoryEntry:
        return self.entries([self.rows[self.check_position(position) - 1]])[0]

    def status_at(self, position: int) -> VolumeStatus:
        """The volume status after the event at ``position``: the nearest checkpoint, then the events after it."""
        self.check_position(position)
        start = self.view.checkpoint(self.volume, position)
        done = start.events if start is not None else 0
        events = [entry.event for entry in self.entries(self.rows[done:position])]
        status = fold(events, start)
        return evolve(status, position=self.rows[position - 1].notification_id)

    def select(self, wanted: EventFilter, after: int = 0) -> list[HistoryEntry]:
        """The events after position ``after`` that ``wanted`` asks for, decoded (only those)."""
        rows = [row for row in self.rows[after:] if self._matches(wanted, row)]
        return self.entries(wanted.last(rows))

    def _matches(self, wanted: EventFilter, row: IndexRow) -> bool:
        aggregate = self.aggregates.get(row.aggregate_id)
        kind, name = (aggregate.kind, aggregate.name) if aggregate else ("?", self.volume)
        return wanted.matches(kind, name, row.type, row.timestamp)

    def entries(self, rows: Iterable[IndexRow]) -> list[HistoryEntry]:
        """The decoded events of ``rows`` (in the order given)."""
        wanted = list(rows)
        by_aggregate: dict[str, list[int]] = defaultdict(list)
        for row in wanted:
            by_aggregate[row.aggregate_id].append(row.version)
        decode = self.app.mapper.to_domain_event
        events: dict[tuple[str, int], Any] = {}
        for aggregate, versions in by_aggregate.items():
            needed = set(versions)
            stored = self.app.recorder.select_events(UUID(aggregate), gt=min(versions) - 1, lte=max(versions))
            for item in stored:
                if item.originator_version in needed:
                    events[aggregate, item.originator_version] = decode(item)
        return [self._entry(row, events[row.aggregate_id, row.version]) for row in wanted]

    def _entry(self, row: IndexRow, event: Any) -> HistoryEntry:
        aggregate = self.aggregates.get(row.aggregate_id) or IndexedAggregate(row.aggregate_id, "?", self.volume)
        return HistoryEntry(
            position=row.position, notification_id=row.notification_id, aggregate=aggregate.kind,
            aggregate_name=aggregate.name, aggregate_id=UUID(row.aggregate_id), version=row.version,
            timestamp=event.timestamp, type=row.type, event=event,
        )


def indexed_history(app: Application[Any], view: VolumeStatusView, volume: str, after: int = 0) -> IndexedHistory:
    """The volume's history from ``view`` (caught up by the caller); HistoryError when it has none.

    With ``after``, only the rows after that position (none is no error): a tail to ``select``
    from, whose positions and ``status_at`` are not those of the whole history.
    """
    rows = view.history(volume, after)
    if not rows and after == 0:
        raise HistoryError(f"volume {volume!r} has no events in this store")
    return IndexedHistory(app, view, volume, rows, view.history_aggregates(volume))
