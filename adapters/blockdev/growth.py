"""Following an NBD export that grew: the block devices made of it, then their filesystems.

After a volume's engine serves a bigger export, ``grow_mounts(uri, size)`` finds
every filesystem on this host mounted from a block device ``attach`` made of
``uri``; for each it asks the device to re-read its size (``losetup -c`` for a
loop device) and, once the device is ``size`` bytes, grows the filesystem to
fill it (ext4: ``resize2fs``, online, which needs CAP_SYS_RESOURCE; xfs:
``xfs_growfs``). ``mount_volume`` grows a filesystem mounted again after an
expand: ext4 before mounting (``grow_unmounted``), xfs once mounted.

What cannot follow, said per mount point in ``Growth.reason``: nbdfuse (libnbd
1.14) reads the export's size once, when it connects, and serves its file at
that size for as long as it runs (it cannot be truncated either); the loop
device over that file cannot outgrow it, and restarting nbdfuse would pull the
device from under the mounted filesystem. Such a filesystem grows when it is
mounted again. Called by ``pronghorn volume expand --wait`` and tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from adapters.blockdev.attachment import find_device
from adapters.blockdev.block_device import BlockClient
from adapters.blockdev.errors import BlockDeviceError
from adapters.blockdev.filesystem import FsType
from adapters.blockdev.host_commands import run
from adapters.blockdev.mounts import Mount, mounts

SECTOR = 512  # unit of /sys/class/block/*/size
E2FSCK_FIXED = (0, 1)  # clean, or errors corrected


@dataclass(frozen=True)
class Growth:
    """What became of one mounted filesystem of the export."""

    mount_point: str
    device: str
    fstype: str
    device_size: int  # bytes, after asking the device to re-read its size
    grown: bool  # the filesystem now fills a device of the export's size
    reason: str = ""  # why not, when not grown


def device_size(device: str) -> int:
    """Bytes of block device ``device``, as the kernel sees it now."""
    name = Path(os.path.realpath(device)).name
    return int(Path("/sys/class/block", name, "size").read_text()) * SECTOR


def grow_filesystem(device: str, mount_point: str, fstype: str) -> None:
    """Grow the ``fstype`` filesystem mounted from ``device`` at ``mount_point`` to fill the device
    (a no-op when it already does); BlockDeviceError for a kind it cannot grow."""
    if fstype == FsType.EXT4:
        run(["resize2fs", device])
    elif fstype == FsType.XFS:
        run(["xfs_growfs", mount_point])
    else:
        raise BlockDeviceError(f"cannot grow a {fstype} filesystem (only ext4 and xfs)")


def grow_unmounted(device: str, fstype: str) -> bool:
    """Grow an unmounted ext4 filesystem on ``device`` to fill it, checked first (``e2fsck -f -p``,
    which resize2fs asks for); True when it grew. Other kinds grow once mounted (``grow_filesystem``)."""
    if fstype != FsType.EXT4:
        return False
    header = dict(line.split(":", 1) for line in run(["dumpe2fs", "-h", device]).stdout.splitlines() if ":" in line)
    if int(header["Block count"]) * int(header["Block size"]) >= device_size(device):
        return False
    run(["e2fsck", "-f", "-p", device], ok_codes=E2FSCK_FIXED)
    run(["resize2fs", device])
    return True


def grow_mounts(uri: str, size: int) -> list[Growth]:
    """Make every filesystem mounted from a device of ``uri`` fill ``size`` bytes, or say why not."""
    return [_grow(m, size) for m in _mounts_of_export(uri)]


def _mounts_of_export(uri: str) -> list[Mount]:
    found = []
    for mounted in mounts():
        if not mounted.source.startswith("/dev/"):
            continue
        try:
            device = find_device(mounted.source)
        except BlockDeviceError:
            continue  # not a device attach() made
        if device.uri == uri:
            found.append(mounted)
    return found


def _grow(mounted: Mount, size: int) -> Growth:
    def outcome(grown: bool, reason: str = "") -> Growth:
        return Growth(mounted.mount_point, mounted.source, mounted.fstype, device_size(mounted.source), grown, reason)

    client = find_device(mounted.source).client
    try:
        if client is BlockClient.NBDFUSE_LOOP:
            run(["losetup", "--set-capacity", mounted.source])
        if device_size(mounted.source) < size:
            return outcome(False, _why_not(client, device_size(mounted.source)))
        grow_filesystem(mounted.source, mounted.mount_point, mounted.fstype)
    except BlockDeviceError as exc:
        return outcome(False, str(exc))
    return outcome(True)


def _why_not(client: BlockClient, now: int) -> str:
    if client is BlockClient.NBDFUSE_LOOP:
        return (f"its device stays {now} bytes: nbdfuse serves the export at the size it had when mounted "
                "and cannot be told a new one; unmount and mount it again to grow the filesystem")
    return (f"its device stays {now} bytes: the kernel nbd client keeps the size it connected with; "
            "unmount and mount it again to grow the filesystem")

