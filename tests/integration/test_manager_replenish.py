"""Replicas that do not come back are replaced elsewhere; stale ones removed; placement
failures become a ``Scheduled=False`` condition while the volume keeps serving.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from domain.services import Volumes
from domain.store import open_control_plane
from tests.fixtures.local_cluster import LocalCluster, cluster_factory, local_cluster, wait_for  # noqa: F401
from tests.integration.test_manager_healing import healthy, replica_digest

MiB = 1 << 20


def break_replica(cluster: LocalCluster, replica: dict[str, str], volume: str) -> Path:
    """Kill the replica's process and make its directory unopenable (a disk gone bad)."""
    instance = cluster.instances(replica["node"])[f"replica:{volume}/{replica['name']}"]
    os.killpg(instance["pid"], signal.SIGKILL)
    broken = Path(replica["data_dir"])
    for child in broken.iterdir():
        child.unlink()
    (broken / "volume.meta").write_text("not json")
    return broken


def attach_and_write(cluster: LocalCluster, volume: str, node: str, tmp_path: Path) -> None:
    cluster.cli("volume", "attach", volume, "--node", node, "--wait")
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(16 * MiB))
    subprocess.run(["nbdcopy", str(data), cluster.get(volume)["endpoint"]], check=True, timeout=120)


def identical_replicas(cluster: LocalCluster) -> dict[str, str]:
    digests = {key: replica_digest(inst["service"], 16 * MiB) for key, inst in cluster.all_instances().items()
               if key.startswith("replica:")}
    assert len(set(digests.values())) == 1, digests
    return digests


def test_replica_that_stays_broken_is_replaced_on_another_node(
        cluster_factory: Callable[..., LocalCluster], tmp_path: Path) -> None:  # noqa: F811
    cluster = cluster_factory(4, ("--replica-replenishment-wait", "1"))
    cluster.cli("volume", "create", "rep", "--size", "16Mi", "--replicas", "3")
    replicas = {r["name"]: r for r in cluster.get("rep")["replicas"]}
    attach_and_write(cluster, "rep", replicas["r1"]["node"], tmp_path)
    break_replica(cluster, replicas["r2"], "rep")

    def replaced() -> bool:
        doc = cluster.get("rep")
        return doc["robustness"] == "healthy" and any(r["name"] == "r4" and r["mode"] == "RW"
                                                      for r in doc["replicas"])

    wait_for("a new replica to be placed and rebuilt", replaced)
    doc = {r["name"]: r for r in cluster.get("rep")["replicas"]}
    assert doc["r2"]["mode"] == "ERR" and doc["r2"]["last_failure"]  # kept until staleReplicaTimeout
    assert doc["r4"]["node"] not in {replicas[n]["node"] for n in ("r1", "r2", "r3")}  # hard anti-affinity
    assert sorted(identical_replicas(cluster)) == ["replica:rep/r1", "replica:rep/r3", "replica:rep/r4"]


def test_stale_failed_replica_is_removed_with_its_directory(
        cluster_factory: Callable[..., LocalCluster], tmp_path: Path) -> None:  # noqa: F811
    cluster = cluster_factory(3)  # default replenishment wait (600 s): only the stale timeout acts
    cluster.cli("volume", "create", "stale", "--size", "16Mi", "--replicas", "3", "--stale-replica-timeout", "2")
    replicas = {r["name"]: r for r in cluster.get("stale")["replicas"]}
    attach_and_write(cluster, "stale", replicas["r1"]["node"], tmp_path)
    broken = break_replica(cluster, replicas["r3"], "stale")

    wait_for("the failed replica to be removed", lambda: "r3" not in
             [r["name"] for r in cluster.get("stale")["replicas"]])
    wait_for("its directory to be removed", lambda: not broken.exists())
    wait_for("a replacement to be placed and rebuilt", lambda: healthy(cluster, "stale"))
    assert len(identical_replicas(cluster)) == 3


def test_scheduling_failure_is_a_condition_and_the_volume_keeps_serving(
        local_cluster: LocalCluster) -> None:  # noqa: F811
    cluster = local_cluster
    refused = cluster.cli("volume", "create", "big", "--size", "8Mi", "--replicas", "4", check=False)
    assert refused.returncode == 6 and "InsufficientNodes" in refused.stderr + refused.stdout

    cluster.cli("volume", "create", "grow", "--size", "8Mi", "--replicas", "3")
    cluster.cli("volume", "attach", "grow", "--node", "node1", "--wait")
    with open_control_plane(f"sqlite://{cluster.home / 'events.sqlite'}") as app:
        Volumes(app).set_number_of_replicas("grow", 4)  # one more than there are nodes
    wait_for("the Scheduled condition to turn false",
             lambda: any(c["type"] == "Scheduled" and not c["status"] for c in cluster.get("grow")["conditions"]))
    doc = cluster.get("grow")
    condition = next(c for c in doc["conditions"] if c["type"] == "Scheduled")
    assert condition["reason"] == "InsufficientNodes" and condition["message"]
    assert doc["state"] == "attached" and doc["robustness"] == "degraded" and len(doc["replicas"]) == 3
    size = subprocess.run(["nbdinfo", "--size", doc["endpoint"]], capture_output=True, text=True, timeout=60)
    assert size.stdout.strip() == str(8 * MiB)
