"""A volume's NBD export mounted as a filesystem in one call, and unmounted in one call.

What ``pronghorn volume mount NAME PATH --fs ext4|xfs`` / ``volume umount PATH``
and the CSI node plugin do: attach, format only when blank, mount, grow the
filesystem to fill the device (after an expand); and back.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable

from adapters.blockdev.attachment import attach, detach, device_of_mount
from adapters.blockdev.block_device import BlockDevice
from adapters.blockdev.errors import BlockDeviceError
from adapters.blockdev.filesystem import FsType, mkfs_if_blank, mount
from adapters.blockdev.growth import grow_filesystem, grow_unmounted

log = logging.getLogger(__name__)


def mount_volume(
    uri: str, path: str | os.PathLike[str], fs: FsType = FsType.EXT4, *, run_dir: str | os.PathLike[str] | None = None
) -> BlockDevice:
    """Attach ``uri``, put ``fs`` on it if blank, mount it at ``path``; on failure nothing is left attached."""
    fs = FsType(fs)
    device = attach(uri, run_dir=run_dir)
    with contextlib.ExitStack() as undo:
        undo.callback(detach, device)
        if not mkfs_if_blank(device.path, fs):  # the volume may have grown since it was last mounted
            _grow(lambda: grow_unmounted(device.path, fs), path)
        mount(device.path, path, fs)
        undo.pop_all()
    if fs is FsType.XFS:
        _grow(lambda: grow_filesystem(device.path, str(path), fs), path)
    return device


def _grow(step: Callable[[], object], path: str | os.PathLike[str]) -> None:
    try:
        step()
    except BlockDeviceError as exc:  # mounted at its old size all the same
        log.warning("the filesystem at %s keeps its size: %s", path, exc)


def unmount_volume(path: str | os.PathLike[str]) -> None:
    """Unmount the volume mounted at ``path`` and detach its block device."""
    detach(device_of_mount(path))
