"""``DesiredEngines``: every live volume's aggregates and desired engine state, kept in memory.

The manager's reconciler reads this read model instead of loading each volume's
``Volume``, ``Replica`` and ``SnapshotChain`` aggregates from the store on every pass
(at 1,000 volumes that was about 19,000 aggregate loads a pass). ``load()`` reads them
all once, from the store: the position (newest notification id) is taken BEFORE the
reads, so an event saved meanwhile is seen again later and skipped by its version.
``catch_up()`` then follows the notification log from that position
(``recorder.select_notifications``: polling works on every persistence module) and
folds each event of a volume's aggregates into the aggregate held here with the
event's own ``mutate`` — what the repository does on a load. An event at or below the
held version is skipped; one past the next version (a gap) reloads the aggregate from
the store. Events of other aggregates (nodes, jobs) are skipped without decoding;
the volumes catalog says which volumes are live. Volumes touched since the last
``take_changed()`` are reported by it; ``desired(name)`` is cached until the volume
changes. Nothing here is not derivable from the store: a restarted manager rebuilds
it with ``load()``. Used by ``manager.reconciler`` from one thread.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Notification

from domain import ids
from domain.application import ControlPlane
from domain.catalog import Catalog
from domain.errors import ReplicaNotFound, VolumeNotFound
from domain.replica import Replica
from domain.snapshots import SnapshotChain
from domain.volume import Volume
from projections.desired_engine import DesiredEngine, desired_engine
from projections.volume_status_projection import may_start_volume_history, volume_of_new_aggregate

BATCH = 2000
VOLUMES_CATALOG = ids.catalog_id("volumes")
IDS_CACHED = 1 << 16
volume_id = lru_cache(IDS_CACHED)(ids.volume_id)  # uuid5 costs ~25 us: the reconciler asks often
replica_id = lru_cache(IDS_CACHED)(ids.replica_id)
chain_id = lru_cache(IDS_CACHED)(ids.chain_id)


class DesiredEngines:
    def __init__(self, app: ControlPlane, batch: int = BATCH) -> None:
        self.app = app
        self.batch = batch  # notifications read per query
        self.position = 0  # the last notification id folded in
        self.catalog = Catalog(kind="volumes")
        self.aggregates: dict[UUID, Aggregate] = {}  # every held aggregate, by id
        self.owners: dict[UUID, str] = {}  # held aggregate id -> its volume
        self.changed: set[str] = set()  # volumes touched since take_changed()
        self._desired: dict[str, DesiredEngine] = {}
        self.empty_chains: dict[str, SnapshotChain] = {}  # volumes without a saved chain yet
        self.saves = app.saves  # the app's saves when the log was last read
        self.catalog_reloaded = False  # the batch being folded had a gap in the catalog

    # -- filling -----------------------------------------------------------------------

    def load(self) -> None:
        """Forget everything and read every live volume's aggregates from the store."""
        self.position = int(self.app.recorder.max_notification_id() or 0)  # type: ignore[attr-defined]
        self.aggregates.clear()
        self.owners.clear()
        self._desired.clear()
        self.empty_chains.clear()
        catalog = self._get(VOLUMES_CATALOG)
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog(kind="volumes")
        for name in self.catalog.names:
            self._complete(name)
        self.changed = set(self.catalog.names)

    def catch_up(self, if_saved: bool = False) -> None:
        """Fold in every event saved after ``position`` (``if_saved``: only if this process saved since)."""
        if if_saved and self.app.saves == self.saves:
            return
        self.saves = self.app.saves
        while notifications := self.app.recorder.select_notifications(
                start=self.position, limit=self.batch, inclusive_of_start=False):
            self.catalog_reloaded = False
            touched = {name for n in notifications if (name := self._fold(n))}
            if self.catalog_reloaded:  # names may have come and gone unseen
                touched |= self.catalog.names.keys()
            for name in touched:
                self._desired.pop(name, None)
                if name in self.catalog.names:
                    self._complete(name)
                else:
                    self._forget(name)  # deleted (or its catalog entry is in the next batch: then reloaded)
            self.changed |= touched
            self.position = notifications[-1].id

    def take_changed(self) -> set[str]:
        """Live volumes touched since the last call (all of them after ``load``)."""
        changed, self.changed = self.changed, set()
        return changed & self.catalog.names.keys()

    def _fold(self, notification: Notification) -> str | None:
        """Apply one event; return the volume it touched (None: not a volume's, or skipped)."""
        raw = notification.originator_id
        aggregate_id = raw if isinstance(raw, UUID) else UUID(raw)
        held = self.aggregates.get(aggregate_id) if aggregate_id != VOLUMES_CATALOG else self.catalog
        if held is None and not may_start_volume_history(notification.topic):
            return None
        event: Any = self.app.mapper.to_domain_event(notification)
        if held is None:
            volume = volume_of_new_aggregate(event)
            if volume is None:
                return None
            self.aggregates[aggregate_id] = event.mutate(None)
            self.owners[aggregate_id] = volume
            return volume
        if event.originator_version == held.version + 1:
            event.mutate(held)
        elif event.originator_version > held.version + 1:  # a gap: trust the store
            fresh = self._get(aggregate_id)
            if isinstance(fresh, Catalog):
                self.catalog, self.catalog_reloaded = fresh, True
            elif fresh is not None:
                self.aggregates[aggregate_id] = fresh
        if aggregate_id == VOLUMES_CATALOG:
            return str(getattr(event, "name", "")) or None
        return self.owners[aggregate_id]

    def _complete(self, name: str) -> None:
        """Hold a live volume and its current replicas, loading any not held yet (a volume
        seen for the first time also gets its chain: a chain held later comes by its log)."""
        volume = self.aggregates.get(volume_id(name))
        if volume is None:
            volume = self._hold(name, volume_id(name))
            if chain_id(name) not in self.aggregates:
                self._hold(name, chain_id(name))
        if isinstance(volume, Volume):
            for replica in volume.replicas:
                if replica_id(name, replica) not in self.aggregates:
                    self._hold(name, replica_id(name, replica))

    def _forget(self, name: str) -> None:
        for aggregate_id in [a for a, owner in self.owners.items() if owner == name]:
            del self.aggregates[aggregate_id], self.owners[aggregate_id]
        self.empty_chains.pop(name, None)

    def _hold(self, name: str, aggregate_id: UUID) -> Aggregate | None:
        aggregate = self._get(aggregate_id)
        if aggregate is not None:
            self.aggregates[aggregate_id] = aggregate
            self.owners[aggregate_id] = name
        return aggregate

    def _get(self, aggregate_id: UUID) -> Aggregate | None:
        try:
            aggregate: Aggregate = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate

    # -- reading (the objects held here: callers must not change them) ------------------

    def names(self) -> list[str]:
        """Live (not deleted) volume names, sorted."""
        return self.catalog.sorted_names()

    def volume(self, name: str) -> Volume:
        volume = self.aggregates.get(volume_id(name))
        if not isinstance(volume, Volume):
            raise VolumeNotFound(name)
        return volume

    def replica(self, volume: str, name: str) -> Replica:
        replica = self.aggregates.get(replica_id(volume, name))
        if not isinstance(replica, Replica):
            raise ReplicaNotFound(volume, name)
        return replica

    def replicas(self, volume: str) -> list[Replica]:
        """The volume's current replicas, sorted by name (as ``Replicas.list_for``)."""
        return [self.replica(volume, name) for name in sorted(self.volume(volume).replicas)]

    def chain(self, volume: str) -> SnapshotChain:
        """The volume's snapshot chain (an empty, unsaved one before its first snapshot)."""
        chain = self.aggregates.get(chain_id(volume))
        if isinstance(chain, SnapshotChain):
            return chain
        self.volume(volume)
        if volume not in self.empty_chains:
            self.empty_chains[volume] = SnapshotChain(volume=volume)
        return self.empty_chains[volume]

    def desired(self, name: str) -> DesiredEngine:
        """``desired_engine`` of the volume as held here (cached until it changes)."""
        desired = self._desired.get(name)
        if desired is None:
            desired = self._desired[name] = desired_engine(self.volume(name), self.replicas(name))
        return desired
