"""An impossible expand never takes a volume down.

``volume expand`` is checked against each replica disk's room as create is (exit 6
otherwise). When a size passes the bookings but a replica's filesystem cannot hold it
(disks declared bigger than they are), the engine's two-phase expand is refused by the
replicas before anything grows: the volume keeps serving at its old size, every replica
RW, and the refusal is recorded on the volume.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from domain.services import Nodes
from domain.store import open_control_plane
from tests.fixtures.local_cluster import LocalCluster, local_cluster, wait_for  # noqa: F401
from tests.integration.test_manager_expand_salvage import nbd_size
from tests.integration.test_manager_healing import healthy

MiB = 1 << 20


def _write_and_read_back(endpoint: str, tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(4 * MiB))
    subprocess.run(["nbdcopy", str(data), endpoint], check=True, timeout=120)
    back = tmp_path / "back.bin"
    subprocess.run(["nbdcopy", endpoint, str(back)], check=True, timeout=120)
    assert back.read_bytes()[: 4 * MiB] == data.read_bytes()


def test_expand_beyond_the_disks_is_refused_with_exit_6(local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "race1", "--size", "16Mi", "--replicas", "2")
    cluster.cli("volume", "attach", "race1", "--node", "node1", "--wait")
    endpoint = cluster.get("race1")["endpoint"]

    done = cluster.cli("volume", "expand", "race1", "--size", "512Ti", check=False)
    assert done.returncode == 6, done
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert cluster.get("race1")["size"] == 16 * MiB
    assert nbd_size(endpoint) == 16 * MiB
    assert healthy(cluster, "race1")
    _write_and_read_back(endpoint, tmp_path)


def _claim_huge_disks(cluster: LocalCluster) -> None:
    with open_control_plane(f"sqlite://{cluster.home / 'events.sqlite'}") as app:
        nodes = Nodes(app)
        for node in nodes.list():  # the disks claim far more than any filesystem holds
            for path in node.disks:
                nodes.update_disk(node.name, path, capacity=4 << 60)


def _refusal_recorded(cluster: LocalCluster, volume: str) -> bool:
    return any(c["type"] == "Resized" and c["status"] is False for c in cluster.get(volume).get("conditions", []))


def test_expand_a_replica_filesystem_cannot_hold_keeps_serving(local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "race2", "--size", "16Mi", "--replicas", "2")
    cluster.cli("volume", "attach", "race2", "--node", "node1", "--wait")
    endpoint = cluster.get("race2")["endpoint"]
    _claim_huge_disks(cluster)

    done = cluster.cli("volume", "expand", "race2", "--size", "512Ti", "--wait", check=False)  # the bookings allow it
    assert done.returncode == 6, done
    assert len(done.stderr.strip().splitlines()) == 1 and "CannotHold" in done.stderr, done.stderr
    assert _refusal_recorded(cluster, "race2")
    assert cluster.get("race2")["size"] == 16 * MiB  # back to what the engine serves
    assert nbd_size(endpoint) == 16 * MiB
    assert healthy(cluster, "race2")
    _write_and_read_back(endpoint, tmp_path)

    cluster.cli("volume", "expand", "race2", "--size", "32Mi", "--wait")  # a size that fits still grows
    assert nbd_size(endpoint) == 32 * MiB
    assert [c["status"] for c in cluster.get("race2")["conditions"] if c["type"] == "Resized"] == [True]


def test_expand_refused_while_detached_still_attaches(local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "race3", "--size", "16Mi", "--replicas", "2")
    cluster.cli("volume", "attach", "race3", "--node", "node1", "--wait")  # its replicas hold 16 MiB
    cluster.cli("volume", "detach", "race3", "--wait")
    _claim_huge_disks(cluster)
    cluster.cli("volume", "expand", "race3", "--size", "512Ti")
    cluster.cli("volume", "attach", "race3", "--node", "node1", "--wait")
    endpoint = cluster.get("race3")["endpoint"]
    assert nbd_size(endpoint) == 16 * MiB
    assert _refusal_recorded(cluster, "race3") and cluster.get("race3")["size"] == 16 * MiB
    assert healthy(cluster, "race3")
    _write_and_read_back(endpoint, tmp_path)


def test_a_replica_failing_its_expand_is_recorded_then_healed(local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    """The engine turns a replica that failed to grow (its volume.meta cannot be written) ERR and
    keeps serving: the store says so (degraded, not healthy); once the replica can be written
    again it is rebuilt, and the volume is healthy at the new size."""
    cluster = local_cluster
    cluster.cli("volume", "create", "race4", "--size", "16Mi", "--replicas", "2")
    cluster.cli("volume", "attach", "race4", "--node", "node1", "--wait")
    endpoint = cluster.get("race4")["endpoint"]
    victim = cluster.get("race4")["replicas"][-1]
    meta = Path(victim["data_dir"]) / "volume.meta"
    subprocess.run(["chattr", "+i", str(meta)], check=True)
    try:
        cluster.cli("volume", "expand", "race4", "--size", "32Mi")
        wait_for("the failed replica to be recorded", lambda: any(
            r["name"] == victim["name"] and r["failures"] >= 1 for r in cluster.get("race4")["replicas"]))
        assert cluster.get("race4")["robustness"] == "degraded"
        _write_and_read_back(endpoint, tmp_path)  # served all along (grown from the other replica, or not yet)
    finally:
        subprocess.run(["chattr", "-i", str(meta)], check=False)
    wait_for("the expand to be done and the volume healthy", lambda: healthy(cluster, "race4")
             and nbd_size(endpoint) == 32 * MiB)
    _write_and_read_back(endpoint, tmp_path)
