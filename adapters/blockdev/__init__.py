"""Block devices and filesystems from NBD exports.

Turns an NBD URI (an engine's frontend) into a kernel block device and a
mounted filesystem, and tears it all down again. Used by `pronghorn volume
mount/umount`, the CSI node plugin and the data-plane integration tests.

Two ways to get a block device:
- the kernel's NBD client (``nbd-client``) when ``/dev/nbd*`` exists;
- otherwise ``nbdfuse`` exposes the export as a file in a FUSE mount and a
  loop device (``losetup --direct-io=on``) turns that file into a block device.
"""

from adapters.blockdev.attachment import attach, detach, device_of_mount, find_device, reap_orphans
from adapters.blockdev.block_device import BlockClient, BlockDevice
from adapters.blockdev.errors import (
    AttachFailed,
    BlockDeviceError,
    CommandFailed,
    DetachFailed,
    DeviceErrorsLogged,
    FilesystemMismatch,
    MountFailed,
    ToolMissing,
    UnmountFailed,
)
from adapters.blockdev.filesystem import FsType, mkfs_if_blank, mount, unmount
from adapters.blockdev.volume_mount import mount_volume, unmount_volume

__all__ = [
    "AttachFailed",
    "BlockClient",
    "BlockDevice",
    "BlockDeviceError",
    "CommandFailed",
    "DetachFailed",
    "DeviceErrorsLogged",
    "FilesystemMismatch",
    "FsType",
    "MountFailed",
    "ToolMissing",
    "UnmountFailed",
    "attach",
    "detach",
    "device_of_mount",
    "find_device",
    "mkfs_if_blank",
    "mount",
    "mount_volume",
    "reap_orphans",
    "unmount",
    "unmount_volume",
]
