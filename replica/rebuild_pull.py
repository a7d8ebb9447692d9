"""Rebuild, target side: pull one snapshot layer from a source into a ``.partial`` file.

For every chunk the source has, keep what the partial file already holds
(resume), copy bytes the basis holds identically (delta, compared by digest:
first the basis's own copy of the same layer, then the old chain's merged view
through its location map), and fetch only the rest over the chunk stream
(replica/rebuild_stream.py). A target with nothing local that could match asks
the source for extents only, so the source reads the data once, to send it.
Every piece is checked against its digest before it is written (DirectWriter,
behind the receive); the layer checksum comes from the verified chunk digests,
without reading the layer back. Called by replica/rebuild_target.py (SyncFrom).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

from replica import checksums
from replica import metadata as md
from replica.chain import SparseFileChain
from replica.control_client import ChunkChecksum, ControlClient
from replica.direct_writer import DirectWriter
from replica.errors import Corrupt
from replica.sparse import punch_hole

PROGRESS_EVERY = 4 << 20  # bytes, and
PROGRESS_INTERVAL = 0.1  # seconds between progress reports during a transfer


@dataclass(frozen=True)
class LayerSpec:
    name: str
    created: str
    user_created: bool
    labels: dict[str, str]
    size: int


@dataclass
class Progress:
    layer: str = ""
    bytes_from_network: int = 0
    bytes_copied_locally: int = 0
    bytes_already_present: int = 0
    layers_done: int = 0
    layers_total: int = 0
    done: bool = False


class Throttle:
    """Sleeps so that the bytes accounted stay under ``rate`` bytes per second (0 = no cap)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.start = time.monotonic()
        self.total = 0

    def account(self, n: int) -> None:
        if self.rate <= 0:
            return
        self.total += n
        ahead = self.total / self.rate - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)


def pull_layer(src: ControlClient, layer: LayerSpec, part: Path, chunk_size: int,
               basis: SparseFileChain | None, progress: Progress, throttle: Throttle) -> Generator[Progress, None, str]:
    """Fill ``part`` with the source's layer; returns its layer checksum, made from chunk digests
    checked against the bytes written (the layer is not read back)."""
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
    same = _basis_layer(basis, layer.name)  # the old copy of this very layer, if the basis has one
    try:
        if os.fstat(fd).st_size < layer.size:
            os.ftruncate(fd, layer.size)
        have = checksums.chunk_runs(fd, chunk_size)
        # with nothing local that could match, the source need not read the data for digests
        compare = bool(have) or same is not None or (basis is not None and basis.map.has_data())
        wanted = src.chunk_checksums(layer.name, chunk_size, extents_only=not compare)
        for index in set(have) - {c.index for c in wanted}:  # data the source does not have
            punch_hole(fd, index * chunk_size, chunk_size)
        digests: dict[int, bytes] = {}  # verified digest of every chunk
        need = [chunk for chunk in wanted if not compare or not _found_locally(fd, chunk, have, same, basis,
                                                                                 chunk_size, progress)]
        digests.update((c.index, c.digest) for c in wanted if compare)
        yield progress
        stream = checksums.StreamDigests()
        if need:
            yield from _receive(src, layer.name, part, fd, chunk_size, need, stream, progress, throttle)
        if chunk_size == checksums.GRID:  # the stream's last digest of each chunk is its chunk digest
            if set(stream.digests) != {c.index for c in need} or (
                    compare and any(stream.digests[c.index] != c.digest for c in need)):
                raise Corrupt(f"layer {layer.name!r}: the chunks received differ from the source's digests")
            digests.update(stream.digests)
        os.fsync(fd)
        if checksums.chunk_runs(fd, chunk_size) != {c.index: list(c.extents) for c in wanted}:
            raise Corrupt(f"layer {layer.name!r}: allocated extents differ from the source after transfer")
        if chunk_size == checksums.GRID:
            return checksums.layer_checksum(sorted(digests.items()))
        return checksums.layer_sha256(fd)
    finally:
        os.close(fd)
        if same is not None:
            os.close(same)


