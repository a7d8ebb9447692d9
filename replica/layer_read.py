"""Reading a volume's bytes from its layer files through a location map.

Shared by the replica's chain (replica/chain.py) and by an engine that reads
a same-machine replica's files directly (engine/local_replica.py), so both
resolve sectors to layers the same way. ``fds[i]`` is layer i's file (index 0
unused: a hole reads zeros); ``loc`` holds one layer number per 4096-byte sector.
The caller checks that the range lies inside the volume.
"""

from __future__ import annotations

import mmap
import os
import re

from replica.wire import MAX_IO

ZEROS = memoryview(mmap.mmap(-1, MAX_IO, prot=mmap.PROT_READ))  # zero pages, never written
_RUN = re.compile(rb"(.)\1*", re.S)


def read_layers(fds: list[int], loc: bytearray | mmap.mmap, buf: memoryview, offset: int) -> None:
    """Fill ``buf`` with the volume's bytes at ``offset`` (one preadv per run of one layer)."""
    end = offset + len(buf)
    first, last = offset >> 12, (end + 4095) >> 12
    if last - first == 1:
        read_layer(fds[loc[first]], buf, offset)
        return
    seg = loc[first:last]
    if seg.count(seg[0]) == len(seg):
        read_layer(fds[seg[0]], buf, offset)
        return
    for match in _RUN.finditer(seg):
        start = max((first + match.start()) << 12, offset)
        stop = min((first + match.end()) << 12, end)
        read_layer(fds[seg[match.start()]], buf[start - offset : stop - offset], start)


def read_layer(fd: int, dst: memoryview, offset: int) -> None:
    if fd < 0:
        dst[:] = ZEROS[: len(dst)]
        return
    got = os.preadv(fd, [dst], offset)
    if got < len(dst):  # the layer file is shorter than the volume (grown later)
        dst[got:] = ZEROS[: len(dst) - got]
