"""A volume's event history, replayed to any point, and the diff between two points.

``read_history`` finds a volume's history by scanning the whole notification log:
the reference the per-volume history index (``projections.indexed_history``, what
``pronghorn events`` / ``replay`` read) is checked against, and the demo's reader;
``Timeline``, ``HistoryEntry``, ``diff`` are shared by both. The history
of volume X is every stored event, in global notification order, of every
aggregate whose creation event says it belongs to X: the Volume named X,
and any aggregate created with ``volume == X`` (its SnapshotChain, its Replicas;
later per-volume aggregates join the same way). This agrees with the volume
status projection's rule (tests/unit/test_history.py checks it), so the replayed
history and the live status view fold the same events; unlike the projection,
which sees every volume, it decides membership of name-derived aggregates by id
alone, decoding only the events it keeps.

Positions are 1-based indexes into that history; position N means "after the
N-th event". The status at a position is computed by folding the events with
the volume status projection's pure fold (:mod:`projections.volume_status`) —
there is exactly one fold. Reads go through the eventsourcing recorder only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.domain import AggregateCreated
from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification
from eventsourcing.utils import resolve_topic

from domain.catalog import Catalog
from domain.ids import chain_id, replica_id, volume_id
from domain.node import Node
from domain.replica import Replica
from domain.snapshots import SnapshotChain
from domain.volume import Volume
from projections.status_json import status_to_dict
from projections.volume_status import VolumeStatus, fold

BATCH = 1000
# Event attributes that are envelope, not data.
_ENVELOPE = ("originator_id", "originator_version", "timestamp", "originator_topic")


class HistoryError(LookupError):
    """A volume with no stored events; ``str()`` is one line."""


class PositionOutOfRange(HistoryError, ValueError):
    """A position or time outside the volume's history."""


@dataclass(frozen=True)
class HistoryEntry:
    """One stored event of a volume's history."""

    position: int  # 1-based index in this volume's history
    notification_id: int  # global position in the store's notification log
    aggregate: str  # aggregate class name: Volume, Replica, SnapshotChain...
    aggregate_name: str  # the aggregate's name (a replica's name; the volume's for the others)
    aggregate_id: UUID
    version: int  # the aggregate's version after this event
    timestamp: datetime
    type: str  # event class name: Created, Expanded...
    event: Any  # the decoded domain event

    def data(self) -> dict[str, Any]:
        """The event's own attributes (its envelope left out)."""
        return {k: v for k, v in vars(self.event).items() if k not in _ENVELOPE}


@dataclass(frozen=True)
class Change:
    """One field of the status that differs between two points."""

    field: str
    before: Any
    after: Any


class Timeline(ABC):
    """Positions and times of a volume's history: what ``History`` and the indexed history share."""

    volume: str

    @abstractmethod
    def points(self) -> Sequence[Any]:
        """The history's items in order, each with a ``position`` and a ``timestamp``."""

    @abstractmethod
    def status_at(self, position: int) -> VolumeStatus:
        """The volume status after the event at ``position``."""

    def check_position(self, position: int) -> int:
        count = len(self.points())
        if not 1 <= position <= count:
            raise PositionOutOfRange(
                f"position {position} is outside volume {self.volume!r}'s history (1..{count})"
            )
        return position

    def position_at(self, when: datetime) -> int:
        """The end of the longest prefix of the history whose events all happened at or before ``when``.

        Timestamps are taken when an event is made, and one save can store events
        made in a different order (a volume provisioned in one transaction stores
        the Volume's events before its Replicas'), so "the last event before T"
        is the last position before the first event after T. Naive times are UTC.
        """
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        found = 0
        points = self.points()
        for point in points:
            if point.timestamp > when:
                break
            found = point.position
        if found == 0:
            first = points[0].timestamp.isoformat() if points else "never"
            raise PositionOutOfRange(
                f"volume {self.volume!r} had no events at {when.isoformat()} (first event: {first})"
            )
        return found


class History(Timeline, Sequence[HistoryEntry]):
    """A volume's events in global order, addressable by 1-based position."""

    def __init__(self, volume: str, entries: Sequence[HistoryEntry]) -> None:
        self.volume = volume
        self.entries = tuple(entries)

    def points(self) -> Sequence[HistoryEntry]:
        return self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[HistoryEntry]:
        return iter(self.entries)

    def __getitem__(self, index: Any) -> Any:
        return self.entries[index]

    def entry(self, position: int) -> HistoryEntry:
        return self.entries[self.check_position(position) - 1]

    def between(self, a: int, b: int) -> tuple[HistoryEntry, ...]:
        """Entries after position ``a`` up to and including ``b`` (a <= b)."""
        return self.entries[min(a, b) : max(a, b)]

    def status_at(self, position: int) -> VolumeStatus:
        """The volume status after the event at ``position`` — what the status view showed then."""
        entries = self.entries[: self.check_position(position)]
        status = fold(entry.event for entry in entries)
        return replace(status, position=entries[-1].notification_id)


