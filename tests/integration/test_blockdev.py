"""adapters.blockdev against a real NBD server (nbdkit memory): nbdfuse, loop devices, ext4 and xfs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.blockdev import (
    AttachFailed,
    BlockClient,
    BlockDevice,
    DetachFailed,
    FilesystemMismatch,
    FsType,
    MountFailed,
    attach,
    detach,
    device_of_mount,
    mkfs_if_blank,
    mount,
    mount_volume,
    reap_orphans,
    unmount,
    unmount_volume,
)
from adapters.blockdev.filesystem import probe
from adapters.blockdev.mounts import mount_at, mounts
from tests.fixtures.nbdkit import NbdkitServer, free_port, nbdkit_memory  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mount need root")


def write_files(root: Path) -> dict[str, str]:
    """A few files (one nested, one larger than a block) with random contents; their sha256 by relative path."""
    (root / "dir").mkdir(exist_ok=True)
    contents = {"small.txt": os.urandom(100), "dir/big.bin": os.urandom(3 * 1024 * 1024 + 17), "empty": b""}
    for name, data in contents.items():
        (root / name).write_bytes(data)
    return {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}


def read_hashes(root: Path, names: dict[str, str]) -> dict[str, str]:
    return {name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in names}


def running(pid: int) -> bool:
    """True while ``pid`` runs; an exited process not yet reaped by init (a zombie) does not run."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def assert_released(device: BlockDevice, run_dir: Path, *, detached_through_handle: bool = True) -> None:
    """Nothing of the attachment is left: no mount, no loop device, no FUSE mount, nbdfuse exited."""
    assert not [m for m in mounts() if m.source == device.path or str(run_dir) in m.mount_point]
    assert not Path("/sys/block", Path(device.path).name, "loop", "backing_file").exists() or (
        str(run_dir) not in Path("/sys/block", Path(device.path).name, "loop", "backing_file").read_text()
    )
    assert device.nbdfuse_pid is not None
    assert not running(device.nbdfuse_pid)
    if device.process is not None and detached_through_handle:  # nbdfuse must have exited cleanly
        assert device.process.returncode == 0
    assert list(run_dir.iterdir()) == []


@pytest.mark.parametrize("fs", [FsType.EXT4, FsType.XFS])
def test_filesystem_survives_unmount_detach_and_reattach(nbdkit_memory: NbdkitServer, tmp_path: Path, fs: FsType) -> None:  # noqa: F811
    run_dir, target = tmp_path / "run", tmp_path / "fs"
    device = attach(nbdkit_memory.uri, run_dir=run_dir)
    try:
        assert device.client is BlockClient.NBDFUSE_LOOP
        assert Path(device.path).is_block_device()
        assert mkfs_if_blank(device.path, fs) is True
        mount(device.path, target, fs)
        mount(device.path, target, fs)  # idempotent
        assert mount_at(target) is not None and mount_at(target).fstype == fs.value  # type: ignore[union-attr]
        hashes = write_files(target)
        unmount(target)
        unmount(target)  # idempotent
    finally:
        detach(device)
    assert_released(device, run_dir)

    again = attach(nbdkit_memory.uri, run_dir=run_dir)
    try:
        assert mkfs_if_blank(again.path, fs) is False  # holds fs already: not reformatted
        mount(again.path, target, fs)
        assert read_hashes(target, hashes) == hashes
    finally:
        detach(again)  # unmounts the filesystem itself
    assert_released(again, run_dir)


def test_never_reformats_a_device_holding_another_filesystem(nbdkit_memory: NbdkitServer, tmp_path: Path) -> None:  # noqa: F811
    run_dir = tmp_path / "run"
    device = attach(nbdkit_memory.uri, run_dir=run_dir)
    try:
        assert mkfs_if_blank(device.path, FsType.EXT4)
        uuid = probe(device.path)["UUID"]
        with pytest.raises(FilesystemMismatch, match="ext4"):
            mkfs_if_blank(device.path, FsType.XFS)
        assert probe(device.path)["UUID"] == uuid
    finally:
        detach(device)
    assert_released(device, run_dir)


