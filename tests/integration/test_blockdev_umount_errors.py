"""``unmount_volume`` reports the device errors the kernel logged while the volume was mounted.

A real ext4 filesystem over nbdfuse + a loop device on a real NBD server (nbdkit):
the server goes away under the mounted filesystem, writes fail in the kernel, and
the unmount, which still tears everything down, raises ``DeviceErrorsLogged`` with
the kernel's lines. A clean mount and unmount raises nothing. The mount record
(``adapters.blockdev.mount_records``) says the volume is mounted exactly while it is.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from adapters.blockdev import DeviceErrorsLogged, FsType, mount_volume, unmount_volume
from adapters.blockdev.mount_records import mounts_of
from adapters.blockdev.mounts import mount_at
from tests.fixtures.nbdkit import NbdkitServer, nbdkit_memory  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mount need root")


def test_umount_reports_io_errors_logged_while_mounted(nbdkit_memory: NbdkitServer, tmp_path: Path) -> None:  # noqa: F811
    run_dir, mnt = tmp_path / "run", tmp_path / "mnt"
    device = mount_volume(nbdkit_memory.uri, mnt, FsType.EXT4, run_dir=run_dir, volume="vol1")
    assert [(r.volume, r.path, r.device, r.client) for r in mounts_of(nbdkit_memory.uri)] == [
        ("vol1", str(mnt), device.path, "nbdfuse")]
    (mnt / "before").write_bytes(os.urandom(1 << 20))
    subprocess.run(["sync", "-f", str(mnt)], check=True)

    nbdkit_memory.stop()  # the export goes away under the mounted filesystem
    subprocess.run(["dd", "if=/dev/urandom", f"of={mnt}/after", "bs=1M", "count=2", "oflag=direct"],
                   capture_output=True, timeout=60)
    subprocess.run(["sync", "-f", str(mnt)], capture_output=True, timeout=60)

    with pytest.raises(DeviceErrorsLogged) as raised:
        unmount_volume(mnt)
    name = Path(device.path).name
    assert raised.value.lines and all(name in line for line in raised.value.lines)
    assert f"{mnt} unmounted, but the kernel logged" in str(raised.value) and "\n" not in str(raised.value)
    assert mount_at(mnt) is None  # torn down all the same
    assert mounts_of(nbdkit_memory.uri) == []


def test_clean_umount_reports_nothing(nbdkit_memory: NbdkitServer, tmp_path: Path) -> None:  # noqa: F811
    run_dir, mnt = tmp_path / "run", tmp_path / "mnt"
    mount_volume(nbdkit_memory.uri, mnt, FsType.EXT4, run_dir=run_dir, volume="vol1")
    (mnt / "file").write_bytes(os.urandom(1 << 20))
    unmount_volume(mnt)  # raises nothing: the mount/unmount lines are not errors
    assert mount_at(mnt) is None
    assert mounts_of(nbdkit_memory.uri) == []
