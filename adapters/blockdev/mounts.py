"""The host's mount table, read from /proc/self/mountinfo.

Used to make mount/unmount idempotent, to find which device backs a mount
point, and to unmount every filesystem of a device before detaching it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    mount_point: str
    fstype: str
    source: str


def _unescape(field: str) -> str:
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """Mounts listed in mountinfo ``text`` (see proc(5)), in mount order."""
    found = []
    for line in text.splitlines():
        head, sep, tail = line.partition(" - ")
        if not sep:
            continue
        fields, rest = head.split(), tail.split()
        if len(fields) < 5 or len(rest) < 2:
            continue
        found.append(Mount(_unescape(fields[4]), rest[0], _unescape(rest[1])))
    return found


def mounts() -> list[Mount]:
    return parse_mountinfo(MOUNTINFO.read_text())


def _canonical(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(path)


def mount_at(path: str | os.PathLike[str]) -> Mount | None:
    """The topmost mount whose mount point is exactly ``path``, if any."""
    wanted = _canonical(path)
    on_path = [m for m in mounts() if m.mount_point == wanted]
    return on_path[-1] if on_path else None


def mounts_of(device: str | os.PathLike[str]) -> list[Mount]:
    """Every mount whose source is ``device``, most recent first (the order to unmount them)."""
    wanted = _canonical(device)
    return [m for m in reversed(mounts()) if m.source.startswith("/") and _canonical(m.source) == wanted]
