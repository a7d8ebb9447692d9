"""The reconciler reads the in-memory model, reconciles what changed, and sweeps the rest.

A SIMULATED data plane (tests/fixtures/simulated_plane.py: supervisors and engine
clients in memory) and an in-memory store; 10 volumes on 3 nodes, sweeping 3 volumes
with no news per pass. Checked: passes bring every volume attached; a steady pass
loads no aggregate from the store; a volume with new events is reconciled on the next
pass; an engine lost behind the manager's back is restarted within one sweep round; a
restarted manager (a fresh reconciler on the same store and nodes) records nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from domain.application import ControlPlane
from domain.services import Nodes, Snapshots, Volumes
from domain.values import Disk, VolumeState
from manager.instances import engine_key
from manager.rebuilds import Rebuilds
from manager.reconciler import Reconciler
from tests.fixtures.nodes import managed
from tests.fixtures.simulated_plane import SimulatedPlane, SimulatedSupervisor

VOLUMES = [f"vol{i}" for i in range(10)]
SWEEP = 3
ROUND = -(-len(VOLUMES) // SWEEP)  # passes for the sweep to visit every volume


class Cluster:
    def __init__(self, home: Path) -> None:
        self.app = ControlPlane({"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.plane = SimulatedPlane()
        self.supervisors = {}
        for i in (1, 2, 3):
            Nodes(self.app).add(f"node{i}", f"127.0.1.{i}", disks=[Disk(str(home / f"node{i}" / "disk"), 1 << 40)])
            managed(self.app)
            self.supervisors[f"node{i}"] = SimulatedSupervisor(f"node{i}", home / f"node{i}", f"127.0.1.{i}",
                                                               self.plane)
        self.volumes = Volumes(self.app)
        for n, name in enumerate(VOLUMES):
            self.volumes.provision(name, 1 << 20, 3)
            self.volumes.start_attach(name, f"node{n % 3 + 1}")
        self.reconciler = self.manager()

    def manager(self) -> Reconciler:
        return Reconciler(self.app, dict(self.supervisors), Rebuilds(self.app),
                          engine_client=self.plane.engine_client(), sweep=SWEEP)

    def newest(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)  # type: ignore[attr-defined]

    def settle(self) -> None:
        """Run passes until one records nothing."""
        for _ in range(10):
            before = self.newest()
            self.reconciler.run_pass()
            if self.newest() == before:
                return
        raise AssertionError("the passes never settled")


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    cluster = Cluster(tmp_path)
    cluster.settle()
    return cluster


def test_passes_attach_every_volume(cluster: Cluster) -> None:
    assert all(cluster.volumes.get(name).state == VolumeState.ATTACHED for name in VOLUMES)
    assert sorted(e.volume for e in cluster.plane.engines.values()) == VOLUMES
    replicas = sum(len(s.table.records) for s in cluster.supervisors.values()) - len(VOLUMES)
    assert replicas == 3 * len(VOLUMES)


def test_a_steady_pass_loads_no_aggregate_from_the_store(cluster: Cluster, monkeypatch: Any) -> None:
    loads: list[object] = []
    real_get = cluster.app.repository.get

    def counting_get(*args: Any, **kwargs: Any) -> Any:
        loads.append(args)
        return real_get(*args, **kwargs)

    monkeypatch.setattr(cluster.app.repository, "get", counting_get)
    for _ in range(2 * ROUND):
        cluster.reconciler.run_pass()
    assert loads == []


def test_a_volume_with_news_is_reconciled_on_the_next_pass(cluster: Cluster) -> None:
    for name in VOLUMES:  # whichever volume the sweep visits next, every one has news
        Snapshots(cluster.app).request(name, "snap1")
    cluster.reconciler.run_pass()
    assert all("snap1" in Snapshots(cluster.app).chain(name).snapshots for name in VOLUMES)
    assert all([s.name for s in e.snapshots] == ["snap1"] for e in cluster.plane.engines.values())


def test_an_engine_lost_behind_the_managers_back_comes_back_within_one_round(cluster: Cluster) -> None:
    node = "node2"  # vol1 and vol4 have their engines there
    lost = cluster.supervisors[node].get(engine_key("vol4"))
    assert lost is not None
    cluster.supervisors[node].stop(lost.key)  # nothing is recorded: only a sweep can notice
    assert engine_key("vol4") not in cluster.supervisors[node].keys()
    for _ in range(ROUND):
        cluster.reconciler.run_pass()
    assert engine_key("vol4") in cluster.supervisors[node].keys()
    assert any(e.volume == "vol4" for e in cluster.plane.engines.values())


def test_a_restarted_manager_records_nothing_and_keeps_every_process(cluster: Cluster) -> None:
    before = cluster.newest()
    processes = {node: sup.keys() for node, sup in cluster.supervisors.items()}
    cluster.reconciler = cluster.manager()
    cluster.reconciler.run_pass()
    assert cluster.newest() == before
    assert {node: sup.keys() for node, sup in cluster.supervisors.items()} == processes
