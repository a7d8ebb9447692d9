"""Checksums of layer contents: whole-layer checksum (with a sidecar file) and per-chunk.

A layer's logical content is its set of allocated extents and their bytes (a
hole means "see the older layer", which is not the same as zeros). A chunk
digest is xxh3-128 over, for each allocated run clipped to the chunk grid, its
u64le offset, u64le length and data — the same allocation and bytes give the
same digest on any replica. The layer checksum is sha256 over (u64le index,
chunk digest) of each allocated 1 MiB chunk, ascending: one xxh3 pass over the
data (ten times faster than sha256 of the bytes). A rebuild stream carries the
running chunk digest with each piece (StreamDigests): the source fills its sidecar
from them (SidecarTap) and the target gets the layer checksum from the digests it
verified in transit, neither re-reading the layer.
Used by the control service (Checksum) and the rebuild source and target.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import xxhash

from replica.errors import Corrupt
from replica.sparse import data_extents

GRID = 1 << 20
PIECE = struct.Struct("<QQ")
INDEX = struct.Struct("<Q")
_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
Reader = Callable[[int, int], bytes | bytearray]


def clipped_runs(fd: int, start: int, end: int, grid: int) -> Iterator[tuple[int, int]]:
    """Allocated runs of ``fd`` in [start, end), split at multiples of ``grid``."""
    for offset, length in data_extents(fd, start, end):
        stop = offset + length
        while offset < stop:
            cut = min(stop, (offset // grid + 1) * grid)
            yield offset, cut - offset
            offset = cut


def fast_digest(data: bytes | memoryview) -> bytes:
    return xxhash.xxh3_128_digest(data)


def digest_runs(runs: list[tuple[int, int]] | Iterator[tuple[int, int]], read: Reader) -> bytes:
    """xxh3-128 over (offset, length, data) of each run."""
    h = xxhash.xxh3_128()
    for offset, length in runs:
        h.update(PIECE.pack(offset, length))
        h.update(read(offset, length))
    return h.digest()


class StreamDigests:
    """The digest of each piece of a rebuild stream: xxh3-128 over (offset, length, data) of the
    piece and of the earlier pieces of its GRID chunk. Pieces come in ascending order, each one
    whole allocated run clipped to the grid, so the last digest of a chunk is its chunk digest
    (``digest_runs``): source and target hash every byte once, and get the layer checksum from it."""

    def __init__(self) -> None:
        self._index = -1
        self._h: Any = None
        self.digests: dict[int, bytes] = {}  # chunk index -> digest of its pieces so far

    def update(self, offset: int, data: bytes | memoryview) -> bytes:
        index = offset // GRID
        if offset + len(data) > (index + 1) * GRID or index < self._index:
            raise Corrupt(f"stream piece at {offset} (+{len(data)}) crosses a chunk or comes out of order")
        if index != self._index:
            self._index, self._h = index, xxhash.xxh3_128()
        self._h.update(PIECE.pack(offset, len(data)))
        self._h.update(data)
        digest: bytes = self._h.digest()
        self.digests[index] = digest
        return digest


def file_reader(fd: int) -> Reader:
    def read(offset: int, length: int) -> bytes:
        data = os.pread(fd, length, offset)
        return data if len(data) == length else data + bytes(length - len(data))

    return read


class LayerChecksum:
    """Hex sha256 over (u64le index, digest) of each allocated GRID chunk, added in ascending order."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, index: int, digest: bytes) -> None:
        self._h.update(INDEX.pack(index))
        self._h.update(digest)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def layer_checksum(chunk_digests: Iterable[tuple[int, bytes]]) -> str:
    total = LayerChecksum()
    for index, digest in chunk_digests:
        total.add(index, digest)
    return total.hexdigest()


def layer_sha256(fd: int) -> str:
    """The layer checksum of a layer file's logical content (reads the allocated data once)."""
    read = file_reader(fd)
    return layer_checksum((index, digest_runs(runs, read)) for index, runs in sorted(chunk_runs(fd, GRID).items()))


def chunk_runs(fd: int, chunk_size: int) -> dict[int, list[tuple[int, int]]]:
    """Allocated runs of ``fd`` grouped by chunk index (allocated chunks only)."""
    chunks: dict[int, list[tuple[int, int]]] = {}
    for offset, length in clipped_runs(fd, 0, os.fstat(fd).st_size, chunk_size):
        chunks.setdefault(offset // chunk_size, []).append((offset, length))
    return chunks


def chunk_digest(fd: int, index: int, chunk_size: int) -> bytes:
    start = index * chunk_size
    return digest_runs(clipped_runs(fd, start, start + chunk_size, chunk_size), file_reader(fd))


def sidecar(layer_path: Path) -> Path:
    return layer_path.with_name(layer_path.name + ".checksum")


def lock_for(layer_path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(layer_path, threading.Lock())


def stored_or_computed(layer_path: Path, recompute: bool) -> str:
    """The layer's checksum from its sidecar, computing (and storing) it if missing or asked.
    One computation per layer at a time; concurrent callers wait for it."""
    with lock_for(layer_path):
        side = sidecar(layer_path)
        if not recompute and side.exists():
            return str(json.loads(side.read_text())["sha256"])
        fd = os.open(layer_path, os.O_RDONLY)
        try:
            value = layer_sha256(fd)
        finally:
            os.close(fd)
        store(layer_path, value)
        return value


class SidecarTap:
    """Fills a layer's sidecar from the piece digests (StreamDigests) of a stream of ALL its
    allocated data, so the layer is not read a second time for it. Stores nothing if the
    pieces are not exactly the layer's runs clipped to the grid, or the file changed meanwhile."""

    def __init__(self, layer_path: Path, fd: int) -> None:
        self.path, self.stamp = layer_path, _stamp(os.fstat(fd))
        self._expected = clipped_runs(fd, 0, os.fstat(fd).st_size, GRID)  # lazy: one run at a time
        self._last: tuple[int, bytes] | None = None
        self._sum = LayerChecksum()
        self.complete = True

    def feed(self, offset: int, length: int, digest: bytes) -> None:
        if not self.complete:
            return
        if next(self._expected, None) != (offset, length):
            self.complete = False
            return
        index = offset // GRID
        if self._last is not None and self._last[0] != index:
            self._sum.add(*self._last)
        self._last = (index, digest)

    def done(self) -> None:
        if not self.complete or next(self._expected, None) is not None:
            return
        if self._last is not None:
            self._sum.add(*self._last)
        with lock_for(self.path):
            if not sidecar(self.path).exists() and _stamp(os.stat(self.path)) == self.stamp:
                store(self.path, self._sum.hexdigest())


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_ino, st.st_size, st.st_mtime_ns


def compute_in_background(layer_path: Path) -> None:
    """Start filling the layer's sidecar on another thread (sha256 releases the GIL), so a
    later Checksum call finds it ready or waits only for the rest."""
    if not sidecar(layer_path).exists():
        threading.Thread(target=stored_or_computed, args=(layer_path, False), daemon=True,
                         name="layer-checksum").start()


def store(layer_path: Path, value: str) -> None:
    # imported here: replica.metadata loads pydantic (~0.3 s), and the engine and its CLI import this
    # module (through the replica client and the rebuild stream) without ever storing a sidecar
    from replica.metadata import write_atomic

    write_atomic(sidecar(layer_path), json.dumps({"sha256": value}).encode(), durable=False)


def invalidate(layer_path: Path) -> None:
    """Forget the stored checksum before the layer changes (waits for a running computation,
    which would otherwise store a value of the old content)."""
    with lock_for(layer_path):
        sidecar(layer_path).unlink(missing_ok=True)
