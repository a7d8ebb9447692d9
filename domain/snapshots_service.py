"""``Snapshots``: application service for a volume's snapshot chain.

The chain aggregate is created with the volume's first snapshot. Commands record
what the engine did on the replicas (take, mark removed, purge outcome, revert,
measured size/checksum), retried on conflicts (``domain.service``). Re-exported by
``domain.services``; used by the manager, CSI/REST adapters and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from eventsourcing.application import AggregateNotFoundError

from domain.errors import InvalidTransition, VolumeNotFound
from domain.frontend_use import IDLE, FrontendUse
from domain.ids import chain_id, volume_id
from domain.service import Service
from domain.snapshots import SnapshotChain
from domain.values import SnapshotInfo, VolumeState
from domain.volume import Volume


class Snapshots(Service):
    def chain(self, volume: str) -> SnapshotChain:
        """The volume's chain (an empty, unsaved one before its first snapshot)."""
        try:
            chain: object = self.app.repository.get(chain_id(volume))
        except AggregateNotFoundError:
            self._load(Volume, volume_id(volume), lambda: VolumeNotFound(volume))
            return SnapshotChain(volume=volume)
        assert isinstance(chain, SnapshotChain)
        return chain

    def list(self, volume: str) -> list[SnapshotInfo]:
        """Snapshots in the order they were taken."""
        return list(self.chain(volume).snapshots.values())

    def get(self, volume: str, name: str) -> SnapshotInfo:
        return self.chain(volume).get(name)

    def _update(self, volume: str, change: Callable[[SnapshotChain], object]) -> SnapshotChain:
        return self._change(f"snapshot chain of {volume!r}", lambda: self.chain(volume), change)

    def take(self, volume: str, name: str, created: datetime | None = None, user_created: bool = True,
             labels: Mapping[str, str] | None = None, size: int = 0, checksum: str = "") -> SnapshotInfo:
        def change(chain: SnapshotChain) -> None:
            vol = self._load(Volume, volume_id(volume), lambda: VolumeNotFound(volume))
            if vol.state in (VolumeState.DELETING, VolumeState.DELETED):
                raise InvalidTransition("volume", volume, vol.state, "snapshot")
            chain.take(name, created, user_created, labels, size, checksum)

        return self._update(volume, change).get(name)

    def request(self, volume: str, name: str, labels: Mapping[str, str] | None = None) -> SnapshotChain:
        """Record that a snapshot should be taken (the manager takes it while the volume is attached)."""
        def change(chain: SnapshotChain) -> None:
            vol = self._load(Volume, volume_id(volume), lambda: VolumeNotFound(volume))
            if vol.state in (VolumeState.DELETING, VolumeState.DELETED):
                raise InvalidTransition("volume", volume, vol.state, "snapshot")
            chain.request(name, labels)

        return self._update(volume, change)

    def request_failed(self, volume: str, name: str, reason: str) -> SnapshotChain:
        return self._update(volume, lambda c: c.fail_request(name, reason))

    def request_revert(self, volume: str, name: str, use: FrontendUse = IDLE, force: bool = False) -> SnapshotChain:
        """Record a revert for the manager; ``VolumeInUse`` if ``use`` is busy and not ``force``d."""
        return self._update(volume, lambda c: c.request_revert(name, use, force))

    def refuse_revert(self, volume: str, reason: str) -> SnapshotChain:
        return self._update(volume, lambda c: c.refuse_revert(reason))

    def mark_removed(self, volume: str, name: str) -> SnapshotChain:
        return self._update(volume, lambda c: c.mark_removed(name))

    def purged(self, volume: str, removed: Iterable[str] = (),
               coalesced: Mapping[str, str] | None = None) -> SnapshotChain:
        removed = list(removed)
        return self._update(volume, lambda c: c.purged(removed, coalesced))

    def revert(self, volume: str, name: str) -> SnapshotChain:
        return self._update(volume, lambda c: c.revert(name))

    def measure(self, volume: str, name: str, size: int, checksum: str) -> SnapshotChain:
        return self._update(volume, lambda c: c.measure(name, size, checksum))
