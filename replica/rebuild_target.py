"""Rebuild, target side: PrepareRebuild and SyncFrom.

PrepareRebuild moves the existing chain aside into ``basis/`` (hard links,
committed by renaming the directory) and starts a fresh empty chain, so the
engine can add this replica in WO mode at once. SyncFrom pulls each snapshot
layer from a source replica into ``rebuild/<layer>.partial``: for every chunk
the source has, it keeps what the partial file already holds (resume), copies
bytes the basis holds identically (delta, compared by digest: first the
basis's own copy of the same layer, then the old chain's merged view through
its location map), and fetches only the rest (a replica with neither asks the
source for extents only, so the source reads the data once, to send it); every
byte written is checked against the source's digests on the way in. Finally the layers are
installed under the current head with one volume.meta commit, the chain
verified and ``basis/`` deleted. Called by the control service.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from replica import checksums
from replica import metadata as md
from replica.chain import SparseFileChain
from replica.chain_edits import new_head, now
from replica.control_client import ChunkChecksum, ControlClient
from replica.direct_writer import DirectWriter
from replica.errors import Corrupt, FailedPrecondition
from replica.rebuild_source import MESSAGE, check_chunk_size
from replica.sparse import punch_hole

BASIS, PARTIALS = md.BASIS_DIR, md.PARTIALS_DIR
PROGRESS_EVERY = 4 << 20
_SYNC_LOCKS: dict[Path, threading.Lock] = {}


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


def prepare_rebuild(chain: SparseFileChain) -> None:
    """Keep the current chain as ``basis/`` and start empty. If a rebuild was already under
    way, the basis from its start is kept and the half-made chain is dropped."""
    d = chain.directory
    with chain.lock:
        chain.flush()
        basis = d / BASIS
        if basis.exists() and not chain.rebuilding:  # a leftover: the current chain is newer
            shutil.rmtree(basis)
        if not basis.exists():  # (rebuilding already: keep the basis, drop the half-made chain)
            staging = d / (BASIS + ".tmp")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            for name in md.referenced_files(chain.meta):
                if (d / name).exists():
                    os.link(d / name, staging / name)
            md.write_atomic(staging / md.VOLUME_META, chain.meta.model_dump_json().encode())
            md.fsync_dir(staging)
            os.rename(staging, basis)
            md.fsync_dir(d)
        with ExitStack() as undo:
            head, fd = new_head(chain, undo)
            meta = md.VolumeMeta(size=chain.meta.size, head=head, rebuilding=True)
            md.save_volume_meta(d, meta)  # commit
            undo.pop_all()
        os.close(fd)
        chain.reopen()
        chain.collect_garbage()


def sync_from(chain: SparseFileChain, source: str, layers: list[LayerSpec], chunk_size: int,
              rate_limit: int = 0) -> Iterator[Progress]:
    """Pull ``layers`` (bottom first) from ``source``, then install them under the head.

    ``rate_limit`` (bytes/s, 0 = none) caps the network pull so a rebuild leaves bandwidth
    to the volume's own I/O."""
    chunk_size = check_chunk_size(chunk_size)
    for layer in layers:
        md.check_name(layer.name)
    if not chain.rebuilding:
        raise FailedPrecondition("this replica is not being rebuilt: call PrepareRebuild first")
    lock = _SYNC_LOCKS.setdefault(chain.directory, threading.Lock())
    if not lock.acquire(blocking=False):
        raise FailedPrecondition("a SyncFrom is already running on this replica")
    try:
        yield from _sync(chain, source, layers, chunk_size, rate_limit)
    finally:
        lock.release()


def _sync(chain: SparseFileChain, source: str, layers: list[LayerSpec], chunk_size: int,
          rate_limit: int) -> Iterator[Progress]:
    partials = chain.directory / PARTIALS
    partials.mkdir(exist_ok=True)
    progress = Progress(layers_total=len(layers))
    sums: dict[str, str] = {}
    basis_dir = chain.directory / BASIS
    basis = SparseFileChain(basis_dir, readonly=True) if (basis_dir / md.VOLUME_META).exists() else None
    try:
        with ControlClient(source, timeout=60) as src:
            for layer in layers:
                progress.layer = layer.name
                sums[layer.name] = yield from _pull_layer(src, layer, partials / f"{layer.name}.partial",
                                                          chunk_size, basis, progress, Throttle(rate_limit))
                progress.layers_done += 1
                yield progress
    finally:
        if basis is not None:
            basis.close()
    install(chain, layers, partials, sums)
    progress.done = True
    yield progress


