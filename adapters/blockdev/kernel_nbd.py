"""Block devices through the kernel's NBD client (``nbd-client``), where /dev/nbd* exists.

Not exercised on the development machine (its kernel has no nbd module); the
nbdfuse + loop path is what tests run here. URIs: ``nbd://HOST[:PORT][/EXPORT]``
and ``nbd+unix:///[EXPORT]?socket=PATH``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from adapters.blockdev.block_device import BlockClient, BlockDevice
from adapters.blockdev.errors import AttachFailed, CommandFailed
from adapters.blockdev.host_commands import run

SYS_BLOCK = Path("/sys/block")
NBD_PORT = 10809


def available() -> bool:
    return any(SYS_BLOCK.glob("nbd[0-9]*")) and shutil.which("nbd-client") is not None


def client_args(uri: str) -> tuple[list[str], list[str]]:
    """nbd-client's arguments for ``uri``: where to connect (before the device) and the export name."""
    parts = urlsplit(uri)
    export = parts.path.lstrip("/")
    name = ["-name", export] if export else []
    if parts.scheme == "nbd":
        if not parts.hostname:
            raise AttachFailed(f"{uri}: no host in the NBD URI")
        return [parts.hostname, str(parts.port or NBD_PORT)], name
    if parts.scheme == "nbd+unix":
        socket = parse_qs(parts.query).get("socket")
        if not socket:
            raise AttachFailed(f"{uri}: an nbd+unix URI needs ?socket=PATH")
        return ["-unix", socket[0]], name
    raise AttachFailed(f"{uri}: unsupported NBD URI scheme {parts.scheme!r} (use nbd:// or nbd+unix://)")


def free_device() -> str:
    for entry in sorted(SYS_BLOCK.glob("nbd[0-9]*"), key=lambda p: int(p.name[3:])):
        if not (entry / "pid").exists():
            return f"/dev/{entry.name}"
    raise AttachFailed("every /dev/nbd* device is in use")


def attach(uri: str, *, timeout: float = 10.0) -> BlockDevice:
    where, name = client_args(uri)
    device = free_device()
    try:
        run(["nbd-client", *where, device, "-block-size", "4096", *name], timeout=timeout)
    except CommandFailed as exc:
        raise AttachFailed(f"nbd-client could not connect {device} to {uri}: {exc}") from exc
    return BlockDevice(device, uri, BlockClient.KERNEL_NBD)


def release(device: BlockDevice) -> list[tuple[str, BaseException]]:
    try:
        run(["nbd-client", "-d", device.path])
    except CommandFailed as exc:
        return [(f"nbd-client -d {device.path}", exc)]
    return []


def find(dev_path: str) -> BlockDevice:
    return BlockDevice(dev_path, "", BlockClient.KERNEL_NBD)
