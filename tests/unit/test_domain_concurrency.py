"""Concurrent provisioning from two ControlPlane instances on one SQLite file.

Six writers race to provision volumes whose replicas only fit twice over on the
cluster's disks. Optimistic concurrency on the Node aggregates must let exactly two
succeed and never book a disk beyond its capacity rules.
"""

from __future__ import annotations

import threading
from pathlib import Path

from domain.application import ControlPlane
from domain.errors import SchedulingFailed
from domain.services import Nodes, Volumes
from domain.values import Disk
from tests.fixtures.nodes import managed

GIB = 1 << 30


def test_racing_provisions_on_sqlite_never_overbook(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "events.sqlite"),
           "SQLITE_LOCK_TIMEOUT": "30"}
    first, second = ControlPlane(env), ControlPlane(env)
    for i in (1, 2, 3):
        # 12 GiB disks: two 4 GiB replicas leave 4 GiB (>= 25%), a third would leave 0.
        Nodes(first).add(f"n{i}", f"127.0.0.{i}", disks=[Disk("/d", 12 * GIB)])
        managed(first)
    outcomes: dict[str, str] = {}

    def provision(app: ControlPlane, name: str) -> None:
        try:
            Volumes(app).provision(name, 4 * GIB, 3)
            outcomes[name] = "ok"
        except SchedulingFailed as failure:
            outcomes[name] = failure.reason

    threads = [threading.Thread(target=provision, args=((first, second)[i % 2], f"v{i}")) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()).count("ok") == 2, outcomes
    assert set(outcomes.values()) <= {"ok", "DiskPressure"}, outcomes
    fresh = ControlPlane(env)
    assert all(node.scheduled_bytes("/d") == 8 * GIB for node in Nodes(fresh).list())
    assert len(Volumes(fresh).names()) == 2