def _pull_layer(src: ControlClient, layer: LayerSpec, part: Path, chunk_size: int,
                basis: SparseFileChain | None, progress: Progress, throttle: Throttle) -> Generator[Progress, None, str]:
    """Fill ``part`` with the source's layer; returns its layer checksum, made from chunk digests
    checked against the bytes written (the layer is not read back)."""
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
    same = _basis_layer(basis, layer.name)  # the old copy of this very layer, if the basis has one
    try:
        if os.fstat(fd).st_size < layer.size:
            os.ftruncate(fd, layer.size)
        have = checksums.chunk_runs(fd, chunk_size)
        compare = bool(have) or basis is not None  # else nothing local can match: the source need not read
        wanted = src.chunk_checksums(layer.name, chunk_size, extents_only=not compare)
        for index in set(have) - {c.index for c in wanted}:  # data the source does not have
            punch_hole(fd, index * chunk_size, chunk_size)
        digests: dict[int, bytes] = {}  # verified digest of every chunk
        need = [chunk for chunk in wanted if not compare or not _found_locally(fd, chunk, have, same, basis,
                                                                                 chunk_size, progress)]
        digests.update((c.index, c.digest) for c in wanted if compare)
        yield progress
        hasher = checksums.ChunkHasher((c.index, c.extents) for c in need)
        writer = DirectWriter(part, fd, MESSAGE)
        try:
            since = 0
            pieces = src.stream_chunks(layer.name, chunk_size, [c.index for c in need], writer.buffer) if need else ()
            for offset, data, digest in pieces:
                if checksums.fast_digest(data) != digest:
                    raise Corrupt(f"data at {offset} of {layer.name!r} failed its checksum in transit")
                hasher.feed(offset, data)
                writer.write_buffer(len(data), offset)
                progress.bytes_from_network += len(data)
                since += len(data)
                throttle.account(len(data))
                if since >= PROGRESS_EVERY:
                    since = 0
                    yield progress
        finally:
            writer.close()
        received = hasher.finish()
        if compare and any(received[c.index] != c.digest for c in need):
            raise Corrupt(f"layer {layer.name!r}: a chunk received differs from the source's digest")
        digests.update(received)
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


def _found_locally(fd: int, chunk: ChunkChecksum, have: dict[int, list[tuple[int, int]]], same: int | None,
                   basis: SparseFileChain | None, chunk_size: int, progress: Progress) -> bool:
    """Keep the chunk if the partial file holds it, else copy it from the basis if that holds it
    identically (by digest); False: it must come over the network (its range is then a hole)."""
    size = sum(n for _, n in chunk.extents)
    if chunk.index in have and checksums.chunk_digest(fd, chunk.index, chunk_size) == chunk.digest:
        progress.bytes_already_present += size
        return True
    punch_hole(fd, chunk.index * chunk_size, chunk_size)
    if same is not None and checksums.chunk_digest(same, chunk.index, chunk_size) == chunk.digest:
        for offset, length in chunk.extents:
            os.pwrite(fd, os.pread(same, length, offset), offset)
        progress.bytes_copied_locally += size
        return True
    if basis is not None and _copy_from_basis(basis, fd, chunk.extents, chunk.digest):
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


def _copy_from_basis(basis: SparseFileChain, fd: int, extents: tuple[tuple[int, int], ...], digest: bytes) -> bool:
    """Write the basis's bytes at ``extents`` into ``fd`` if they match ``digest``."""
    if any(offset + length > basis.size for offset, length in extents):
        return False
    first, last = extents[0][0] >> 12, (extents[-1][0] + extents[-1][1] + 4095) >> 12
    if basis.map.loc.count(0, first, last) == last - first:
        return False  # the basis holds nothing here (the source data could only match if all zeros)
    pieces: list[bytes] = []

    def read(offset: int, length: int) -> bytes:
        buf = bytearray(length)
        basis.read_into(memoryview(buf), offset)
        pieces.append(bytes(buf))
        return pieces[-1]

    if checksums.digest_runs(list(extents), read) != digest:
        return False
    for (offset, _), data in zip(extents, pieces, strict=True):
        os.pwrite(fd, data, offset)
    return True


def install(chain: SparseFileChain, layers: list[LayerSpec], partials: Path, sums: dict[str, str]) -> None:
    """Put the pulled (and verified) layers under the current head in one commit, with the
    layer checksums made from the verified chunk digests as sidecars; then drop basis/."""
    d = chain.directory
    with chain.lock:
        meta = chain.meta.model_copy(deep=True)
        pulled = [layer.name for layer in layers]
        local = meta.active_chain()
        last_shared = max((i for i, name in enumerate(local) if name in pulled), default=-1)
        keep_local = [meta.snapshot(n) for n in local[last_shared + 1 :]]
        if any(s is None for s in keep_local):
            raise FailedPrecondition("local chain is inconsistent")
        snaps: list[md.SnapshotMeta] = []
        parent = ""
        renames: list[md.PendingRename] = []
        for layer in layers:
            staged = md.snap_file(layer.name) + ".rebuild"
            (d / staged).unlink(missing_ok=True)
            os.link(partials / f"{layer.name}.partial", d / staged)
            renames.append(md.PendingRename(source=staged, target=md.snap_file(layer.name)))
            snaps.append(md.SnapshotMeta(name=layer.name, parent=parent, created=layer.created or now(),
                                         user_created=layer.user_created, labels=layer.labels, size=layer.size))
            parent = layer.name
        for snap in keep_local:
            assert snap is not None
            snaps.append(snap.model_copy(update={"parent": parent}))
            parent = snap.name
        md.fsync_dir(d)
        meta.snapshots, meta.head_parent, meta.rebuilding, meta.pending = snaps, parent, False, renames
        md.save_volume_meta(d, meta)  # commit
        chain.meta = meta
        chain.finish_pending()
        chain.collect_garbage()
        for layer in layers:
            checksums.store(d / md.snap_file(layer.name), sums[layer.name])
        chain.reopen()
        if chain.meta.active_chain()[: len(pulled)] != pulled:
            raise Corrupt(f"installed chain {chain.meta.active_chain()} does not start with {pulled}")
    shutil.rmtree(partials, ignore_errors=True)
    shutil.rmtree(d / BASIS, ignore_errors=True)
