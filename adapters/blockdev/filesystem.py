"""Filesystems on block devices: format only when blank, mount, unmount.

`mkfs_if_blank` asks blkid (low-level probe) whether the device holds anything
— a filesystem, a partition table, a RAID member — and formats it only when it
holds nothing: a device with data is never reformatted. `mount` and `unmount`
are idempotent for the same device and path.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from adapters.blockdev.errors import CommandFailed, FilesystemMismatch, MountFailed, UnmountFailed
from adapters.blockdev.host_commands import run
from adapters.blockdev.mounts import mount_at

BLKID_NOTHING_FOUND = 2


class FsType(StrEnum):
    EXT4 = "ext4"
    XFS = "xfs"


# No discard at mkfs: a blank volume is already unallocated; discarding it is slow work for nothing.
MKFS = {
    FsType.EXT4: ["mkfs.ext4", "-q", "-F", "-E", "nodiscard"],
    FsType.XFS: ["mkfs.xfs", "-q", "-K"],
}


def probe(device: str) -> dict[str, str]:
    """What blkid finds on ``device`` (keys such as TYPE, PTTYPE, USAGE); empty when it holds nothing."""
    done = run(["blkid", "-p", "-o", "export", device], ok_codes=(0, BLKID_NOTHING_FOUND))
    if done.returncode == BLKID_NOTHING_FOUND:
        return {}
    found = {}
    for line in done.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            found[key] = value
    return found


def mkfs_if_blank(device: str, fs: FsType) -> bool:
    """Format ``device`` with ``fs`` if it holds nothing; True when it formatted.

    A device already holding ``fs`` is left alone (False); one holding anything
    else raises FilesystemMismatch.
    """
    fs = FsType(fs)
    found = probe(device)
    if not found:
        run([*MKFS[fs], device])
        return True
    kind = found.get("TYPE") or (f"a {found['PTTYPE']} partition table" if "PTTYPE" in found else "unknown data")
    if kind != fs.value:
        raise FilesystemMismatch(device, kind, fs.value)
    return False


def mount(device: str, path: str | os.PathLike[str], fs: FsType, options: str = "") -> None:
    """Mount ``device`` (a ``fs`` filesystem) at ``path``, creating the directory; no-op if already so mounted."""
    fs = FsType(fs)
    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    present = mount_at(target)
    if present is not None:
        if os.path.realpath(present.source) == os.path.realpath(device):
            return
        raise MountFailed(f"{target} already has {present.source} ({present.fstype}) mounted on it")
    argv = ["mount", "-t", fs.value, *(["-o", options] if options else []), device, str(target)]
    try:
        run(argv)
    except CommandFailed as exc:
        raise MountFailed(f"cannot mount {device} at {target}: {exc}") from exc


def unmount(path: str | os.PathLike[str]) -> None:
    """Unmount the filesystem at ``path``; no-op when nothing is mounted there."""
    if mount_at(path) is None:
        return
    try:
        run(["umount", str(path)])
    except CommandFailed as exc:
        raise UnmountFailed(f"cannot unmount {path}: {exc}") from exc
