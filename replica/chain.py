"""SparseFileChain: one replica's layers (snapshots + head) and its block I/O.

Reads resolve each sector's newest layer through the location map and
``os.preadv`` straight into the caller's buffer; writes go to the head with
``os.pwrite``; UNMAP punches holes; FLUSH is fdatasync plus a durable revision
counter. Errors are ``OSError`` with an errno (EINVAL for out-of-range I/O),
which the data server sends back as the response status. Snapshot, revert,
purge and expand live in replica/chain_edits.py; they hold ``lock`` as the
data server does for each batch of requests.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
from pathlib import Path

from replica import metadata as md
from replica.layer_read import ZEROS, read_layers
from replica.location_map import LocationMap
from replica.map_share import SharedMap
from replica.sparse import punch_hole
from replica.wire import MAX_IO, SECTOR, Flag

assert SECTOR == 1 << 12  # the hot path shifts by 12
log = logging.getLogger(__name__)
_FUA = int(Flag.FUA)
_ZERO = int(Flag.ZERO)


def _einval(what: str) -> OSError:
    return OSError(errno.EINVAL, what)


class SparseFileChain:
    """``SparseFileChain(dir)`` opens an existing replica directory (finishing or discarding
    an interrupted change); :meth:`create` makes a new one; ``readonly`` opens without any
    recovery or writes (used for a rebuild's basis)."""

    def __init__(self, directory: Path, readonly: bool = False) -> None:
        self.directory = directory
        self.readonly = readonly
        self.lock = threading.RLock()
        self.meta = md.load_volume_meta(directory)
        self._revision = md.load_revision(directory)  # + writes engines made through shares: `revision`
        self._saved_revision = self._revision
        self.fds: list[int] = []
        self.map = LocationMap(0)
        if not readonly:
            self._recover()
        self._open_layers()

    # --- opening ---------------------------------------------------------
    @classmethod
    def create(cls, directory: Path, size: int) -> SparseFileChain:
        if size <= 0 or size % SECTOR:
            raise ValueError(f"size must be a positive multiple of {SECTOR}, got {size}")
        directory.mkdir(parents=True, exist_ok=True)
        head = md.head_file(0)
        with open(directory / head, "wb") as f:
            f.truncate(size)
        md.save_revision(directory, 0)
        md.save_volume_meta(directory, md.VolumeMeta(size=size, head=head))
        return cls(directory)

    @classmethod
    def open_or_create(cls, directory: Path, size: int) -> SparseFileChain:
        if (directory / md.VOLUME_META).exists():
            return cls(directory)
        return cls.create(directory, size)

    def _recover(self) -> None:
        """Finish interrupted renames, delete unreferenced files, make the head full size."""
        self.finish_pending()
        self.collect_garbage()
        if not self.meta.rebuilding:  # a finished rebuild's leftovers (crash before their deletion)
            for leftover in (md.BASIS_DIR, md.BASIS_DIR + ".tmp", md.PARTIALS_DIR):
                shutil.rmtree(self.directory / leftover, ignore_errors=True)
        head = self.directory / self.meta.head
        if head.stat().st_size < self.meta.size:
            os.truncate(head, self.meta.size)

    def finish_pending(self) -> None:
        """Roll forward the renames a committed volume.meta still lists as pending."""
        if not self.meta.pending:
            return
        for rename in self.meta.pending:
            if (self.directory / rename.source).exists():
                os.replace(self.directory / rename.source, self.directory / rename.target)
        md.fsync_dir(self.directory)
        self.meta.pending = []
        md.save_volume_meta(self.directory, self.meta)

    def collect_garbage(self) -> None:
        """Delete layer files (and temp files) that the committed volume.meta does not reference."""
        keep = md.referenced_files(self.meta)
        removed = False
        for path in self.directory.iterdir():
            name = path.name
            layer_like = name.startswith(("volume-head-", md.SNAP_PREFIX))
            if path.is_file() and ((layer_like and name not in keep) or name.endswith(".tmp")):
                path.unlink()
                removed = True
        if removed:
            md.fsync_dir(self.directory)

    def _open_layers(self) -> None:
        files = [md.snap_file(n) for n in self.meta.active_chain()] + [self.meta.head]
        fds: list[int] = []
        try:
            for i, name in enumerate(files):
                writable = i == len(files) - 1 and not self.readonly
                fds.append(os.open(self.directory / name, os.O_RDWR if writable else os.O_RDONLY))
            fresh = LocationMap.build(self.meta.size // SECTOR, fds)
            self._revision += self.map.shared_writes()  # the old map's engine writes stay counted
            self.map = fresh
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        self.fds = [-1, *fds]

    def reopen(self) -> None:
        """Re-read volume.meta and rebuild fds and map (after a chain edit)."""
        with self.lock:
            self.map.mark_stale()
            self._close_fds()
            self.meta = md.load_volume_meta(self.directory)
            self._open_layers()

    def _close_fds(self) -> None:
        for fd in self.fds[1:]:
            os.close(fd)
        self.fds = []

    def close(self) -> None:
        with self.lock:
            if self.fds and not self.readonly:
                self.flush()
            self._close_fds()
            self.map.mark_stale()  # closes the map's memfd (an engine's mapping of it lives on)

    # --- properties ------------------------------------------------------
    @property
    def revision(self) -> int:
        """Writes and unmaps applied: this process's own and those engines made through shares."""
        return self._revision + self.map.shared_writes()

    @revision.setter
    def revision(self, value: int) -> None:
        self._revision = value - self.map.shared_writes()

    @property
    def size(self) -> int:
        return self.meta.size

    @property
    def rebuilding(self) -> bool:
        return self.meta.rebuilding

    @property
    def head_index(self) -> int:
        return len(self.fds) - 1

    @property
    def head_fd(self) -> int:
        return self.fds[-1]

    # --- block I/O -------------------------------------------------------
    def _check(self, offset: int, length: int) -> None:
        if length > MAX_IO or offset + length > self.meta.size:
            raise _einval(f"I/O [{offset}, +{length}) outside volume of {self.meta.size} bytes")

    def read_into(self, buf: memoryview, offset: int) -> None:
        """Fill ``buf`` with the volume's bytes at ``offset``."""
        length = len(buf)
        if length > MAX_IO or offset + length > self.meta.size:
            raise _einval(f"I/O [{offset}, +{length}) outside volume of {self.meta.size} bytes")
        if length:
            read_layers(self.fds, self.map.loc, buf, offset)

    def share(self) -> tuple[int, list[int], int]:
        """(memfd of the location map, layer fds bottom to head, sectors) for a same-machine
        engine (replica/map_share.py); call with ``lock`` held."""
        if self.map.share is None or self.map.share.fd < 0:  # marked stale by an edit that kept the map
            self.map.retire()
        assert self.map.share is not None
        return self.map.share.fd, self.fds[1:], self.map.sectors

    def claim_write_slot(self) -> tuple[SharedMap, int] | None:
        """A write slot in the current shared map for a writable share (None: none; not while this
        replica is a rebuild target or opened read-only); call after `share` with ``lock`` held."""
        share = self.map.share
        if self.readonly or self.meta.rebuilding or share is None:
            return None
        slot = share.claim_slot()
        return (share, slot) if slot else None

    def give_back_write_slot(self, share: SharedMap, slot: int) -> None:
        """The engine holding this slot writes no more (its connection closed or re-shared)."""
        with self.lock:
            if self.map.give_back(share, slot) and self.fds:
                self.remark_head()

    def remark_head(self) -> None:
        """Point the map at the head for every data extent of the head file: an engine that died
        between a direct pwrite and its map byte left data the map does not show."""
        self.map.mark_data(self.head_fd, self.head_index)
        log.warning("%s: an engine died inside a batch of direct writes; head re-marked in the map",
                    self.directory)

    def retire_share(self) -> None:
        """Before a change of the layer set: engines reading this chain's files directly must
        fetch a new share (call with ``lock`` held)."""
        self.map.retire()

    def write(self, data: memoryview | bytes, offset: int, flags: int = 0) -> None:
        length = len(data)
        end = offset + length
        if length > MAX_IO or end > self.meta.size:
            raise _einval(f"I/O [{offset}, +{length}) outside volume of {self.meta.size} bytes")
        if not (offset | length) & 4095 and length:  # aligned: the hot path, inline
            fds = self.fds
            head = len(fds) - 1
            done = os.pwrite(fds[head], data, offset)
            if done < length:
                self._pwrite(memoryview(data)[done:], offset + done)
            if length == 4096:
                self.map.loc[offset >> 12] = head
            else:
                self.map.set(offset >> 12, end >> 12, head)
        elif length:
            self._write_unaligned(data, offset)
        else:
            return
        self._revision += 1
        if flags & _FUA:
            self.flush()

    def _pwrite(self, data: memoryview | bytes, offset: int) -> None:
        fd = self.fds[-1]
        done = os.pwrite(fd, data, offset)
        while done < len(data):
            done += os.pwrite(fd, memoryview(data)[done:], offset + done)
        first, last = offset >> 12, (offset + len(data)) >> 12
        if last - first == 1:
            self.map.loc[first] = len(self.fds) - 1
        else:
            self.map.set(first, last, len(self.fds) - 1)

    def _write_unaligned(self, data: memoryview | bytes, offset: int) -> None:
        start = offset - offset % SECTOR
        stop = -(-(offset + len(data)) // SECTOR) * SECTOR
        merged = bytearray(stop - start)
        view = memoryview(merged)
        head_partial = offset != start
        if head_partial:
            self.read_into(view[:SECTOR], start)
        if (offset + len(data)) % SECTOR and not (head_partial and stop - start == SECTOR):
            self.read_into(view[-SECTOR:], stop - SECTOR)
        view[offset - start : offset - start + len(data)] = data
        self._pwrite(view, start)

    def unmap(self, offset: int, length: int, flags: int = 0) -> None:
        """TRIM (advisory) or, with Flag.ZERO, make the range read zeros."""
        self._check(offset, length)
        if length == 0:
            return
        end = offset + length
        first, last = -(-offset // SECTOR), end // SECTOR
        zero = bool(flags & _ZERO)
        if zero:
            if first >= last:
                self._write_unaligned(ZEROS[:length], offset)
            else:
                if offset < first * SECTOR:
                    self._write_unaligned(ZEROS[: first * SECTOR - offset], offset)
                if last * SECTOR < end:
                    self._write_unaligned(ZEROS[: end - last * SECTOR], last * SECTOR)
        for below, a, b in self.map.runs(first, last, self.map.base) if first < last else ():
            if below == 0:  # map first: an engine's direct write racing us then ends with data
                self.map.set(a, b, 0)  # and map both present or both gone, never data the map hides
                punch_hole(self.head_fd, a * SECTOR, (b - a) * SECTOR)
            elif zero:
                for pos in range(a * SECTOR, b * SECTOR, MAX_IO):
                    self._pwrite(ZEROS[: min(MAX_IO, b * SECTOR - pos)], pos)
        self._revision += 1
        if flags & _FUA:
            self.flush()

    def flush(self) -> None:
        """Make every completed write durable, and the revision counter with it."""
        os.fdatasync(self.head_fd)
        self.save_revision()

    def save_revision(self) -> None:
        revision = self.revision
        if revision != self._saved_revision:
            md.save_revision(self.directory, revision)
            self._saved_revision = revision
