"""``volume expand --wait`` on a volume mounted through ``pronghorn volume mount``.

A real cluster, real ext4 and xfs filesystems on nbdfuse + loop devices. The
engine grows online; nbdfuse keeps serving its file at the size it had when it
connected, so the mounted filesystem cannot follow: ``--wait`` says so (exit 5,
one line, with what to do) and leaves the filesystem and its data untouched.
Mounted again, the filesystem fills the grown volume: ``df`` shows it and the
files written before are intact.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from adapters.blockdev.mounts import mount_at
from tests.fixtures.local_cluster import LocalCluster, local_cluster  # noqa: F401
from tests.integration.test_manager_expand_salvage import nbd_size

MiB = 1 << 20


def _files(target: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(target.glob("file*"))}


def _df_bytes(target: Path) -> int:
    st = os.statvfs(target)
    return st.f_blocks * st.f_frsize


@pytest.mark.parametrize(("fs", "size", "grown"), [("ext4", 32 * MiB, 96 * MiB), ("xfs", 320 * MiB, 512 * MiB)])
def test_expand_wait_then_remount_grows_the_filesystem(local_cluster: LocalCluster, tmp_path: Path,  # noqa: F811
                                                       fs: str, size: int, grown: int) -> None:
    cluster = local_cluster
    cluster.cli("volume", "create", "grow", "--size", str(size), "--replicas", "2")
    cluster.cli("volume", "attach", "grow", "--node", "node1", "--wait")
    target = tmp_path / "mnt"
    target.mkdir()
    try:
        cluster.cli("volume", "mount", "grow", str(target), "--fs", fs)
        for i in range(3):
            (target / f"file{i}").write_bytes(os.urandom(256 * 1024 + i))
        files, before = _files(target), _df_bytes(target)

        done = cluster.cli("volume", "expand", "grow", "--size", str(grown), "--wait", check=False)
        assert done.returncode == 5, done
        assert len(done.stderr.strip().splitlines()) == 1 and "mount it again" in done.stderr, done.stderr
        assert nbd_size(cluster.get("grow")["endpoint"]) == grown  # the engine grew
        assert _df_bytes(target) == before and _files(target) == files  # the mounted filesystem untouched

        cluster.cli("volume", "umount", str(target))
        remount = cluster.cli("volume", "mount", "grow", str(target), "--fs", fs)
        assert _df_bytes(target) > before + (grown - size) // 2, remount.stderr
        assert _files(target) == files
        (target / "after").write_bytes(os.urandom(MiB))

        done = cluster.cli("volume", "expand", "grow", "--size", str(grown), "--wait")  # nothing left to grow
        assert f"{target}: {fs} grown to fill" in done.stdout
    finally:
        if mount_at(target) is not None:
            cluster.cli("volume", "umount", str(target), check=False)
