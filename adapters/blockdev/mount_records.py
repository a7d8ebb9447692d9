"""Records of the volumes mounted on this host through ``pronghorn volume mount``.

``mount_volume`` writes one JSON file per mount point in ``RECORDS`` (one place per
host, whatever run dir the attachment used; atomically: temp file, rename): the volume's name and NBD URI, the mount point,
the block device, how it talks NBD (nbdfuse or the kernel's client) and the kernel
log's position when it was mounted. ``unmount_volume`` reads it back (to report the
device errors logged meanwhile) and removes it. ``mounts_of(uri)`` answers "is this
volume mounted here?" for the checks before a revert (``domain.frontend_use``): only
records whose mount point still has that device mounted count, so a record left by
a crash or an unmount done by hand (``detach``, plain ``umount``) says nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from adapters.blockdev.block_device import BlockClient
from adapters.blockdev.mounts import mount_at
from adapters.blockdev.nbdfuse_loop import DEFAULT_RUN_DIR

RECORDS = DEFAULT_RUN_DIR / "mounts"
CLIENT_NAMES = {BlockClient.NBDFUSE_LOOP: "nbdfuse", BlockClient.KERNEL_NBD: "kernel nbd"}


@dataclass(frozen=True)
class MountRecord:
    volume: str  # "" when the caller did not name it
    uri: str
    path: str  # the mount point, resolved
    device: str  # /dev/loopN, /dev/nbdN
    client: str  # "nbdfuse", "kernel nbd"
    kernel_log_position: int  # the newest kernel log record when mounted

    def still_mounted(self) -> bool:
        present = mount_at(self.path)
        return present is not None and os.path.realpath(present.source) == os.path.realpath(self.device)


def _file(path: str | os.PathLike[str]) -> Path:
    digest = hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:24]
    return RECORDS / f"{digest}.json"


def save(record: MountRecord) -> None:
    target = _file(record.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_suffix(".tmp")
    temp.write_text(json.dumps(asdict(record)))
    temp.replace(target)


def load(path: str | os.PathLike[str]) -> MountRecord | None:
    """The record of the mount at ``path``, if ``mount_volume`` made one."""
    return load_file(_file(path))


def forget(path: str | os.PathLike[str]) -> None:
    with contextlib.suppress(FileNotFoundError):
        _file(path).unlink()


def mounts_of(uri: str) -> list[MountRecord]:
    """The volume at NBD ``uri`` as mounted on this host now, one record per mount point."""
    found = []
    for entry in sorted(RECORDS.glob("*.json")):
        record = load_file(entry)
        if record is not None and record.uri == uri and record.still_mounted():
            found.append(record)
    return found


def load_file(entry: Path) -> MountRecord | None:
    try:
        return MountRecord(**json.loads(entry.read_text()))
    except (OSError, ValueError, TypeError):
        return None
