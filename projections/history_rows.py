"""The per-volume history index's records: what the status projection writes beside each status.

For every event of a volume's history the projection (``projections.volume_status_projection``)
writes an ``IndexRow`` keyed by (volume, per-volume position), once per aggregate an
``IndexedAggregate`` (its kind and name), and every ``CHECKPOINT_EVERY`` positions the
volume's status at that position. The view (``projections.status_views``) stores them in
the same transaction as the statuses and the position; ``projections.indexed_history``
reads a volume's history through them without scanning the notification log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from projections.volume_status import VolumeStatus

CHECKPOINT_EVERY = 500  # positions between stored statuses: a replay folds at most this many events


@dataclass(frozen=True)
class IndexRow:
    """One event of a volume's history, as the index knows it (not decoded)."""

    position: int  # 1-based, in this volume's history
    notification_id: int  # global position in the store's notification log
    aggregate_id: str  # str(UUID)
    version: int  # the aggregate's version after this event
    type: str  # event class name: Created, Expanded...
    timestamp: datetime


@dataclass(frozen=True)
class IndexedAggregate:
    """One of a volume's aggregates: its kind (Volume, Replica, SnapshotChain...) and name."""

    aggregate_id: str
    kind: str
    name: str


@dataclass
class HistoryBatch:
    """What one projection batch adds to the index, per volume."""

    rows: list[tuple[str, IndexRow]] = field(default_factory=list)
    aggregates: list[tuple[str, IndexedAggregate]] = field(default_factory=list)
    checkpoints: list[tuple[str, int, VolumeStatus]] = field(default_factory=list)
