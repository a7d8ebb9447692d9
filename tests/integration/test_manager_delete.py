"""Deleting a volume through real managers: the managers finish it.

``volume delete`` records ``deleting`` only; the manager stops the volume's replica
processes, removes their directories, records each replica removed and, with the last
one, the volume ``Deleted``. A manager SIGKILLed mid-delete and restarted completes
it: nothing left in the process table or on the disks, no replica removed twice. With
one manager per node (PostgreSQL), each removes its own node's replicas: a node whose
manager is down holds the deletion until it is back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.local_cluster import LocalCluster, local_cluster, wait_for  # noqa: F401
from tests.integration.test_manager_postgres import NodeManager, managers  # noqa: F401

MiB = 1 << 20


def replica_dirs(cluster: LocalCluster, volume: str) -> list[Path]:
    return sorted(cluster.home.glob(f"nodes/*/disk/replicas/{volume}-*"))


def events(cluster: LocalCluster, volume: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(cluster.cli("events", volume, "--json").stdout)
    return entries


def attached_with_data(cluster: LocalCluster, volume: str, tmp_path: Path) -> None:
    cluster.cli("volume", "create", volume, "--size", "16Mi", "--replicas", "3")
    cluster.cli("volume", "attach", volume, "--node", "node1", "--wait")
    data = tmp_path / f"{volume}.bin"
    data.write_bytes(os.urandom(16 * MiB))
    subprocess.run(["nbdcopy", str(data), cluster.get(volume)["endpoint"]], check=True, timeout=120)


def assert_all_gone(cluster: LocalCluster, volume: str) -> None:
    doc = cluster.get(volume)
    assert doc["state"] == "deleted" and doc["replicas"] == [], doc
    assert replica_dirs(cluster, volume) == []
    assert cluster.server_processes() == {}
    assert cluster.all_instances() == {}
    assert volume not in [v["name"] for v in json.loads(cluster.cli("volume", "ls", "--json").stdout)]
    history = [(e["aggregate"], e["type"]) for e in events(cluster, volume)]
    assert history.count(("Replica", "Removed")) == 3, history  # each replica removed once
    assert history.count(("Volume", "Deleted")) == 1 and history[-1] == ("Volume", "Deleted"), history
    started = history.index(("Volume", "DeletionStarted"))
    assert all(i > started for i, h in enumerate(history) if h == ("Replica", "Removed")), history


def test_delete_wait_stops_the_replicas_and_removes_their_data(local_cluster: LocalCluster,  # noqa: F811
                                                               tmp_path: Path) -> None:
    cluster = local_cluster
    attached_with_data(cluster, "del1", tmp_path)
    refused = cluster.cli("volume", "delete", "del1", check=False)
    assert refused.returncode == 5 and "detach it first" in refused.stderr, refused.stderr
    assert cluster.get("del1")["state"] == "attached"

    cluster.cli("volume", "detach", "del1", "--wait")
    assert len(replica_dirs(cluster, "del1")) == 3
    done = cluster.cli("volume", "delete", "del1", "--wait", "--json")
    assert json.loads(done.stdout)["state"] == "deleted"
    assert_all_gone(cluster, "del1")


def test_manager_killed_mid_delete_then_restarted(local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    attached_with_data(cluster, "del2", tmp_path)
    cluster.cli("volume", "detach", "del2", "--wait")

    # Requested while no manager runs: recorded as started, the data untouched.
    cluster.kill_manager(signal.SIGKILL)
    deleting = json.loads(cluster.cli("volume", "delete", "del2", "--json").stdout)
    assert deleting["state"] == "deleting" and len(deleting["replicas"]) == 3
    assert len(replica_dirs(cluster, "del2")) == 3

    # Killed again as soon as it has started on it (whatever it managed to do by then).
    cluster.start()
    wait_for("the manager to start removing",
             lambda: len(replica_dirs(cluster, "del2")) < 3 or cluster.get("del2")["state"] == "deleted",
             timeout=60)
    cluster.kill_manager(signal.SIGKILL)
    assert cluster.get("del2")["state"] in ("deleting", "deleted")

    cluster.start()
    cluster.cli("volume", "delete", "del2", "--wait")  # already deleting: just waits
    assert_all_gone(cluster, "del2")


@pytest.mark.postgres
def test_each_nodes_manager_removes_its_own_replicas(managers: list[NodeManager]) -> None:  # noqa: F811
    one, two = managers
    wait_for("both nodes to register", lambda: len(json.loads(one.cli("node", "ls", "--json").stdout)) == 2)
    one.cli("volume", "create", "pgdel", "--size", "16Mi", "--replicas", "2")
    one.cli("volume", "attach", "pgdel", "--node", "node1", "--wait")
    one.cli("volume", "detach", "pgdel", "--wait")
    assert len(replica_dirs(one, "pgdel")) == 1 and len(replica_dirs(two, "pgdel")) == 1

    two.kill_manager(signal.SIGKILL)
    one.cli("volume", "delete", "pgdel")
    wait_for("node1's replica to be removed", lambda: len(one.get("pgdel")["replicas"]) == 1)
    assert replica_dirs(one, "pgdel") == [] and len(replica_dirs(two, "pgdel")) == 1
    assert one.get("pgdel")["state"] == "deleting"  # node2's replica waits for node2's manager

    two.start()
    two.cli("volume", "delete", "pgdel", "--wait")
    assert one.get("pgdel")["state"] == "deleted"
    assert replica_dirs(one, "pgdel") == replica_dirs(two, "pgdel") == []
