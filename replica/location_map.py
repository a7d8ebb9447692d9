"""In-memory location map: for each 4096-byte sector, the newest layer holding it.

Layer indices: 0 = no layer (a hole, reads zeros), 1 = bottom of the active
chain, ..., n = head. ``loc`` is the map used by reads; ``base`` is the same
map without the head (needed by UNMAP to know where an older layer holds data).
Built from SEEK_DATA/SEEK_HOLE only, never by reading data. Used by
replica/chain.py; one byte per sector per map, so <= 254 layers. ``loc`` lives
in a memfd an engine on the same machine may map (replica/map_share.py):
:meth:`retire` moves it to a fresh memfd and marks the old one stale.
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterator

from replica.map_share import SharedMap
from replica.sparse import data_extents
from replica.wire import SECTOR

MAX_LAYERS = 254
_RUN = re.compile(rb"(.)\1*", re.S)


class LocationMap:
    def __init__(self, sectors: int) -> None:
        self.share: SharedMap | None = SharedMap(sectors) if sectors else None
        self.loc: bytearray | mmap.mmap = self.share.data if self.share else bytearray(0)
        self.base = bytearray(sectors)
        self.retired_writes = 0  # engine writes counted in the slots of memfds this map has left

    @classmethod
    def build(cls, sectors: int, layer_fds: list[int]) -> LocationMap:
        """Map for layers given bottom first (the last one is the head)."""
        if len(layer_fds) > MAX_LAYERS:
            raise ValueError(f"chain of {len(layer_fds)} layers exceeds {MAX_LAYERS}")
        lmap = cls(sectors)
        for index, fd in enumerate(layer_fds, start=1):
            if index == len(layer_fds):
                lmap.base[:] = lmap.loc
            lmap.mark_data(fd, index)
        return lmap

    def mark_data(self, fd: int, layer: int) -> None:
        """Point every sector holding data in ``fd`` (SEEK_DATA/SEEK_HOLE) at ``layer``."""
        sectors = len(self.base)
        for offset, length in data_extents(fd, 0, sectors * SECTOR):
            first = offset // SECTOR
            last = min(sectors, -(-(offset + length) // SECTOR))
            self.loc[first:last] = bytes((layer,)) * (last - first)

    @property
    def sectors(self) -> int:
        return len(self.base)

    def has_data(self) -> bool:
        """Some sector is in a layer (not every sector a hole)."""
        return bytes(self.loc).count(0) != len(self.loc)

    def mark_stale(self) -> None:
        """Readers of the shared map must fetch a new share (this map is about to be replaced)."""
        if self.share is not None:
            self.share.mark_stale()

    def give_back(self, share: SharedMap, slot: int) -> bool:
        """A writable share's connection is done: keep its count, free its slot. True if the
        engine died inside a batch (the slot was BUSY). A retired map's counts are kept already."""
        if share is not self.share:
            return False
        count, busy = share.give_back(slot)
        self.retired_writes += count
        return busy

    def shared_writes(self) -> int:
        """Writes engines made directly to the head through shares of this map (replica/map_share.py)."""
        return self.retired_writes + (self.share.writes() if self.share is not None else 0)

    def retire(self, sectors: int | None = None) -> None:
        """Mark the shared map stale and go on in a fresh one (grown to ``sectors``)."""
        sectors = len(self.base) if sectors is None else sectors
        self.mark_stale()  # first: readers of the old map must see it before anything changes
        self.retired_writes = self.shared_writes()
        self.share = SharedMap(sectors) if sectors else None
        fresh = self.share.data if self.share else bytearray(0)
        keep = min(len(self.loc), sectors)
        fresh[:keep] = self.loc[:keep]
        self.loc = fresh

    def runs(self, first: int, last: int, which: bytearray | None = None) -> Iterator[tuple[int, int, int]]:
        """Yield (layer, first, last) for maximal runs of one layer in sectors [first, last)."""
        table = self.loc if which is None else which
        if last - first == 1:
            yield table[first], first, last
            return
        seg = bytes(table[first:last])
        if seg.count(seg[0]) == len(seg):
            yield seg[0], first, last
            return
        for match in _RUN.finditer(seg):
            yield seg[match.start()], first + match.start(), first + match.end()

    def set(self, first: int, last: int, layer: int) -> None:
        if last - first == 1:
            self.loc[first] = layer
        else:
            self.loc[first:last] = bytes((layer,)) * (last - first)

    def seal_head(self) -> None:
        """The head became a snapshot: everything mapped now is below the new head."""
        self.base[:] = self.loc

    def grow(self, sectors: int) -> None:
        extra = sectors - len(self.base)
        if extra > 0:
            self.retire(sectors)
            self.base.extend(bytes(extra))
