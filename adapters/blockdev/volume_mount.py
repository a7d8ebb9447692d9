"""A volume's NBD export mounted as a filesystem in one call, and unmounted in one call.

What ``pronghorn volume mount NAME PATH --fs ext4|xfs`` / ``volume umount PATH``
and the CSI node plugin do: attach, format only when blank, mount; and back.
"""

from __future__ import annotations

import contextlib
import os

from adapters.blockdev.attachment import attach, detach, device_of_mount
from adapters.blockdev.block_device import BlockDevice
from adapters.blockdev.filesystem import FsType, mkfs_if_blank, mount


def mount_volume(
    uri: str, path: str | os.PathLike[str], fs: FsType = FsType.EXT4, *, run_dir: str | os.PathLike[str] | None = None
) -> BlockDevice:
    """Attach ``uri``, put ``fs`` on it if blank, mount it at ``path``; on failure nothing is left attached."""
    fs = FsType(fs)
    device = attach(uri, run_dir=run_dir)
    with contextlib.ExitStack() as undo:
        undo.callback(detach, device)
        mkfs_if_blank(device.path, fs)
        mount(device.path, path, fs)
        undo.pop_all()
    return device


def unmount_volume(path: str | os.PathLike[str]) -> None:
    """Unmount the volume mounted at ``path`` and detach its block device."""
    detach(device_of_mount(path))
