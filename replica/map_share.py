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

A WRITABLE share (an engine writing a same-machine RW replica's head itself,
engine/local_replica.py) also carries a read-write descriptor of the head and
of the memfd, and a write-counter SLOT: one of the header's u64 words (1..511),
to which that engine adds each write once its data and map byte are in place.
The replica's revision counter is its own count plus every slot of every map it
has had (``writes``), so the revision stays comparable with replicas that
received the same writes by socket. Each slot has one writer. The engine sets
the slot's BUSY bit for the length of a batch: if its data connection closes
with BUSY set, the engine died mid-batch, and the replica re-marks every data
extent of its head in the map (a pwrite may have landed before its map byte).
A slot is given back (its count kept) when the connection that claimed it
closes or asks for a new share; a map without free slots hands out read-only
shares. A SHARE without WRITABLE gets the original 12-byte ``SHARE_INFO_RO``.
"""

from __future__ import annotations

import mmap
import os
import struct

PAGE = mmap.PAGESIZE
SHARE_INFO = struct.Struct("<IQI")  # number of layer fds, sectors in the map, write slot (0: read-only)
SHARE_INFO_RO = struct.Struct("<IQ")  # the answer to a SHARE without Flag.WRITABLE (and from older replicas)
MAX_LAYER_FDS = 254  # replica/location_map.py MAX_LAYERS
SLOTS = PAGE // 8  # u64 words in the header; word 0 holds the stale flag
_SLOT = struct.Struct("=Q")  # native, as the memoryview cast in writes(): both sides share one machine
BUSY = 1 << 63  # in a slot: its engine is inside a batch of direct writes


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
        self.next_slot = 1
        self.free: list[int] = []  # slots given back

    def claim_slot(self) -> int:
        """A write-counter slot for one writable share; 0 when every slot is taken."""
        if self.fd < 0:
            return 0
        if self.free:
            return self.free.pop()
        if self.next_slot >= SLOTS:
            return 0
        self.next_slot += 1
        return self.next_slot - 1

    def give_back(self, slot: int) -> tuple[int, bool]:
        """Free ``slot`` (its engine writes no more): (the writes it counted, whether BUSY was set)."""
        value = _SLOT.unpack_from(self.header, 8 * slot)[0]
        _SLOT.pack_into(self.header, 8 * slot, 0)
        self.free.append(slot)
        return value & ~BUSY, bool(value & BUSY)

    def writes(self) -> int:
        """Writes the engines holding writable shares of this map made (sum of the slots)."""
        if self.next_slot == 1:
            return 0
        return sum(v & ~BUSY for v in memoryview(self.header)[8 : 8 * self.next_slot].cast("Q"))

    def mark_stale(self) -> None:
        """Readers holding this map must fetch a new share; the memfd lives on in them."""
        self.header[0] = 1
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class MappedShare:
    """The engine's side: the received memfd mapped (read-write with a write ``slot``), and the layer fds."""

    def __init__(self, memfd: int, layer_fds: list[int], sectors: int, slot: int = 0) -> None:
        self.layer_fds = [-1, *layer_fds]  # index = layer number; 0 = hole
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if slot else 0)
        try:
            self.header = mmap.mmap(memfd, PAGE, prot=prot)
            self.loc = mmap.mmap(memfd, sectors, prot=prot, offset=PAGE)
        finally:
            os.close(memfd)
        self.sectors = sectors
        self.slot = slot
        self.head = len(layer_fds)  # the head's layer number

    def written(self) -> int:
        """What this engine's slot holds (BUSY included)."""
        return _SLOT.unpack_from(self.header, 8 * self.slot)[0]

    def set_written(self, value: int) -> None:
        _SLOT.pack_into(self.header, 8 * self.slot, value)

    @property
    def stale(self) -> bool:
        return self.header[0] != 0

    def close(self) -> None:
        for fd in self.layer_fds[1:]:
            os.close(fd)
        self.layer_fds = [-1]
        self.header.close()
        self.loc.close()
