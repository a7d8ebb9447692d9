"""Checksums of layer contents: whole-layer sha256 (with a sidecar file) and per-chunk.

A layer's logical content is its set of allocated extents and their bytes (a
hole means "see the older layer", which is not the same as zeros). A digest
covers, for each allocated run clipped to a fixed grid (chunks for chunk sums,
1 MiB for whole layers), its u64le offset, u64le length and data — the same
allocation and bytes give the same digest on any replica. Whole layers use
sha256 (stored once in a sidecar); chunk digests and transfer checks use
xxh3-128, ten times faster, since rebuild hashes every byte several times.
Used by the control service (Checksum) and the rebuild source and target.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import xxhash

from replica.metadata import write_atomic
from replica.sparse import data_extents

GRID = 1 << 20
PIECE = struct.Struct("<QQ")
_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
Reader = Callable[[int, int], bytes]


def clipped_runs(fd: int, start: int, end: int, grid: int) -> Iterator[tuple[int, int]]:
    """Allocated runs of ``fd`` in [start, end), split at multiples of ``grid``."""
    for offset, length in data_extents(fd, start, end):
        stop = offset + length
        while offset < stop:
            cut = min(stop, (offset // grid + 1) * grid)
            yield offset, cut - offset
            offset = cut


def fast_digest(data: bytes) -> bytes:
    return xxhash.xxh3_128_digest(data)


def digest_runs(runs: list[tuple[int, int]] | Iterator[tuple[int, int]], read: Reader,
                also: Any = None, strong: bool = False) -> bytes:
    """Digest (xxh3-128, or sha256 if ``strong``) over (offset, length, data) of each run;
    ``also`` (another hash object) is fed the same bytes."""
    h: Any = hashlib.sha256() if strong else xxhash.xxh3_128()
    for offset, length in runs:
        head, data = PIECE.pack(offset, length), read(offset, length)
        h.update(head)
        h.update(data)
        if also is not None:
            also.update(head)
            also.update(data)
    return h.digest()


def file_reader(fd: int) -> Reader:
    def read(offset: int, length: int) -> bytes:
        data = os.pread(fd, length, offset)
        return data if len(data) == length else data + bytes(length - len(data))

    return read


def layer_sha256(fd: int) -> str:
    """Hex sha256 of a layer file's logical content."""
    size = os.fstat(fd).st_size
    return digest_runs(clipped_runs(fd, 0, size, GRID), file_reader(fd), strong=True).hex()


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


def _lock(layer_path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(layer_path, threading.Lock())


def stored_or_computed(layer_path: Path, recompute: bool) -> str:
    """The layer's checksum from its sidecar, computing (and storing) it if missing or asked.
    One computation per layer at a time; concurrent callers wait for it."""
    with _lock(layer_path):
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


def compute_in_background(layer_path: Path) -> None:
    """Start filling the layer's sidecar on another thread (sha256 releases the GIL), so a
    later Checksum call finds it ready or waits only for the rest."""
    if not sidecar(layer_path).exists():
        threading.Thread(target=stored_or_computed, args=(layer_path, False), daemon=True,
                         name="layer-checksum").start()


def store(layer_path: Path, value: str) -> None:
    write_atomic(sidecar(layer_path), json.dumps({"sha256": value}).encode(), durable=False)


def invalidate(layer_path: Path) -> None:
    """Forget the stored checksum before the layer changes (waits for a running computation,
    which would otherwise store a value of the old content)."""
    with _lock(layer_path):
        sidecar(layer_path).unlink(missing_ok=True)
