"""``ControlPlane``: the one eventsourcing application holding every aggregate.

One application means one notification log, so a volume's history across its
Volume, Replica and SnapshotChain aggregates is globally ordered. Persistence comes
from ``env`` (or the process environment) exactly as for any eventsourcing
``Application``: in memory by default; ``domain.store`` maps store URLs to env.
Snapshots are taken every ``SNAPSHOT_INTERVAL`` events of an aggregate, so long
histories load from the newest snapshot plus at most that many events.

Built by ``domain.store.open_control_plane`` (adapters, manager) and by tests;
commands go through ``domain.services``. ``health`` says whether the store answers
(``domain.store_health``; set by ``open_control_plane``, never down otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, Recording, Transcoder

from domain.catalog import Catalog
from domain.causation import CausationMapper, saved
from domain.jobs import RecurringJob
from domain.manager_runs import ManagerRun
from domain.node import Node
from domain.replica import Replica
from domain.snapshots import SnapshotChain
from domain.store_health import StoreHealth
from domain.transcoding import DomainTranscoder
from domain.volume import Volume

SNAPSHOT_INTERVAL = 50


class ControlPlane(Application):
    name = "ControlPlane"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Volume: SNAPSHOT_INTERVAL,
        Node: SNAPSHOT_INTERVAL,
        Replica: SNAPSHOT_INTERVAL,
        SnapshotChain: SNAPSHOT_INTERVAL,
        Catalog: 2 * SNAPSHOT_INTERVAL,
        RecurringJob: SNAPSHOT_INTERVAL,
        ManagerRun: SNAPSHOT_INTERVAL,
    }

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.saves = 0  # saves through this object: a reader of the log knows when it wrote itself
        self.health = StoreHealth(self.name)

    def close(self) -> None:
        self.health.close()
        super().close()

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        self.saves += 1
        saved([r.notification.id for r in recordings])  # a reaction names what it reacts to

    def construct_mapper(self) -> Mapper[UUID]:
        """Events name who acted and what caused it (``domain.causation``)."""
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=CausationMapper)

    def construct_transcoder(self) -> Transcoder:
        return DomainTranscoder()
