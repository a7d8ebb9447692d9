"""The manager SIGKILLed mid-operation and restarted: the operation completes, and the
process table holds exactly one process per instance (nothing orphaned, nothing doubled).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

from domain.services import Replicas
from domain.store import open_control_plane
from domain.values import RebuildState
from tests.fixtures.local_cluster import LocalCluster, local_cluster, wait_for  # noqa: F401
from tests.integration.test_manager_healing import healthy, replica_digest

MiB = 1 << 20


def assert_one_process_per_instance(cluster: LocalCluster, expected: int) -> None:
    processes = cluster.server_processes()
    instances = cluster.all_instances()
    assert len(instances) == expected, instances
    assert sorted(processes) == sorted(inst["pid"] for inst in instances.values()), (processes, instances)
    # no two processes serve the same replica directory or engine volume
    identities = Counter(next(a for a in argv if a.startswith(str(cluster.home))) for argv in processes.values())
    assert all(count == 1 for count in identities.values()), identities


def test_manager_killed_mid_attach_then_restarted(local_cluster: LocalCluster) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "crash1", "--size", "16Mi", "--replicas", "3")
    cluster.cli("volume", "attach", "crash1", "--node", "node2")
    wait_for("the manager to start spawning", lambda: cluster.all_instances())
    cluster.kill_manager(signal.SIGKILL)
    assert cluster.get("crash1")["state"] in ("attaching", "attached")

    cluster.start()
    cluster.cli("volume", "attach", "crash1", "--node", "node2", "--wait")  # same intent: a no-op, then waits
    doc = cluster.get("crash1")
    assert doc["state"] == "attached" and doc["endpoint"].startswith("nbd://127.0.1.2:")
    assert_one_process_per_instance(cluster, 4)
    done = subprocess.run(["nbdinfo", "--size", doc["endpoint"]], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == str(16 * MiB)


def test_manager_killed_mid_rebuild_then_restarted(local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    size = 64 * MiB
    cluster.cli("volume", "create", "crash2", "--size", "64Mi", "--replicas", "3")
    cluster.cli("volume", "attach", "crash2", "--node", "node1", "--wait")
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(size))
    subprocess.run(["nbdcopy", str(data), cluster.get("crash2")["endpoint"]], check=True, timeout=120)

    # With the manager down, replica r3 dies and loses its disk: the next manager must rebuild it in full.
    victim = cluster.lose_replica("crash2", "r3", "node3")
    with open_control_plane(f"sqlite://{cluster.home / 'events.sqlite'}") as app:
        wait_for("the rebuild to start",
                 lambda: Replicas(app).get("crash2", "r3").rebuild != RebuildState.NONE)
    cluster.kill_manager(signal.SIGKILL)  # mid-rebuild (or just after it)

    cluster.start()
    wait_for("the volume to be healthy again", lambda: healthy(cluster, "crash2"))
    assert_one_process_per_instance(cluster, 4)
    r3 = next(r for r in cluster.get("crash2")["replicas"] if r["name"] == "r3")
    assert r3["failures"] >= 1 and r3["address"] == victim["control"]  # its death recorded; same address
    digests = {key: replica_digest(inst["service"], size) for key, inst in cluster.all_instances().items()
               if key.startswith("replica:")}
    assert len(set(digests.values())) == 1, digests
    back = tmp_path / "back.bin"
    subprocess.run(["nbdcopy", cluster.get("crash2")["endpoint"], str(back)], check=True, timeout=120)
    assert back.read_bytes() == data.read_bytes()
