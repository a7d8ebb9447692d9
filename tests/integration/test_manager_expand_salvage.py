"""Expansion online (engine Expand while attached) and offline (replicas grown before the
engine starts); auto-salvage: every replica failed -> faulted -> the manager restarts the
engine on all of them, the freshest consistent ones serve again with their data.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.fixtures.local_cluster import LocalCluster, local_cluster, wait_for  # noqa: F401
from tests.integration.test_manager_healing import healthy

MiB = 1 << 20


def nbd_size(endpoint: str) -> int:
    done = subprocess.run(["nbdinfo", "--size", endpoint], capture_output=True, text=True, timeout=60, check=True)
    return int(done.stdout)


def test_expand_online_then_offline(local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "ex", "--size", "8Mi", "--replicas", "2")
    cluster.cli("volume", "attach", "ex", "--node", "node1", "--wait")
    endpoint = cluster.get("ex")["endpoint"]
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(8 * MiB))
    subprocess.run(["nbdcopy", str(data), endpoint], check=True, timeout=120)

    cluster.cli("volume", "expand", "ex", "--size", "16Mi")
    wait_for("the engine to grow online", lambda: nbd_size(endpoint) == 16 * MiB)

    cluster.cli("volume", "detach", "ex", "--wait")
    cluster.cli("volume", "expand", "ex", "--size", "24Mi")
    cluster.cli("volume", "attach", "ex", "--node", "node2", "--wait")
    endpoint = cluster.get("ex")["endpoint"]
    assert nbd_size(endpoint) == 24 * MiB
    back = tmp_path / "back.bin"
    subprocess.run(["nbdcopy", endpoint, str(back)], check=True, timeout=120)
    assert back.read_bytes()[: 8 * MiB] == data.read_bytes()
    assert back.read_bytes()[8 * MiB:] == bytes(16 * MiB)


def test_every_process_killed_then_salvaged(local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "sal", "--size", "8Mi", "--replicas", "2")
    cluster.cli("volume", "attach", "sal", "--node", "node1", "--wait")
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(8 * MiB))
    subprocess.run(["nbdcopy", str(data), cluster.get("sal")["endpoint"]], check=True, timeout=120)

    cluster.kill_manager(signal.SIGKILL)  # the engine and both replicas die while nobody watches
    for inst in cluster.all_instances().values():
        os.killpg(inst["pid"], signal.SIGKILL)
    cluster.start()
    # the restarted manager first records both deaths (until then the store still says healthy)
    wait_for("the deaths recorded and the volume healthy again", lambda: healthy(cluster, "sal") and all(
        r["failures"] >= 1 for r in cluster.get("sal")["replicas"]))
    doc = cluster.get("sal")
    back = tmp_path / "back.bin"
    subprocess.run(["nbdcopy", doc["endpoint"], str(back)], check=True, timeout=120)
    assert back.read_bytes() == data.read_bytes()
