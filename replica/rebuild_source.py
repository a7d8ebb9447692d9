"""Rebuild, source side: per-chunk checksums and allocated extents of a snapshot layer.

A rebuild target calls ChunkChecksums to learn which chunks of a layer hold
data (and their digests), then streams ReadChunks for the ones it lacks. Only
allocated extents travel; each piece carries its sha256. Layers are immutable
snapshots, read through a private fd. Called by the control service.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from proto import replica_pb2 as pb
from replica import checksums
from replica import metadata as md
from replica.chain import SparseFileChain
from replica.errors import InvalidArgument, NotFound

MAX_CHUNK = 16 << 20
DEFAULT_CHUNK = 1 << 20


def layer_path(chain: SparseFileChain, layer: str) -> Path:
    with chain.lock:
        if chain.meta.snapshot(layer) is None:
            raise NotFound(f"no snapshot {layer!r}")
        return chain.directory / md.snap_file(layer)


def check_chunk_size(chunk_size: int) -> int:
    chunk_size = chunk_size or DEFAULT_CHUNK
    if chunk_size % 4096 or chunk_size > MAX_CHUNK:
        raise InvalidArgument(f"chunk size {chunk_size} must be a multiple of 4096 and <= {MAX_CHUNK}")
    return chunk_size


def _open(chain: SparseFileChain, layer: str) -> int:
    path = layer_path(chain, layer)
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise NotFound(f"layer file of {layer!r} is gone") from None


def chunk_checksums(chain: SparseFileChain, layer: str, chunk_size: int) -> pb.ChunkChecksumsReply:
    chunk_size = check_chunk_size(chunk_size)
    fd = _open(chain, layer)
    try:
        read = checksums.file_reader(fd)
        chunks = [
            pb.ChunkChecksum(index=index, extents=[v for run in runs for v in run],
                             sha256=checksums.digest_runs(runs, read))
            for index, runs in sorted(checksums.chunk_runs(fd, chunk_size).items())
        ]
        return pb.ChunkChecksumsReply(layer=layer, layer_size=os.fstat(fd).st_size, chunk_size=chunk_size,
                                      chunks=chunks)
    finally:
        os.close(fd)


def read_chunks(chain: SparseFileChain, layer: str, chunk_size: int, indices: list[int]) -> Iterator[pb.ChunkData]:
    """Each allocated piece of the wanted chunks (all allocated chunks if ``indices`` is empty)."""
    chunk_size = check_chunk_size(chunk_size)
    fd = _open(chain, layer)
    try:
        size = os.fstat(fd).st_size
        runs: Iterator[tuple[int, int]]
        if indices:
            runs = (run for i in sorted(set(indices))
                    for run in checksums.clipped_runs(fd, i * chunk_size, min(size, (i + 1) * chunk_size), chunk_size))
        else:
            runs = checksums.clipped_runs(fd, 0, size, chunk_size)
        for offset, length in runs:
            data = os.pread(fd, length, offset)
            yield pb.ChunkData(offset=offset, data=data, sha256=hashlib.sha256(data).digest(),
                               index=offset // chunk_size)
    finally:
        os.close(fd)
