"""The kernel's log (``/dev/kmsg``, what ``dmesg`` prints), read for one block device.

``position()`` is the sequence number of the newest record now; ``device_errors(dev,
since)`` the records logged after it that name the device (``loop3``, ``nbd0``) at
warning level or worse: "I/O error, dev loop3", "Buffer I/O error on dev loop3",
"EXT4-fs error (device loop3)", "XFS (loop3): metadata I/O error"... Informational
lines (mount, unmount) are not errors. Used by ``adapters.blockdev.volume_mount``:
``volume umount`` reports what the kernel logged while the volume was mounted.
Where the log cannot be read (no permission, no /dev/kmsg), nothing is reported.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

KMSG = Path("/dev/kmsg")
KERN_WARNING = 4  # syslog levels: 0 emergency ... 3 error, 4 warning, 6 info
READ_SIZE = 8192


@dataclass(frozen=True)
class KernelRecord:
    sequence: int
    level: int
    text: str


def parse_record(raw: bytes) -> KernelRecord | None:
    """One /dev/kmsg record ("PRI,SEQ,TS,FLAGS[,...];TEXT\\n continuation lines"), or None if malformed."""
    head, sep, body = raw.decode(errors="replace").partition(";")
    fields = head.split(",")
    if not sep or len(fields) < 3 or not fields[0].isdigit() or not fields[1].isdigit():
        return None
    return KernelRecord(int(fields[1]), int(fields[0]) & 7, body.split("\n", 1)[0])


def records(path: Path = KMSG) -> Iterator[KernelRecord]:
    """Every record the kernel still holds, oldest first; none when the log cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        while True:
            try:
                raw = os.read(fd, READ_SIZE)
            except BrokenPipeError:  # records overwritten while reading: go on with the next one
                continue
            except OSError:  # EAGAIN: no more records
                return
            if not raw:
                return
            record = parse_record(raw)
            if record is not None:
                yield record
    finally:
        os.close(fd)


def position(path: Path = KMSG) -> int:
    """Sequence number of the newest record (-1 when the log is empty or cannot be read)."""
    last = -1
    for record in records(path):
        last = record.sequence
    return last


def device_errors(device: str, since: int, path: Path = KMSG) -> list[str]:
    """Warnings and errors naming ``device`` (e.g. /dev/loop3) logged after record ``since``."""
    name = Path(os.path.realpath(device)).name
    if not name:
        return []
    mentions = re.compile(rf"\b{re.escape(name)}\b")
    with contextlib.suppress(OSError):
        return [r.text for r in records(path)
                if r.sequence > since and r.level <= KERN_WARNING and mentions.search(r.text)]
    return []
