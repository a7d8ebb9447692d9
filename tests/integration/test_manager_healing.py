"""The manager heals a volume by itself: a SIGKILLed replica goes ERR, the volume degraded,
then the replica is restarted on its old address, rebuilt (a delta) and the volume is
healthy again with byte-identical replicas — the test only waits. Real ``pronghorn up``
with three nodes, real replica and engine processes, nbdcopy through the NBD endpoint.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
from pathlib import Path

from domain.store import open_control_plane
from domain.values import Robustness
from projections.history import read_history
from replica.client import DataClient
from tests.fixtures.local_cluster import LocalCluster, local_cluster, wait_for  # noqa: F401

MiB = 1 << 20
SIZE = 32 * MiB


def replica_digest(data_address: str, size: int = SIZE) -> str:
    digest = hashlib.sha256()
    with DataClient(data_address) as client:
        for offset in range(0, size, 4 * MiB):
            digest.update(client.read(offset, 4 * MiB))
    return digest.hexdigest()


def healthy(cluster: LocalCluster, volume: str) -> bool:
    doc = cluster.get(volume)
    return doc["robustness"] == "healthy" and all(r["mode"] == "RW" for r in doc["replicas"])


def robustness_seen(cluster: LocalCluster, volume: str) -> set[Robustness]:
    """Every robustness the volume's status had over its whole history (replayed)."""
    with open_control_plane(f"sqlite://{cluster.home / 'events.sqlite'}") as app:
        history = read_history(app.recorder, app.mapper, volume)
        return {history.status_at(i).robustness for i in range(1, len(history) + 1)}


def test_killed_replica_is_failed_then_rebuilt_identical(local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "vol1", "--size", "32Mi", "--replicas", "3")
    cluster.cli("volume", "attach", "vol1", "--node", "node1", "--wait")
    doc = cluster.get("vol1")
    assert doc["state"] == "attached" and doc["endpoint"].startswith("nbd://127.0.1.1:")
    assert sorted(r["node"] for r in doc["replicas"]) == ["node1", "node2", "node3"]
    assert all(r["address"] for r in doc["replicas"])

    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(12 * MiB))
    subprocess.run(["nbdcopy", str(data), doc["endpoint"]], check=True, timeout=120)

    victim = cluster.instances("node2")["replica:vol1/r2"]
    os.kill(victim["pid"], signal.SIGKILL)
    wait_for("the killed replica to be restarted",
             lambda: cluster.instances("node2").get("replica:vol1/r2", {}).get("pid") not in (None, victim["pid"]))
    wait_for("the volume to be healthy again", lambda: healthy(cluster, "vol1"))

    doc = cluster.get("vol1")
    r2 = next(r for r in doc["replicas"] if r["name"] == "r2")
    assert r2["failures"] == 1 and r2["rebuild"] == "completed"
    assert r2["address"] == victim["control"]  # reused on its old address (delta rebuild)
    assert Robustness.DEGRADED in robustness_seen(cluster, "vol1")

    digests = {key: replica_digest(inst["service"]) for key, inst in cluster.all_instances().items()
               if key.startswith("replica:")}
    assert len(digests) == 3 and len(set(digests.values())) == 1, digests
    copy = tmp_path / "back.bin"
    subprocess.run(["nbdcopy", doc["endpoint"], str(copy)], check=True, timeout=120)
    assert copy.read_bytes()[: 12 * MiB] == data.read_bytes()
    assert len(cluster.server_processes()) == 4  # three replicas and one engine, no duplicate


def test_replica_that_stops_answering_is_failed_restarted_and_rebuilt(
        local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "hung", "--size", "8Mi", "--replicas", "2")
    cluster.cli("volume", "attach", "hung", "--node", "node1", "--wait")
    doc = cluster.get("hung")
    victim_node = next(r["node"] for r in doc["replicas"] if r["name"] == "r2")
    victim = cluster.instances(victim_node)["replica:hung/r2"]
    os.kill(victim["pid"], signal.SIGSTOP)  # alive, but silent
    try:
        data = tmp_path / "data.bin"
        data.write_bytes(os.urandom(8 * MiB))
        # the engine times the silent replica out (ERR) and the write completes on the other one
        subprocess.run(["nbdcopy", str(data), doc["endpoint"]], check=True, timeout=120)
        wait_for("the silent replica to be replaced by a fresh process and rebuilt",
                 lambda: healthy(cluster, "hung")
                 and cluster.instances(victim_node).get("replica:hung/r2", {}).get("pid") not in (None, victim["pid"]))
    finally:
        try:
            os.kill(victim["pid"], signal.SIGCONT)
        except ProcessLookupError:
            pass
    r2 = next(r for r in cluster.get("hung")["replicas"] if r["name"] == "r2")
    assert r2["failures"] >= 1 and r2["rebuild"] == "completed"
    digests = {replica_digest(inst["service"], 8 * MiB) for inst in cluster.all_instances().values()
               if inst["kind"] == "replica"}
    assert len(digests) == 1


def test_engine_killed_while_attached_comes_back_on_the_same_endpoint(
        local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "eng", "--size", "8Mi", "--replicas", "2")
    cluster.cli("volume", "attach", "eng", "--node", "node3", "--wait")
    endpoint = cluster.get("eng")["endpoint"]
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(8 * MiB))
    subprocess.run(["nbdcopy", str(data), endpoint], check=True, timeout=120)
    engine = cluster.instances("node3")["engine:eng"]
    os.killpg(engine["pid"], signal.SIGKILL)
    wait_for("the engine to be restarted", lambda: cluster.instances("node3").get("engine:eng", {}).get("pid")
             not in (None, 0, engine["pid"]))
    doc = cluster.get("eng")
    assert doc["state"] == "attached" and doc["endpoint"] == endpoint
    back = tmp_path / "back.bin"
    wait_for("the endpoint to serve again", lambda: subprocess.run(
        ["nbdcopy", endpoint, str(back)], capture_output=True, timeout=120).returncode == 0)
    assert back.read_bytes() == data.read_bytes()
    assert len(cluster.server_processes()) == 3
