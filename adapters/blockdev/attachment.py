"""Attaching NBD exports as block devices and detaching them again.

`attach(uri)` picks the kernel NBD client when /dev/nbd* exists and
``nbd-client`` is installed, otherwise nbdfuse + a loop device. `detach(dev)`
unmounts every filesystem of the device and releases it, in reverse order of
attach, running every step even when an earlier one failed. `device_of_mount`
recovers a BlockDevice from a mount point, so another process (``pronghorn
volume umount PATH``) can tear down what `attach` built.
"""

from __future__ import annotations

import os
from pathlib import Path

from adapters.blockdev import kernel_nbd, nbdfuse_loop
from adapters.blockdev.block_device import BlockClient, BlockDevice
from adapters.blockdev.errors import BlockDeviceError, DetachFailed
from adapters.blockdev.filesystem import unmount
from adapters.blockdev.mounts import mount_at, mounts_of


def attach(uri: str, *, run_dir: str | os.PathLike[str] | None = None, timeout: float = 10.0) -> BlockDevice:
    """Make a block device of the NBD export at ``uri``; raises AttachFailed/ToolMissing, leaving nothing behind."""
    if kernel_nbd.available():
        return kernel_nbd.attach(uri, timeout=timeout)
    return nbdfuse_loop.attach(uri, run_dir=run_dir, timeout=timeout)


def detach(device: BlockDevice) -> None:
    """Unmount the device's filesystems and release it; DetachFailed lists every step that failed."""
    failures: list[tuple[str, BaseException]] = []
    for mounted in mounts_of(device.path):
        try:
            unmount(mounted.mount_point)
        except BlockDeviceError as exc:
            failures.append((f"unmount {mounted.mount_point}", exc))
    if device.client is BlockClient.KERNEL_NBD:
        failures += kernel_nbd.release(device)
    else:
        failures += nbdfuse_loop.release(device)
    if failures:
        raise DetachFailed(device.path, failures)


def reap_orphans(run_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Release nbdfuse mounts under ``run_dir`` left without a loop device by a caller killed mid-attach."""
    return nbdfuse_loop.reap_orphans(run_dir)


def device_of_mount(path: str | os.PathLike[str]) -> BlockDevice:
    """The BlockDevice whose filesystem is mounted at ``path`` (built by `attach`, maybe in another process)."""
    mounted = mount_at(path)
    if mounted is None:
        raise BlockDeviceError(f"nothing is mounted at {path}")
    return find_device(mounted.source)


def find_device(dev_path: str) -> BlockDevice:
    """The BlockDevice behind ``dev_path`` (a loop device over nbdfuse or a kernel nbd device)."""
    name = Path(os.path.realpath(dev_path)).name
    if name.startswith("loop"):
        return nbdfuse_loop.find(dev_path)
    if name.startswith("nbd"):
        return kernel_nbd.find(dev_path)
    raise BlockDeviceError(f"{dev_path} is neither a loop device nor an nbd device: not made by attach()")
