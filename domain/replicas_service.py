"""``Replicas``: application service for a volume's replicas.

A replica's mode lives on the ``Replica`` aggregate and, as the input of robustness,
on its ``Volume``; its bytes are booked on its ``Node`` disk. Every command here
changes those aggregates together in one save (retried on conflicts, see
``domain.service``). Re-exported by ``domain.services``; used by the manager,
engine reconcilers, adapters and tests.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from domain.errors import (
    AlreadyExists,
    InvalidTransition,
    NodeNotFound,
    ReplicaNotFound,
    SchedulingFailed,
    VolumeNotFound,
)
from domain.ids import node_id, replica_id, volume_id
from domain.node import Node
from domain.replica import Replica
from domain.replica_placement import booking, describe, plan_replicas
from domain.scheduling import SchedulingSettings
from domain.service import Service
from domain.values import ConditionType, Reason, ReasonCode, ReplicaMode, VolumeState
from domain.volume import Volume

VOLUMES = "volumes"


class Replicas(Service):
    def get(self, volume: str, name: str) -> Replica:
        return self._load(Replica, replica_id(volume, name), lambda: ReplicaNotFound(volume, name))

    def _volume(self, volume: str) -> Volume:
        return self._load(Volume, volume_id(volume), lambda: VolumeNotFound(volume))

    def _node(self, name: str) -> Node:
        node = self._load(Node, node_id(name), lambda: NodeNotFound(name))
        if node.removed:
            raise NodeNotFound(name)
        return node

    def list_for(self, volume: str) -> list[Replica]:
        """The volume's current (not removed) replicas, sorted by name."""
        return [self.get(volume, name) for name in sorted(self._volume(volume).replicas)]

    def add(self, volume: str, name: str, node: str, disk: str, data_dir: str = "", address: str = "",
            mode: ReplicaMode | str = ReplicaMode.RW) -> Replica:
        """Add a replica on ``node``'s ``disk``, chosen by the caller (names are never reused
        in a volume). Books its bytes on the disk without checking capacity: use
        ``place`` for placements the scheduling policy checks."""
        def command() -> Replica:
            replica = Replica.create(volume, name, node, disk, data_dir, address, mode)
            if self._exists(replica.id):
                raise AlreadyExists("replica", name, f"in volume {volume!r}; replica names are not reused")
            vol = self._volume(volume)
            host = self._node(node)
            vol.add_replica(name, node, replica.mode)
            host.schedule_replica(replica.disk, booking(volume, name), vol.size)
            self.app.save(replica, vol, host)
            return replica

        return self._retry(f"replica {volume}/{name}", command)

    def place(self, volume: str, count: int | None = None,
              settings: SchedulingSettings | None = None) -> list[Replica]:
        """Schedule and add new replicas (default: as many as the volume lacks, not
        counting ERR ones). Sets the ``Scheduled`` condition either way; on failure
        raises ``SchedulingFailed`` after recording it. New replicas of a volume past
        ``creating`` start WO (they need a rebuild)."""
        def command() -> list[Replica]:
            vol = self._volume(volume)
            if vol.state in (VolumeState.DELETING, VolumeState.DELETED):
                raise InvalidTransition("volume", volume, vol.state, "place replicas for")
            working = sum(1 for m in vol.replicas.values() if m.mode != ReplicaMode.ERR)
            wanted = max(0, vol.number_of_replicas - working) if count is None else count
            try:
                placement, replicas, hosts = plan_replicas(self, vol, wanted, settings or SchedulingSettings())
            except SchedulingFailed as failure:  # raised before anything was changed
                vol.set_condition(ConditionType.SCHEDULED, False, failure.reason, failure.detail)
                self.app.save(vol)
                raise
            if replicas:
                vol.set_condition(ConditionType.SCHEDULED, True, "", describe(placement))
            self.app.save(vol, *replicas, *hosts)
            return replicas

        return self._retry(f"replicas of {volume!r}", command)

    def _both(self, volume: str, name: str, change: Callable[[Replica], object]) -> Replica:
        """Apply ``change`` to the replica and copy its resulting mode to the volume."""
        def command() -> Replica:
            replica = self.get(volume, name)
            vol = self._volume(volume)
            change(replica)
            if name in vol.replicas:
                vol.change_replica_mode(name, replica.mode)
            self.app.save(replica, vol)
            return replica

        return self._retry(f"replica {volume}/{name}", command)

    def set_mode(self, volume: str, name: str, mode: ReplicaMode | str) -> Replica:
        return self._both(volume, name, lambda r: r.set_mode(mode))

    def fail(self, volume: str, name: str, reason: str | Reason, at: datetime | None = None) -> Replica:
        """Record the replica failed (ERR); ``reason``: a ``Reason``, or a sentence (UNSPECIFIED)."""
        code = reason.code if isinstance(reason, Reason) else ReasonCode.UNSPECIFIED
        return self._both(volume, name, lambda r: r.fail(str(reason), at, code))

    def _replica_only(self, volume: str, name: str, change: Callable[[Replica], object]) -> Replica:
        return self._change(f"replica {volume}/{name}", lambda: self.get(volume, name), change)

    def stopped(self, volume: str, name: str, reason: Reason) -> Replica:
        return self._replica_only(volume, name, lambda r: r.note_stopped(reason))

    def restarted(self, volume: str, name: str, reason: Reason) -> Replica:
        return self._replica_only(volume, name, lambda r: r.note_restarted(reason))

    def adopted(self, volume: str, name: str, reason: Reason) -> Replica:
        return self._replica_only(volume, name, lambda r: r.note_adopted(reason))

    def trouble(self, volume: str, name: str, reason: Reason) -> Replica:
        """A repeating condition seen again: recorded only when it starts (``Replica.note_trouble``)."""
        return self._replica_only(volume, name, lambda r: r.note_trouble(reason))

    def trouble_ended(self, volume: str, name: str, count: int) -> Replica:
        return self._replica_only(volume, name, lambda r: r.end_trouble(count))

    def rebuild_started(self, volume: str, name: str, source: str = "") -> Replica:
        return self._both(volume, name, lambda r: r.start_rebuild(source))

    def rebuild_progress(self, volume: str, name: str, done: int, total: int) -> Replica:
        return self._replica_only(volume, name, lambda r: r.report_rebuild_progress(done, total))

    def rebuild_completed(self, volume: str, name: str, source: str = "", from_network: int = 0,
                          copied_locally: int = 0, already_present: int = 0) -> Replica:
        return self._both(volume, name, lambda r: r.complete_rebuild(source, from_network, copied_locally,
                                                                     already_present))

    def rebuild_failed(self, volume: str, name: str, reason: str | Reason, at: datetime | None = None) -> Replica:
        code = reason.code if isinstance(reason, Reason) else ReasonCode.UNSPECIFIED
        return self._both(volume, name, lambda r: r.fail_rebuild(str(reason), at, code))

    def set_address(self, volume: str, name: str, address: str) -> Replica:
        return self._replica_only(volume, name, lambda r: r.set_address(address))

    def remove(self, volume: str, name: str) -> Replica:
        """Remove a replica; the last one of a ``deleting`` volume finishes its deletion."""
        def command() -> Replica:
            replica = self.get(volume, name)
            vol = self._volume(volume)
            replica.remove()
            changed: list[object] = [replica, vol]
            if name in vol.replicas:
                vol.remove_replica(name)
            try:
                host = self._node(replica.node)
            except NodeNotFound:
                pass
            else:
                if replica.disk in host.disks:
                    host.release_replica(replica.disk, booking(volume, name))
                    changed.append(host)
            if vol.state == VolumeState.DELETING and not vol.replicas:
                vol.finish_delete()
                catalog = self._catalog(VOLUMES)
                catalog.drop(volume)
                changed.append(catalog)
            self.app.save(*changed)  # type: ignore[arg-type]
            return replica

        return self._retry(f"replica {volume}/{name}", command)