def test_mount_made_by_another_process_is_torn_down_from_its_mount_point(
    nbdkit_memory: NbdkitServer, tmp_path: Path  # noqa: F811
) -> None:
    """`volume mount` runs in a CLI process that exits; nbdfuse must outlive it and `volume umount` find it."""
    run_dir, target = tmp_path / "run", tmp_path / "fs"
    script = (
        "import sys; from adapters.blockdev import mount_volume; "
        "d = mount_volume(sys.argv[1], sys.argv[2], 'xfs', run_dir=sys.argv[3]); print(d.path, d.nbdfuse_pid)"
    )
    done = subprocess.run([sys.executable, "-c", script, nbdkit_memory.uri, str(target), str(run_dir)],
                          capture_output=True, text=True, timeout=60, check=False)
    try:
        assert done.returncode == 0, done.stderr
        found = device_of_mount(target)
        dev_path, pid = done.stdout.split()
        assert (found.path, found.nbdfuse_pid, found.uri) == (dev_path, int(pid), nbdkit_memory.uri)
        hashes = write_files(target)
    finally:
        if mount_at(target) is not None:
            unmount_volume(target)
    assert_released(found, run_dir)
    device = mount_volume(nbdkit_memory.uri, target, FsType.XFS, run_dir=run_dir)
    try:
        assert read_hashes(target, hashes) == hashes
    finally:
        unmount_volume(target)  # finds the device anew: this handle does not see nbdfuse's exit status
    assert_released(device, run_dir, detached_through_handle=False)


def test_busy_filesystem_is_not_torn_from_under_its_user(nbdkit_memory: NbdkitServer, tmp_path: Path) -> None:  # noqa: F811
    run_dir, target = tmp_path / "run", tmp_path / "fs"
    device = mount_volume(nbdkit_memory.uri, target, FsType.EXT4, run_dir=run_dir)
    try:
        busy = open(target / "open-file", "wb")  # noqa: SIM115
        try:
            with pytest.raises(DetachFailed) as failed:
                detach(device)
            assert any(step.startswith("unmount") for step, _ in failed.value.steps)
            busy.write(b"still writable")
            busy.flush()
            os.fsync(busy.fileno())
            assert device.nbdfuse_pid is not None and running(device.nbdfuse_pid)
        finally:
            busy.close()
        assert (target / "open-file").read_bytes() == b"still writable"
    finally:
        detach(device)
    assert_released(device, run_dir)


def test_attach_to_a_dead_server_fails_cleanly(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(AttachFailed, match="nbdfuse"):
        attach(f"nbd://127.0.0.1:{free_port()}", run_dir=run_dir, timeout=5)
    assert list(run_dir.iterdir()) == []
    assert not [m for m in mounts() if str(run_dir) in m.mount_point]


def test_failed_mount_leaves_nothing_attached(nbdkit_memory: NbdkitServer, tmp_path: Path) -> None:  # noqa: F811
    """A mount point already taken by another device: MountFailed, and the new attachment is undone."""
    run_dir, target = tmp_path / "run", tmp_path / "fs"
    first = mount_volume(nbdkit_memory.uri, target, FsType.EXT4, run_dir=run_dir / "first")
    try:
        with pytest.raises(MountFailed, match="already has"):
            mount_volume(nbdkit_memory.uri, target, FsType.EXT4, run_dir=run_dir / "second")
        assert list((run_dir / "second").iterdir()) == []
        assert device_of_mount(target).path == first.path
    finally:
        unmount_volume(target)
    assert_released(first, run_dir / "first", detached_through_handle=False)


def test_orphaned_nbdfuse_mounts_are_reaped_and_used_ones_kept(nbdkit_memory: NbdkitServer, tmp_path: Path) -> None:  # noqa: F811
    """A caller killed between nbdfuse and losetup leaves a FUSE mount with no loop device: reap_orphans ends it."""
    run_dir = tmp_path / "run"
    orphan, used = attach(nbdkit_memory.uri, run_dir=run_dir), attach(nbdkit_memory.uri, run_dir=run_dir)
    try:
        subprocess.run(["losetup", "--detach", orphan.path], check=True)  # as if losetup had never run
        assert reap_orphans(run_dir) == [orphan.fuse_dir]
        assert orphan.process is not None and orphan.process.wait(10) == 0
        assert Path(used.path).is_block_device() and used.fuse_dir is not None and mount_at(used.fuse_dir)
        assert reap_orphans(run_dir) == []
    finally:
        detach(used)
        reap_orphans(run_dir)  # the orphan, should the test have failed before reaping it
    assert_released(used, run_dir)


def test_stale_handle_never_detaches_a_loop_device_reused_by_another(
    nbdkit_memory: NbdkitServer, tmp_path: Path  # noqa: F811
) -> None:
    run_dir = tmp_path / "run"
    stale = attach(nbdkit_memory.uri, run_dir=run_dir)
    subprocess.run(["losetup", "--detach", stale.path], check=True)  # someone released its loop device...
    other = attach(nbdkit_memory.uri, run_dir=run_dir)  # ...and another attachment may now hold that number
    try:
        detach(stale)
        assert other.fuse_dir is not None
        backing = Path("/sys/block", Path(other.path).name, "loop", "backing_file").read_text().strip()
        assert backing == str(other.fuse_dir / "nbd")
        assert stale.fuse_dir is not None and mount_at(stale.fuse_dir) is None
    finally:
        detach(other)
        reap_orphans(run_dir)
    assert_released(stale, run_dir)
    assert_released(other, run_dir)
