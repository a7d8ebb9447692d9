"""Attach, detach and re-attach elsewhere through a real ``pronghorn up`` cluster.

Data written through one node's engine is identical through another node's engine
after detach/attach; an ext4 filesystem made by ``volume mount`` keeps its files
across detach/attach; detaching stops every process of the volume; deleting the
volume removes its replica directories.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from adapters.blockdev.mounts import mount_at
from tests.fixtures.local_cluster import LocalCluster, local_cluster, wait_for  # noqa: F401

MiB = 1 << 20


def test_detach_then_attach_on_another_node_keeps_data(local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "vol2", "--size", "16Mi", "--replicas", "2")
    cluster.cli("volume", "attach", "vol2", "--node", "node1", "--wait")
    first = cluster.get("vol2")["endpoint"]
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(16 * MiB))
    subprocess.run(["nbdcopy", str(data), first], check=True, timeout=120)

    cluster.cli("volume", "detach", "vol2", "--wait")
    doc = cluster.get("vol2")
    assert doc["state"] == "detached" and doc["endpoint"] == ""
    wait_for("every process of the volume to stop", lambda: not cluster.server_processes())
    assert cluster.all_instances() == {}

    cluster.cli("volume", "attach", "vol2", "--node", "node3", "--wait")
    second = cluster.get("vol2")["endpoint"]
    assert second.startswith("nbd://127.0.1.3:")
    assert "engine:vol2" in cluster.instances("node3")
    back = tmp_path / "back.bin"
    subprocess.run(["nbdcopy", second, str(back)], check=True, timeout=120)
    assert back.read_bytes() == data.read_bytes()

    cluster.cli("volume", "detach", "vol2", "--wait")
    dirs = list(cluster.home.glob("nodes/*/disk/replicas/vol2-*"))
    assert len(dirs) == 2
    cluster.cli("volume", "delete", "vol2")
    wait_for("the replica directories to be removed",
             lambda: not list(cluster.home.glob("nodes/*/disk/replicas/vol2-*")))


def test_ext4_files_survive_detach_and_attach(local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "fs1", "--size", "64Mi", "--replicas", "3")
    cluster.cli("volume", "attach", "fs1", "--node", "node2", "--wait")
    target = tmp_path / "mnt"
    target.mkdir()
    try:
        cluster.cli("volume", "mount", "fs1", str(target), "--fs", "ext4")
        assert mount_at(target) is not None
        hashes = {}
        for i in range(3):
            payload = os.urandom(256 * 1024 + i)
            (target / f"file{i}").write_bytes(payload)
            hashes[f"file{i}"] = hashlib.sha256(payload).hexdigest()
        cluster.cli("volume", "umount", str(target))
        assert mount_at(target) is None

        cluster.cli("volume", "detach", "fs1", "--wait")
        cluster.cli("volume", "attach", "fs1", "--node", "node1", "--wait")
        cluster.cli("volume", "mount", "fs1", str(target), "--fs", "ext4")  # not reformatted: files are there
        assert {name: hashlib.sha256((target / name).read_bytes()).hexdigest() for name in hashes} == hashes
    finally:
        if mount_at(target) is not None:
            cluster.cli("volume", "umount", str(target), check=False)


def test_mount_refuses_a_detached_volume(local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "fs2", "--size", "16Mi", "--replicas", "1")
    done = cluster.cli("volume", "mount", "fs2", str(tmp_path), check=False)
    assert done.returncode == 5 and "not attached" in done.stderr and "Traceback" not in done.stderr


def test_second_manager_or_down_on_a_running_cluster_is_refused(local_cluster: LocalCluster) -> None:  # noqa: F811
    cluster = local_cluster
    for verb in (["up", "--nodes", "3"], ["down"]):
        done = cluster.cli(*verb, "--home", str(cluster.home), check=False, timeout=60)
        assert done.returncode == 4 and "already running" in done.stderr and "Traceback" not in done.stderr
    assert cluster.proc is not None and cluster.proc.poll() is None
