"""adapters.blockdev.growth on real devices: what follows a grown export and what cannot.

A loop device over a plain file that grew follows it (``losetup -c``) and a
mounted xfs then grows online to fill it (ext4 online resize needs
CAP_SYS_RESOURCE, absent on these hosts: ``mount_volume`` grows ext4 before
mounting instead). A device made by ``attach`` over nbdfuse cannot follow a
grown export: ``grow_mounts`` says so and leaves the filesystem alone.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.blockdev import FsType, mount_volume, unmount, unmount_volume
from adapters.blockdev.growth import device_size, grow_filesystem, grow_mounts
from tests.fixtures.nbdkit import NbdkitServer, free_port, nbdkit_memory  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mount need root")
MiB = 1 << 20


@pytest.fixture
def loop_file(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    backing = tmp_path / "disk.img"
    backing.write_bytes(b"")
    os.truncate(backing, 320 * MiB)
    device = subprocess.run(["losetup", "--find", "--show", str(backing)], capture_output=True, text=True,
                            check=True).stdout.strip()
    try:
        yield backing, device
    finally:
        subprocess.run(["losetup", "--detach", device], check=False)


def test_xfs_on_a_loop_device_grows_online_with_its_file(loop_file: tuple[Path, str], tmp_path: Path) -> None:
    backing, device = loop_file
    subprocess.run(["mkfs.xfs", "-q", device], check=True)
    target = tmp_path / "mnt"
    target.mkdir()
    subprocess.run(["mount", device, str(target)], check=True)
    try:
        (target / "kept").write_bytes(b"k" * MiB)
        before = os.statvfs(target).f_blocks * os.statvfs(target).f_frsize
        os.truncate(backing, 640 * MiB)
        subprocess.run(["losetup", "--set-capacity", device], check=True)
        assert device_size(device) == 640 * MiB
        grow_filesystem(device, str(target), FsType.XFS)
        after = os.statvfs(target).f_blocks * os.statvfs(target).f_frsize
        assert after > before + 256 * MiB
        assert (target / "kept").read_bytes() == b"k" * MiB
    finally:
        unmount(target)


def test_nbdfuse_device_cannot_follow_and_says_why(nbdkit_memory: NbdkitServer, tmp_path: Path) -> None:  # noqa: F811
    target = tmp_path / "mnt"
    device = mount_volume(nbdkit_memory.uri, target, FsType.EXT4)
    try:
        (target / "kept").write_bytes(b"k" * MiB)
        [growth] = grow_mounts(nbdkit_memory.uri, device_size(device.path) + 64 * MiB)
        assert not growth.grown and "mount it again" in growth.reason
        assert growth.mount_point == str(target) and growth.device_size == device_size(device.path)
        assert (target / "kept").read_bytes() == b"k" * MiB
        assert grow_mounts(nbdkit_memory.uri, device_size(device.path))[0].grown  # already fills its device
    finally:
        unmount_volume(target)
