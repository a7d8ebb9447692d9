"""Rebuild, source side: per-chunk checksums and allocated extents of a snapshot layer.

A rebuild target calls ChunkChecksums to learn which chunks of a layer hold
data (and their digests, unless it has nothing to compare them with), then
streams their data (StreamChunks: a plain TCP stream in pieces cut at the 1 MiB
checksum grid, each with its running chunk digest; ReadChunks: the same data over
gRPC in larger messages, each with the xxh3-128 of its bytes) for the ones it lacks.
Only allocated extents travel. Layers are immutable snapshots, read through a
private fd. Called by the control service.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from proto import replica_pb2 as pb
from replica import checksums, rebuild_stream, sparse
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


def chunk_checksums(chain: SparseFileChain, layer: str, chunk_size: int,
                    extents_only: bool = False) -> pb.ChunkChecksumsReply:
    """The allocated chunks of ``layer`` with their extents and digests (no digests, and no
    reading of the data, if ``extents_only``). Digests on the 1 MiB grid also give the layer
    checksum, stored in the sidecar on the way; with ``extents_only`` the data stream that
    follows fills it (stream_chunks); otherwise it is computed in the background (the
    target's engine asks for it at the end)."""
    chunk_size = check_chunk_size(chunk_size)
    path = layer_path(chain, layer)
    fills_sidecar = chunk_size == checksums.GRID and not extents_only
    if not fills_sidecar and not extents_only:
        checksums.compute_in_background(path)
    fd = _open(chain, layer)
    try:
        with checksums.lock_for(path):  # a chain edit changing the layer waits for the sidecar
            read = checksums.file_reader(fd)
            chunks = [
                pb.ChunkChecksum(index=index, extents=[v for run in runs for v in run],
                                 digest=b"" if extents_only else checksums.digest_runs(runs, read))
                for index, runs in sorted(checksums.chunk_runs(fd, chunk_size).items())
            ]
            if fills_sidecar:
                checksums.store(path, checksums.layer_checksum((c.index, c.digest) for c in chunks))
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
        for offset, length in _pieces_of(fd, chunk_size, indices):
            data = os.pread(fd, length, offset)
            yield pb.ChunkData(offset=offset, data=data, digest=checksums.fast_digest(data), index=offset // chunk_size)
    finally:
        os.close(fd)


def stream_chunks(chain: SparseFileChain, layer: str, chunk_size: int, indices: list[int],
                  host: str) -> tuple[int, bytes]:
    """The same data as ``read_chunks``, offered on a plain TCP stream (replica/rebuild_stream.py)
    in pieces cut at the checksum grid: returns the listener's (port, token)."""
    chunk_size = check_chunk_size(chunk_size)
    path = layer_path(chain, layer)
    fd = _open(chain, layer)
    try:
        pieces = _pieces_of(fd, chunk_size, indices, checksums.GRID)
        whole = not indices or set(checksums.chunk_runs(fd, chunk_size)) <= set(indices)
        tap = checksums.SidecarTap(path, fd) if whole and not checksums.sidecar(path).exists() else None
    except BaseException:
        os.close(fd)
        raise
    return rebuild_stream.offer(host, fd, pieces, tap)


def _pieces_of(fd: int, chunk_size: int, indices: list[int], cut: int = MESSAGE) -> Iterator[tuple[int, int]]:
    size = os.fstat(fd).st_size
    runs: Iterator[tuple[int, int]]
    if indices:
        runs = (run for i in sorted(set(indices))
                for run in sparse.data_extents(fd, i * chunk_size, min(size, (i + 1) * chunk_size)))
    else:
        runs = sparse.data_extents(fd, 0, size)
    return _merged(runs, cut)


def _merged(runs: Iterator[tuple[int, int]], cut: int) -> Iterator[tuple[int, int]]:
    """Join touching runs, then cut them at multiples of ``cut``."""
    start = stop = -1
    for offset, length in runs:
        if offset == stop:
            stop += length
            continue
        if stop > start:
            yield from _pieces(start, stop, cut)
        start, stop = offset, offset + length
    if stop > start:
        yield from _pieces(start, stop, cut)


def _pieces(start: int, stop: int, cut: int) -> Iterator[tuple[int, int]]:
    while start < stop:
        end = min(stop, (start // cut + 1) * cut)
        yield start, end - start
        start = end
