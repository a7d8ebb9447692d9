"""One manager per node per store, the nodes' Ready condition and disk checks, with real managers.

A second ``pronghorn manager`` for a node that a running manager holds exits 4 naming
the holder, on SQLite (a lock file beside the store) and on PostgreSQL (an advisory
lock). On PostgreSQL with one manager per node, a node whose manager dies becomes
NotReady (an event the leader records) and takes no new replica until its manager is
back; a manager that is alive but silent is marked NotReady when its heartbeat lapses.
A disk registered through the CLI takes replicas only once its node's manager has
checked it. ``pronghorn demo`` never writes into a store a manager uses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.ids import node_id
from domain.services import Replicas
from domain.store import open_control_plane
from tests.conftest import PRONGHORN
from tests.fixtures.local_cluster import LocalCluster, cluster_factory, wait_for  # noqa: F401
from tests.integration.test_manager_postgres import NodeManager, node_managers

NODE_TIMEOUT = "3"  # seconds without a heartbeat before the leader marks a node NotReady


def second_manager(store: str, node: str, home: Path) -> subprocess.CompletedProcess[str]:
    home.mkdir(exist_ok=True)
    return subprocess.run([PRONGHORN, "manager", "--store", store, "--node", node, "--home", str(home),
                           "--address", f"127.0.1.{node[-1]}"], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def nodes(manager: LocalCluster) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in json.loads(manager.cli("node", "ls", "--json").stdout)}


def node_events(store: str, node: str) -> list[Any]:
    with open_control_plane(store) as app:
        return list(app.events.get(node_id(node)))


@pytest.fixture
def pg_managers(postgres_url: str, tmp_path: Path) -> Iterator[list[NodeManager]]:
    with node_managers(postgres_url, tmp_path, ("--node-timeout", NODE_TIMEOUT)) as started:
        yield started


def test_a_second_manager_of_a_node_on_a_sqlite_store_is_refused(cluster_factory, tmp_path: Path) -> None:  # noqa: F811
    cluster = cluster_factory(nodes=2)
    assert cluster.proc is not None
    store = f"sqlite://{cluster.home / 'events.sqlite'}"
    refused = second_manager(store, "node2", tmp_path / "elsewhere")
    assert refused.returncode == 4, refused.stderr
    assert refused.stderr.count("\n") == 1
    assert f"node node2 is already run by another manager (pid {cluster.proc.pid}" in refused.stderr
    assert f"home {cluster.home})" in refused.stderr
    assert not (tmp_path / "elsewhere" / "nodes" / "node2").exists()  # refused before touching anything
    again = subprocess.run([PRONGHORN, "up", "--home", str(cluster.home), "--nodes", "2"], capture_output=True,
                           text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert again.returncode == 4, again.stderr
    assert f"already running on {cluster.home} (pid {cluster.proc.pid} on host" in again.stderr
    assert {n: d["ready"] for n, d in nodes(cluster).items()} == {"node1": True, "node2": True}


@pytest.mark.postgres
def test_a_dead_managers_node_turns_not_ready_and_takes_no_replica(pg_managers: list[NodeManager],
                                                                   postgres_url: str, tmp_path: Path) -> None:
    one, two = pg_managers
    wait_for("both nodes Ready", lambda: [d["ready"] for d in nodes(one).values()] == [True, True])
    refused = second_manager(postgres_url, "node2", tmp_path / "elsewhere")
    assert refused.returncode == 4, refused.stderr
    assert two.proc is not None and f"(pid {two.proc.pid} on host" in refused.stderr
    demo = subprocess.run([PRONGHORN, "demo", "--store", postgres_url], capture_output=True, text=True, timeout=120)
    assert demo.returncode == 4 and "in use by running managers: node1 (pid" in demo.stderr, demo.stderr

    two.kill_manager(signal.SIGKILL)  # no chance to say goodbye: the leader sees its lease free
    wait_for("node2 NotReady", lambda: not nodes(one)["node2"]["ready"])
    assert nodes(one)["node2"]["ready_reason"] == "ManagerStopped"
    declared = [e for e in node_events(postgres_url, "node2") if type(e).__name__ == "NotReadyDeclared"]
    assert len(declared) == 1 and "the manager of node2 stopped" in declared[0].message
    placed = one.cli("volume", "create", "v2", "--size", "16Mi", "--replicas", "2", check=False)
    assert placed.returncode == 6, placed.stderr
    assert "node2 (the manager of node2 stopped" in placed.stderr
    one.cli("volume", "create", "v1", "--size", "16Mi", "--replicas", "1")
    assert [r["node"] for r in one.get("v1")["replicas"]] == ["node1"]

    two.start()  # back: it marks its node Ready at start-up
    wait_for("node2 Ready again", lambda: nodes(one)["node2"]["ready"])
    one.cli("volume", "create", "v2", "--size", "16Mi", "--replicas", "2")
    assert sorted(r["node"] for r in one.get("v2")["replicas"]) == ["node1", "node2"]


@pytest.mark.postgres
def test_a_silent_manager_is_marked_not_ready_when_its_heartbeat_lapses(
        pg_managers: list[NodeManager], postgres_url: str) -> None:
    one = pg_managers[0]
    wait_for("both nodes Ready", lambda: [d["ready"] for d in nodes(one).values()] == [True, True])
    leader = wait_for("a leader", lambda: next((m for m in pg_managers if "cluster's leader" in m.log_path.read_text()),
                                               None))
    silent = next(m for m in pg_managers if m is not leader)
    assert silent.proc is not None
    os.killpg(silent.proc.pid, signal.SIGSTOP)  # alive, holding its lease, but heartbeating no more
    try:
        wait_for(f"{silent.node} NotReady", lambda: not nodes(leader)[silent.node]["ready"])
        status = nodes(leader)[silent.node]
        assert status["ready_reason"] == "HeartbeatLapsed"
        assert f"no heartbeat from the manager of {silent.node} for" in status["ready_message"]
    finally:
        os.killpg(silent.proc.pid, signal.SIGCONT)
    wait_for(f"{silent.node} Ready again", lambda: nodes(leader)[silent.node]["ready"])  # it heartbeats again


def test_a_disk_registered_by_cli_takes_replicas_only_once_its_managers_check_passed(
        cluster_factory, tmp_path: Path) -> None:  # noqa: F811
    cluster = cluster_factory(nodes=1)
    good, missing = tmp_path / "good", tmp_path / "missing"
    good.mkdir()
    cluster.cli("node", "add", "node2", "--address", "127.0.1.2", "--disk", f"{missing}:10Gi",
                "--disk", f"{good}:10Gi")
    early = cluster.cli("volume", "create", "early", "--size", "16Mi", "--replicas", "2", check=False)
    assert early.returncode == 6, early.stderr  # node2 has no manager yet
    store = f"sqlite://{cluster.home / 'events.sqlite'}"
    node2 = LocalCluster(tmp_path / "home2", nodes=1)
    node2.home.mkdir()
    args = [PRONGHORN, "manager", "--store", store, "--node", "node2", "--address", "127.0.1.2",
            "--home", str(node2.home), "--interval", "0.5"]
    with open(node2.log_path, "wb") as log:
        node2.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
    try:
        wait_for("node2 Ready", lambda: nodes(cluster)["node2"]["ready"])

        def checked() -> dict[str, Any]:
            found = {d["path"]: d for d in nodes(cluster)["node2"]["disks"]}
            return found if all(d["confirmed"] or d["problem"] for d in found.values()) else {}

        disks = wait_for("both disks checked", checked)
        assert disks[str(good)]["confirmed"] and not disks[str(good)]["problem"]
        assert not disks[str(missing)]["confirmed"]
        assert disks[str(missing)]["problem"] == f"{missing} does not exist on this node"
        names = [type(e).__name__ for e in node_events(store, "node2")]
        assert names.count("DiskConfirmed") == 1 and names.count("DiskCheckFailed") == 1
        cluster.cli("volume", "create", "late", "--size", "16Mi", "--replicas", "2")
        on_node2 = next(r for r in cluster.get("late")["replicas"] if r["node"] == "node2")
        with open_control_plane(store) as app:
            assert Replicas(app).get("late", on_node2["name"]).disk == str(good)
    finally:
        node2.cleanup()


def test_demo_touches_no_live_store_and_refuses_one_a_manager_uses(cluster_factory, tmp_path: Path) -> None:  # noqa: F811
    cluster = cluster_factory(nodes=1)
    assert cluster.proc is not None
    env = {**os.environ, "PRONGHORN_HOME": str(cluster.home), "TMPDIR": str(tmp_path)}  # as after `export`
    env.pop("PRONGHORN_STORE", None)
    demo = subprocess.run([PRONGHORN, "demo"], env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    throwaway = next(tmp_path.glob("pronghorn-demo-*"))
    assert f"a throwaway event store sqlite://{throwaway}/events.sqlite" in demo.stdout
    for where in (["--home", str(cluster.home)], ["--store", f"sqlite://{cluster.home}/events.sqlite"]):
        refused = subprocess.run([PRONGHORN, "demo", *where], env=env, capture_output=True, text=True, timeout=300)
        assert refused.returncode == 4, refused.stderr
        assert refused.stderr.count("\n") == 1 and refused.stdout == ""
        assert f"in use by running managers: node1 (pid {cluster.proc.pid} on host" in refused.stderr
    assert list(nodes(cluster)) == ["node1"]  # no demo node, no demo volume in the live store
    assert json.loads(cluster.cli("volume", "ls", "--json").stdout) == []


@pytest.mark.postgres
def test_a_replica_never_started_on_a_node_whose_manager_is_gone_is_no_rw_replica(
        pg_managers: list[NodeManager]) -> None:
    one, two = pg_managers
    wait_for("both nodes Ready", lambda: [d["ready"] for d in nodes(one).values()] == [True, True])
    one.cli("volume", "create", "v", "--size", "16Mi", "--replicas", "2")  # one replica on each node
    two.kill_manager(signal.SIGKILL)  # before node2's replica process was ever started
    wait_for("node2 NotReady", lambda: not nodes(one)["node2"]["ready"])
    one.cli("volume", "attach", "v", "--node", "node1", "--wait", "--timeout", "60")
    doc = one.get("v")
    by_node = {r["node"]: r for r in doc["replicas"]}
    assert (by_node["node1"]["mode"], by_node["node2"]["mode"], doc["robustness"]) == ("RW", "ERR", "degraded")
    assert by_node["node2"]["last_failure"].startswith("not started: node node2 is not Ready (the manager of node2")

    two.start()  # its manager back: the replica starts and is rebuilt
    wait_for("node2's replica rebuilt", lambda: (d := one.get("v"))["robustness"] == "healthy"
             and all(r["mode"] == "RW" for r in d["replicas"]))


@pytest.mark.postgres
def test_a_hung_leader_is_deposed_and_its_node_marked_not_ready(pg_managers: list[NodeManager]) -> None:
    wait_for("both nodes Ready", lambda: [d["ready"] for d in nodes(pg_managers[0]).values()] == [True, True])
    leader = wait_for("a leader", lambda: next((m for m in pg_managers if "cluster's leader" in m.log_path.read_text()),
                                               None))
    other = next(m for m in pg_managers if m is not leader)
    assert leader.proc is not None
    os.killpg(leader.proc.pid, signal.SIGSTOP)  # holds the leadership lock, decides nothing
    try:
        wait_for("the other manager to lead", lambda: "cluster's leader" in other.log_path.read_text())
        wait_for(f"{leader.node} NotReady", lambda: not nodes(other)[leader.node]["ready"])
        assert nodes(other)[leader.node]["ready_reason"] == "HeartbeatLapsed"
        assert f"deposed the leader: no heartbeat from the manager of {leader.node}" in other.log_path.read_text()
    finally:
        os.killpg(leader.proc.pid, signal.SIGCONT)
    wait_for(f"{leader.node} Ready again", lambda: nodes(other)[leader.node]["ready"])
