"""BlockDevice: an NBD export seen as a kernel block device (the value attach() returns)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class BlockClient(StrEnum):
    """How the kernel block device talks NBD."""

    KERNEL_NBD = "kernel-nbd"  # /dev/nbdN through nbd-client
    NBDFUSE_LOOP = "nbdfuse-loop"  # /dev/loopN over the file nbdfuse serves


@dataclass
class BlockDevice:
    """A block device serving an NBD export. ``path`` is what mkfs and mount take."""

    path: str
    uri: str
    client: BlockClient
    fuse_dir: Path | None = None  # nbdfuse mount point (NBDFUSE_LOOP only)
    nbdfuse_pid: int | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
