"""Runs the host programs the block-device adapter relies on (losetup, mount, mkfs, blkid...).

One place that turns a missing program or a non-zero exit into a typed error.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from adapters.blockdev.errors import CommandFailed, ToolMissing

DEFAULT_TIMEOUT = 120.0


def require(tool: str) -> str:
    """Absolute path of ``tool`` or ToolMissing."""
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if path is None:
        raise ToolMissing(tool)
    return path


def run(argv: Sequence[str], *, ok_codes: Sequence[int] = (0,), timeout: float = DEFAULT_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (its first word resolved on PATH); raise CommandFailed unless its exit code is in ``ok_codes``."""
    resolved = [require(argv[0]), *argv[1:]]
    try:
        done = subprocess.run(
            resolved, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(argv, -1, f"timed out after {timeout:g} s") from exc
    if done.returncode not in ok_codes:
        raise CommandFailed(argv, done.returncode, done.stderr)
    return done
