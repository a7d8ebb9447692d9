"""Keeps the volume status view up to date with the control plane's notification log.

``VolumeStatusProjection(app, view).catch_up()`` reads notifications after the
view's recorded position (``recorder.select_notifications``: polling works on
every persistence module, and eventsourcing 9.5's SQLite has no subscriptions),
folds each event of a volume's history into that volume's status with
``projections.volume_status.apply``, and commits every batch (statuses, aggregate
owners, the per-volume history index of ``projections.history_rows`` and position)
in one transaction. Stopped anywhere, a new runner on the
same view continues after the last committed batch: nothing is skipped and
nothing is applied twice. ``follow()`` polls until told to stop (the manager's
loop). Events of aggregates that belong to no volume (nodes, catalogs) are
skipped without being decoded. A runner keeps every status it has touched in
memory (about a kilobyte per volume) and is driven from one thread; several
runners (processes) may share one view: a runner that finds the view moved by
another drops what it holds and reads it from the view again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification, Tracking
from eventsourcing.utils import resolve_topic

from projections.history_rows import CHECKPOINT_EVERY, HistoryBatch, IndexedAggregate, IndexRow
from projections.status_parts import evolve
from projections.status_views import VolumeStatusView
from projections.volume_status import VolumeStatus, apply

DEFAULT_BATCH = 2000

# Events that create an aggregate belonging to a volume -> the attribute naming the volume.
HISTORY_STARTS = {"Volume.Created": "name", "Replica.Created": "volume", "SnapshotChain.Created": "volume"}


def starts_volume_history(event_class: type) -> bool:
    """Whether events of this class create an aggregate that belongs to a volume."""
    return event_class.__qualname__ in HISTORY_STARTS


def volume_of_new_aggregate(event: Any) -> str | None:
    """The volume a newly created aggregate belongs to (None: not a volume's aggregate)."""
    attribute = HISTORY_STARTS.get(type(event).__qualname__)
    return None if attribute is None else str(getattr(event, attribute))


@lru_cache(maxsize=1024)
def may_start_volume_history(topic: str) -> bool:
    """Whether events of this topic can create an aggregate that belongs to a volume."""
    return starts_volume_history(resolve_topic(topic))


def indexed_aggregate(created: Any, volume: str) -> IndexedAggregate:
    """How the history index names a volume's new aggregate: by its own name (a replica's), else the volume's."""
    kind = type(created).__qualname__.rsplit(".", 1)[0]
    return IndexedAggregate(str(created.originator_id), kind, str(getattr(created, "name", None) or volume))


class VolumeStatusProjection:
    def __init__(self, app: Application[Any], view: VolumeStatusView, batch_size: int = DEFAULT_BATCH,
                 checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        if batch_size < 1 or checkpoint_every < 1:
            raise ValueError("batch_size and checkpoint_every must be at least 1")
        self.app = app
        self.view = view
        self.batch_size = batch_size
        self.checkpoint_every = checkpoint_every
        self.tracking_name = app.name
        self._owners: dict[UUID | str, str] | None = None  # aggregate id -> volume
        self._cache: dict[str, VolumeStatus] = {}
        self._committed: int | None = None  # the position this runner's caches belong to

    @property
    def position(self) -> int:
        """The last notification id the view has processed (0: none)."""
        return self.view.max_tracking_id(self.tracking_name) or 0

    def catch_up(self, max_batches: int | None = None) -> int:
        """Process every notification after the view's position (or ``max_batches``); return how many."""
        position = self.position
        if position != self._committed:  # another runner moved the view: what this one holds is stale
            self._owners, self._cache = None, {}
        processed = batches = 0
        while max_batches is None or batches < max_batches:
            notifications = self.app.recorder.select_notifications(
                start=position, limit=self.batch_size, inclusive_of_start=False
            )
            if not notifications:
                break
            self._process(notifications)
            position = notifications[-1].id
            processed += len(notifications)
            batches += 1
        return processed

    def follow(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Catch up, then poll every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            if self.catch_up() == 0:
                stop.wait(interval)

    def _process(self, notifications: Sequence[Notification]) -> None:
        if self._owners is None:
            self._owners = {UUID(aggregate): volume for aggregate, volume in self.view.load_owners().items()}
        owners = self._owners
        new_owners: dict[str, str] = {}
        touched: dict[str, int] = {}  # volume -> last notification id in this batch
        history = HistoryBatch()
        statuses = self._cache
        self._prefetch({owners[n.originator_id] for n in notifications if n.originator_id in owners})
        decode: Any = self.app.mapper.to_domain_event
        for notification in notifications:
            aggregate = notification.originator_id
            volume = owners.get(aggregate)
            if volume is None:
                if not may_start_volume_history(notification.topic):
                    continue
                event = decode(notification)
                volume = volume_of_new_aggregate(event)
                if volume is None:
                    continue
                owners[aggregate] = new_owners[str(aggregate)] = volume
                history.aggregates.append((volume, indexed_aggregate(event, volume)))
                if volume not in statuses:
                    self._prefetch({volume})
            else:
                event = decode(notification)
            status = statuses[volume] = apply(statuses.get(volume) or VolumeStatus(), event)
            touched[volume] = notification.id
            history.rows.append((volume, IndexRow(status.events, notification.id, str(aggregate),
                                                  notification.originator_version, type(event).__name__,
                                                  event.timestamp)))
            if status.events % self.checkpoint_every == 0:
                history.checkpoints.append((volume, status.events, evolve(status, position=notification.id)))
        changed = {name: evolve(statuses[name], position=last) for name, last in touched.items()}
        try:
            self.view.commit(changed, new_owners, Tracking(self.tracking_name, notifications[-1].id), history)
        except BaseException:
            self._owners = None  # the cache ran ahead of the view: forget it
            self._cache = {}
            raise
        statuses.update(changed)
        self._committed = notifications[-1].id

    def _prefetch(self, names: set[str]) -> None:
        missing = names - self._cache.keys()
        if missing:
            self._cache.update(self.view.load(missing))