def read_history(recorder: ApplicationRecorder, mapper: Mapper[Any], volume: str) -> History:
    """Scan the notification log for the events of ``volume``'s aggregates.

    Raises :class:`HistoryError` when the volume has no events at all.
    """
    members: dict[UUID, tuple[str, str]] = {}  # aggregate id -> (kind, name)
    expected = _named_members(recorder, mapper, volume)
    entries: list[HistoryEntry] = []
    event: Any
    for notification in _notifications(recorder):
        originator = _as_uuid(notification.originator_id)
        if originator not in members:
            if not _creates_aggregate(notification.topic):
                continue
            if originator not in expected and _created_class(notification.topic) in _NAMED_BY_ID:
                continue  # its id says it is not one of this volume's (no need to decode it)
            event = mapper.to_domain_event(notification)
            if volume_of(event) != volume:
                continue
            members[originator] = (_aggregate_kind(event), str(getattr(event, "name", None) or volume))
        else:
            event = mapper.to_domain_event(notification)
        kind, name = members[originator]
        entries.append(
            HistoryEntry(
                position=len(entries) + 1,
                notification_id=notification.id,
                aggregate=kind,
                aggregate_name=name,
                aggregate_id=originator,
                version=notification.originator_version,
                timestamp=event.timestamp,
                type=type(event).__name__,
                event=event,
            )
        )
    if not entries:
        raise HistoryError(f"volume {volume!r} has no events in this store")
    return History(volume, entries)


def diff(before: VolumeStatus, after: VolumeStatus) -> list[Change]:
    """Field-level changes from ``before`` to ``after``.

    Nested fields are dotted paths; list items that carry a ``name`` (replicas,
    snapshots) are addressed by it (``replicas[r2].mode``), conditions by their
    ``type`` (``conditions[Scheduled].status``), and an item that
    appears or disappears whole is one change (``replicas[r4]``: None -> item).
    """
    changes: list[Change] = []
    _diff(status_to_dict(before), status_to_dict(after), "", changes)
    return changes


_MISSING: Any = object()


def _diff(old: Any, new: Any, path: str, out: list[Change]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            _diff(old.get(key, _MISSING), new.get(key, _MISSING), f"{path}.{key}" if path else key, out)
    elif isinstance(old, list) and isinstance(new, list) and (key := _item_key(old + new)):
        before = {item[key]: item for item in old}
        after = {item[key]: item for item in new}
        for name in sorted(before.keys() | after.keys()):
            _diff(before.get(name, _MISSING), after.get(name, _MISSING), f"{path}[{name}]", out)
    else:
        out.append(Change(path, None if old is _MISSING else old, None if new is _MISSING else new))


def _item_key(items: list[Any]) -> str | None:
    """``name`` (replicas, snapshots) or ``type`` (conditions) when every item has a string one."""
    for key in ("name", "type"):
        if items and all(isinstance(item, dict) and isinstance(item.get(key), str) for item in items):
            return key
    return None


def _notifications(recorder: ApplicationRecorder) -> Iterator[Notification]:
    start = 1
    while True:
        batch = recorder.select_notifications(start, BATCH)
        yield from batch
        if len(batch) < BATCH:
            return
        start = batch[-1].id + 1


# Aggregates whose id derives from their name, so the id alone says whether they
# belong to the volume (see _named_members); any other new aggregate is decoded.
_NAMED_BY_ID: frozenset[type] = frozenset({Volume, Replica, SnapshotChain, Node, Catalog})


def _named_members(recorder: ApplicationRecorder, mapper: Mapper[Any], volume: str) -> set[UUID]:
    """Ids of the volume's Volume, SnapshotChain and every Replica it ever added."""
    ids = {volume_id(volume), chain_id(volume)}
    for stored in recorder.select_events(volume_id(volume)):
        name = getattr(getattr(mapper.to_domain_event(stored), "replica", None), "name", None)
        if isinstance(name, str):
            ids.add(replica_id(volume, name))
    return ids


@lru_cache(maxsize=256)
def _created_class(topic: str) -> type | None:
    """The aggregate class a creation event's topic creates (``Volume.Created`` -> Volume)."""
    module, _, qualname = topic.partition(":")
    owner = qualname.rsplit(".", 1)[0] if "." in qualname else ""
    try:
        return resolve_topic(f"{module}:{owner}") if owner else None
    except Exception:  # noqa: BLE001 - an event class not nested in its aggregate
        return None


def volume_of(created: Any) -> str | None:
    """The volume an aggregate creation event belongs to (None: not a volume's aggregate)."""
    if resolve_topic(created.originator_topic) is Volume:
        return str(created.name)
    named = getattr(created, "volume", None)
    return named if isinstance(named, str) else None


@lru_cache(maxsize=256)
def _creates_aggregate(topic: str) -> bool:
    event_class = resolve_topic(topic)
    return isinstance(event_class, type) and issubclass(event_class, AggregateCreated)


def _aggregate_kind(event: Any) -> str:
    topic = getattr(event, "originator_topic", None)
    if isinstance(topic, str):
        return str(resolve_topic(topic).__name__)
    qualname = type(event).__qualname__
    return qualname.rsplit(".", 1)[0] if "." in qualname else "?"


def _as_uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
