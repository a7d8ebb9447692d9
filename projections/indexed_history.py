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
from projections.history import HistoryEntry, HistoryError, PositionOutOfRange, Timeline
from projections.history_rows import IndexedAggregate, IndexRow
from projections.status_parts import evolve
from projections.status_views import VolumeStatusView
from projections.volume_status import VolumeStatus, fold


class IndexedHistory(Timeline):
    """A volume's history: index rows read when needed (a position range, or all of them for a
    search by time or kind), events decoded only for the rows asked for."""

    def __init__(self, app: Application[Any], view: VolumeStatusView, volume: str, length: int,
                 aggregates: dict[str, IndexedAggregate], after: int = 0) -> None:
        self.app = app
        self.view = view
        self.volume = volume
        self.length = length  # positions 1..length
        self.aggregates = aggregates
        self.after = after  # a tail: only the rows after this position are of interest
        self._rows: tuple[IndexRow, ...] | None = None

    @property
    def rows(self) -> tuple[IndexRow, ...]:
        """Every index row after ``after`` (read once)."""
        if self._rows is None:
            self._rows = tuple(self.view.history(self.volume, self.after, self.length))
        return self._rows

    def points(self) -> Sequence[IndexRow]:
        return self.rows

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[HistoryEntry]:
        return iter(self.entries(self.rows))

    def _range(self, after: int, upto: int) -> Sequence[IndexRow]:
        """Rows of positions after..upto (1-based, inclusive of ``upto``)."""
        if self._rows is not None:
            return self._rows[after - self.after : upto - self.after]
        return self.view.history(self.volume, after, upto)

    def check_position(self, position: int) -> int:
        if not 1 <= position <= self.length:
            raise PositionOutOfRange(
                f"position {position} is outside volume {self.volume!r}'s history (1..{self.length})"
            )
        return position

    def between(self, a: int, b: int) -> tuple[HistoryEntry, ...]:
        """Entries after position ``a`` up to and including ``b`` (a <= b)."""
        return tuple(self.entries(self._range(min(a, b), max(a, b))))

    def entry(self, position: int) -> HistoryEntry:
        return self.entries(self._range(self.check_position(position) - 1, position))[0]

    def status_at(self, position: int) -> VolumeStatus:
        """The volume status after the event at ``position``: the nearest checkpoint, then the events after it."""
        self.check_position(position)
        start = self.view.checkpoint(self.volume, position)
        done = start.events if start is not None else 0
        rows = self._range(done, position)
        status = fold((entry.event for entry in self.entries(rows)), start)
        return evolve(status, position=rows[-1].notification_id if rows else start.position if start else 0)

    def select(self, wanted: EventFilter) -> list[HistoryEntry]:
        """The events (after ``after``) that ``wanted`` asks for, decoded (only those)."""
        if wanted == EventFilter(limit=wanted.limit) and wanted.limit is not None:  # the last N: a range
            return self.entries(self._range(max(self.after, self.length - wanted.limit), self.length))
        return self.entries(wanted.last([row for row in self.rows if self._matches(wanted, row)]))

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

    With ``after``, a tail: ``rows`` and ``select`` only hold the events after that position.
    """
    length = view.history_length(volume)
    if length == 0:
        raise HistoryError(f"volume {volume!r} has no events in this store")
    return IndexedHistory(app, view, volume, length, view.history_aggregates(volume), after)
