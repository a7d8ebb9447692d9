"""Location maps a replica shares with an engine on the same machine.

The replica keeps each layer chain's location map (one byte per sector: the
newest layer holding it, replica/location_map.py) in a memfd, so that an
engine connected over the replica's unix data socket can read the volume
straight from the layer files, without a round trip per read. The SHARE data
request (replica/wire.py) answers with this memfd and the layer files' fds
(SCM_RIGHTS) and a ``SHARE_INFO`` payload.

The memfd's first page is a header whose byte 0 is the STALE flag. The
replica sets it, under the chain lock, BEFORE it changes the layer set or
moves the map (snapshot, revert, expand, purge, reopen); from then on it
updates a fresh memfd only. A reader checks the flag AFTER its reads: if it is
still clear, nothing its reads depended on had changed (a seqlock's read side).
"""

from __future__ import annotations

import mmap
import os
import struct

PAGE = mmap.PAGESIZE
SHARE_INFO = struct.Struct("<IQ")  # number of layer fds, sectors in the map
MAX_LAYER_FDS = 254  # replica/location_map.py MAX_LAYERS


class SharedMap:
    """The replica's side: a memfd holding the header page and ``sectors`` map bytes."""

    def __init__(self, sectors: int) -> None:
        self.fd = os.memfd_create("pronghorn-location-map", os.MFD_CLOEXEC)
        try:
            os.ftruncate(self.fd, PAGE + sectors)
            self.header = mmap.mmap(self.fd, PAGE)
            self.data = mmap.mmap(self.fd, sectors, offset=PAGE)
        except BaseException:
            os.close(self.fd)
            raise
        self.sectors = sectors

    def mark_stale(self) -> None:
        """Readers holding this map must fetch a new share; the memfd lives on in them."""
        self.header[0] = 1
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class MappedShare:
    """The engine's side: the received memfd mapped read-only, and the layer fds."""

    def __init__(self, memfd: int, layer_fds: list[int], sectors: int) -> None:
        self.layer_fds = [-1, *layer_fds]  # index = layer number; 0 = hole
        try:
            self.header = mmap.mmap(memfd, PAGE, prot=mmap.PROT_READ)
            self.loc = mmap.mmap(memfd, sectors, prot=mmap.PROT_READ, offset=PAGE)
        finally:
            os.close(memfd)
        self.sectors = sectors

    @property
    def stale(self) -> bool:
        return self.header[0] != 0

    def close(self) -> None:
        for fd in self.layer_fds[1:]:
            os.close(fd)
        self.layer_fds = [-1]
        self.header.close()
        self.loc.close()
