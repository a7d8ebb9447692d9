"""A volume's NBD export mounted as a filesystem in one call, and unmounted in one call.

What ``pronghorn volume mount NAME PATH --fs ext4|xfs`` / ``volume umount PATH``
and the CSI node plugin do: attach, format only when blank, mount, grow the
filesystem to fill the device (after an expand), and record the mount
(``adapters.blockdev.mount_records``: which volume, which device, where the
kernel log stood); and back. ``unmount_volume`` tears everything down, then raises
``DeviceErrorsLogged`` when the kernel logged errors for the device while it was
mounted (I/O errors, filesystem errors): the unmount worked, the data may not have.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable

from adapters.blockdev import kernel_log, mount_records
from adapters.blockdev.attachment import attach, detach, device_of_mount
from adapters.blockdev.block_device import BlockDevice
from adapters.blockdev.errors import BlockDeviceError, DeviceErrorsLogged
from adapters.blockdev.filesystem import FsType, mkfs_if_blank, mount
from adapters.blockdev.growth import grow_filesystem, grow_unmounted
from adapters.blockdev.mount_records import CLIENT_NAMES, MountRecord

log = logging.getLogger(__name__)


def mount_volume(
    uri: str, path: str | os.PathLike[str], fs: FsType = FsType.EXT4, *, run_dir: str | os.PathLike[str] | None = None,
    volume: str = "",
) -> BlockDevice:
    """Attach ``uri``, put ``fs`` on it if blank, mount it at ``path``; on failure nothing is left attached."""
    fs = FsType(fs)
    since = kernel_log.position()
    device = attach(uri, run_dir=run_dir)
    with contextlib.ExitStack() as undo:
        undo.callback(detach, device)
        if not mkfs_if_blank(device.path, fs):  # the volume may have grown since it was last mounted
            _grow(lambda: grow_unmounted(device.path, fs), path)
        mount(device.path, path, fs)
        record = MountRecord(volume, uri, os.path.realpath(path), device.path, CLIENT_NAMES[device.client], since)
        mount_records.save(record)
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
    """Unmount the volume mounted at ``path`` and detach its block device; then ``DeviceErrorsLogged``
    if the kernel logged errors for that device since it was mounted."""
    record = mount_records.load(path)
    device = device_of_mount(path)
    detach(device)
    mount_records.forget(path)
    if record is None or os.path.realpath(record.device) != os.path.realpath(device.path):
        return  # not mounted by mount_volume (or the record is stale): nothing to compare with
    logged = kernel_log.device_errors(device.path, record.kernel_log_position)
    if logged:
        raise DeviceErrorsLogged(str(path), device.path, logged)