def _receive(src: ControlClient, name: str, part: Path, fd: int, chunk_size: int, need: list[ChunkChecksum],
             stream: checksums.StreamDigests, progress: Progress, throttle: Throttle) -> Iterator[Progress]:
    """Stream the ``need``ed chunks into ``part``: each piece is checked against its digest before
    the writer may write it; writes run behind the receive (DirectWriter)."""
    writer = DirectWriter(part, fd)
    before = progress.bytes_from_network
    next_report = 0.0
    try:
        since = 0
        for offset, data, digest in src.stream_chunks(name, chunk_size, [c.index for c in need], writer.reserve):
            if stream.update(offset, data) != digest:
                raise Corrupt(f"data at {offset} of {name!r} failed its checksum in transit")
            writer.commit()
            since += len(data)
            throttle.account(len(data))
            if since >= PROGRESS_EVERY and time.monotonic() >= next_report:
                since, next_report = 0, time.monotonic() + PROGRESS_INTERVAL
                progress.bytes_from_network = before + writer.written  # what a resume would find
                yield progress
    except BaseException:
        with contextlib.suppress(Exception):  # the first failure is the one to report
            writer.close()  # what was verified is kept for a resume
        raise
    writer.close()
    progress.bytes_from_network = before + writer.written


def _found_locally(fd: int, chunk: ChunkChecksum, have: dict[int, list[tuple[int, int]]], same: int | None,
                   basis: SparseFileChain | None, chunk_size: int, progress: Progress) -> bool:
    """Keep the chunk if the partial file holds it, else copy it from the basis if that holds it
    identically (by digest); False: it must come over the network (its range is then a hole)."""
    size = sum(n for _, n in chunk.extents)
    if chunk.index in have and checksums.chunk_digest(fd, chunk.index, chunk_size) == chunk.digest:
        progress.bytes_already_present += size
        return True
    punch_hole(fd, chunk.index * chunk_size, chunk_size)
    if (same is not None and _copy_matching(checksums.file_reader(same), fd, chunk.extents, chunk.digest)) or (
            basis is not None and _basis_holds(basis, chunk.extents)
            and _copy_matching(_merged_reader(basis), fd, chunk.extents, chunk.digest)):
        progress.bytes_copied_locally += size
        return True
    return False


def _basis_layer(basis: SparseFileChain | None, name: str) -> int | None:
    if basis is None or basis.meta.snapshot(name) is None:
        return None
    try:
        return os.open(basis.directory / md.snap_file(name), os.O_RDONLY)
    except FileNotFoundError:
        return None


def _basis_holds(basis: SparseFileChain, extents: tuple[tuple[int, int], ...]) -> bool:
    """Whether the basis's merged view may hold ``extents`` (False where it holds nothing: the
    source data could then only match if all zeros)."""
    if any(offset + length > basis.size for offset, length in extents):
        return False
    first, last = extents[0][0] >> 12, (extents[-1][0] + extents[-1][1] + 4095) >> 12
    return basis.map.loc[first:last].count(0) != last - first


def _merged_reader(basis: SparseFileChain) -> checksums.Reader:
    def read(offset: int, length: int) -> bytearray:
        buf = bytearray(length)
        basis.read_into(memoryview(buf), offset)
        return buf

    return read


def _copy_matching(read: checksums.Reader, fd: int, extents: tuple[tuple[int, int], ...], digest: bytes) -> bool:
    """Write the bytes ``read`` gives at ``extents`` into ``fd`` if they match ``digest`` (the source's
    digest of its runs there): each byte is read once, for the digest and the copy."""
    pieces: list[bytes | bytearray] = []

    def keep(offset: int, length: int) -> bytes | bytearray:
        pieces.append(read(offset, length))
        return pieces[-1]

    if checksums.digest_runs(list(extents), keep) != digest:
        return False
    for (offset, _), data in zip(extents, pieces, strict=True):
        os.pwrite(fd, data, offset)
    return True
