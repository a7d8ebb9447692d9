"""Checksums of layer contents: whole-layer sha256 (with a sidecar file) and per-chunk.

A layer's logical content is its set of allocated extents and their bytes (a
hole means "see the older layer", which is not the same as zeros). The digest
covers, for each allocated run clipped to a fixed grid (chunks for chunk sums,
1 MiB for whole layers), its u64le offset, u64le length and data — the same
allocation and bytes give the same digest on any replica. Used by the control
service (Checksum), the rebuild source (ChunkChecksums) and the rebuild target.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

from replica.metadata import write_atomic
from replica.sparse import data_extents

GRID = 1 << 20
PIECE = struct.Struct("<QQ")
Reader = Callable[[int, int], bytes]


def clipped_runs(fd: int, start: int, end: int, grid: int) -> Iterator[tuple[int, int]]:
    """Allocated runs of ``fd`` in [start, end), split at multiples of ``grid``."""
    for offset, length in data_extents(fd, start, end):
        stop = offset + length
        while offset < stop:
            cut = min(stop, (offset // grid + 1) * grid)
            yield offset, cut - offset
            offset = cut


def digest_runs(runs: list[tuple[int, int]] | Iterator[tuple[int, int]], read: Reader) -> bytes:
    h = hashlib.sha256()
    for offset, length in runs:
        h.update(PIECE.pack(offset, length))
        h.update(read(offset, length))
    return h.digest()


def file_reader(fd: int) -> Reader:
    def read(offset: int, length: int) -> bytes:
        data = os.pread(fd, length, offset)
        return data + bytes(length - len(data))

    return read


def layer_sha256(fd: int) -> str:
    """Hex sha256 of a layer file's logical content."""
    size = os.fstat(fd).st_size
    return digest_runs(clipped_runs(fd, 0, size, GRID), file_reader(fd)).hex()


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


def stored_or_computed(layer_path: Path, recompute: bool) -> str:
    """The layer's checksum from its sidecar, computing (and storing) it if missing or asked."""
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


def store(layer_path: Path, value: str) -> None:
    write_atomic(sidecar(layer_path), json.dumps({"sha256": value}).encode(), durable=False)


def invalidate(layer_path: Path) -> None:
    sidecar(layer_path).unlink(missing_ok=True)
