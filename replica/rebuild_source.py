"""Rebuild, source side: per-chunk checksums and allocated extents of a snapshot layer.

A rebuild target calls ChunkChecksums to learn which chunks of a layer hold
data (and their digests), then streams ReadChunks for the ones it lacks. Only
allocated extents travel; each piece carries its xxh3-128 digest. Layers are immutable
snapshots, read through a private fd. Called by the control service.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from proto import replica_pb2 as pb
from replica import checksums, sparse
from replica import metadata as md
from replica.chain import SparseFileChain
from replica.errors import InvalidArgument, NotFound

MAX_CHUNK = 16 << 20
DEFAULT_CHUNK = 1 << 20
MESSAGE = 4 << 20  # largest ReadChunks message payload


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
    path = layer_path(chain, layer)
    checksums.compute_in_background(path)  # the target asks for it at the end
    fd = _open(chain, layer)
    try:
        read = checksums.file_reader(fd)
        chunks = [
            pb.ChunkChecksum(index=index, extents=[v for run in runs for v in run],
                             digest=checksums.digest_runs(runs, read))
            for index, runs in sorted(checksums.chunk_runs(fd, chunk_size).items())
        ]
        return pb.ChunkChecksumsReply(layer=layer, layer_size=os.fstat(fd).st_size, chunk_size=chunk_size,
                                      chunks=chunks)
    finally:
        os.close(fd)


def read_chunks(chain: SparseFileChain, layer: str, chunk_size: int, indices: list[int]) -> Iterator[pb.ChunkData]:
    """The allocated data of the wanted chunks (all allocated chunks if ``indices`` is empty).

    Contiguous runs are sent together in messages of up to MESSAGE bytes (``index`` is the
    chunk of the first byte): fewer, larger messages are what makes a gRPC stream fast."""
    chunk_size = check_chunk_size(chunk_size)
    fd = _open(chain, layer)
    try:
        size = os.fstat(fd).st_size
        runs: Iterator[tuple[int, int]]
        if indices:
            runs = (run for i in sorted(set(indices))
                    for run in sparse.data_extents(fd, i * chunk_size, min(size, (i + 1) * chunk_size)))
        else:
            runs = sparse.data_extents(fd, 0, size)
        for offset, length in _merged(runs):
            data = os.pread(fd, length, offset)
            yield pb.ChunkData(offset=offset, data=data, digest=checksums.fast_digest(data), index=offset // chunk_size)
    finally:
        os.close(fd)


def _merged(runs: Iterator[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Join touching runs, then cut into pieces of at most MESSAGE bytes."""
    start = stop = -1
    for offset, length in runs:
        if offset == stop:
            stop += length
            continue
        if stop > start:
            yield from _pieces(start, stop)
        start, stop = offset, offset + length
    if stop > start:
        yield from _pieces(start, stop)


def _pieces(start: int, stop: int) -> Iterator[tuple[int, int]]:
    for pos in range(start, stop, MESSAGE):
        yield pos, min(MESSAGE, stop - pos)
