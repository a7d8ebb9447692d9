"""Rebuild, target side: PrepareRebuild and SyncFrom.

PrepareRebuild moves the existing chain aside into ``basis/`` (hard links,
committed by renaming the directory) and starts a fresh empty chain, so the
engine can add this replica in WO mode at once. SyncFrom pulls each snapshot
layer from a source replica into ``rebuild/<layer>.partial``: for every chunk
the source has, it keeps what the partial file already holds (resume), copies
bytes the basis holds identically (delta, compared by digest: first the
basis's own copy of the same layer, then the old chain's merged view through
its location map), and fetches only the rest. Finally the layers are
installed under the current head with one volume.meta commit, the chain
verified and ``basis/`` deleted. Called by the control service.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from replica import checksums
from replica import metadata as md
from replica.chain import SparseFileChain
from replica.chain_edits import new_head, now
from replica.control_client import ControlClient
from replica.errors import Corrupt, FailedPrecondition
from replica.rebuild_source import check_chunk_size
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
    basis_dir = chain.directory / BASIS
    basis = SparseFileChain(basis_dir, readonly=True) if (basis_dir / md.VOLUME_META).exists() else None
    try:
        with ControlClient(source, timeout=60) as src:
            for layer in layers:
                progress.layer = layer.name
                yield from _pull_layer(src, layer, partials / f"{layer.name}.partial", chunk_size, basis,
                                       progress, Throttle(rate_limit))
                progress.layers_done += 1
                yield progress
            sums = {layer.name: src.checksum(layer.name) for layer in layers}
    finally:
        if basis is not None:
            basis.close()
    install(chain, layers, partials, sums)
    progress.done = True
    yield progress


def _pull_layer(src: ControlClient, layer: LayerSpec, part: Path, chunk_size: int,
                basis: SparseFileChain | None, progress: Progress, throttle: Throttle) -> Iterator[Progress]:
    wanted = src.chunk_checksums(layer.name, chunk_size)
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
    same = _basis_layer(basis, layer.name)  # the old copy of this very layer, if the basis has one
    try:
        if os.fstat(fd).st_size < layer.size:
            os.ftruncate(fd, layer.size)
        have = checksums.chunk_runs(fd, chunk_size)
        for index in set(have) - {c.index for c in wanted}:  # data the source does not have
            punch_hole(fd, index * chunk_size, chunk_size)
        need: list[int] = []
        for chunk in wanted:
            if chunk.index in have and checksums.chunk_digest(fd, chunk.index, chunk_size) == chunk.digest:
                progress.bytes_already_present += sum(n for _, n in chunk.extents)
                continue
            punch_hole(fd, chunk.index * chunk_size, chunk_size)
            if same is not None and checksums.chunk_digest(same, chunk.index, chunk_size) == chunk.digest:
                for offset, length in chunk.extents:
                    os.pwrite(fd, os.pread(same, length, offset), offset)
                progress.bytes_copied_locally += sum(n for _, n in chunk.extents)
                continue
            if basis is not None and _copy_from_basis(basis, fd, chunk.extents, chunk.digest):
                progress.bytes_copied_locally += sum(n for _, n in chunk.extents)
                continue
            need.append(chunk.index)
        yield progress
        since = 0
        for piece in src.read_chunks(layer.name, chunk_size, need) if need else ():
            if checksums.fast_digest(piece.data) != piece.digest:
                raise Corrupt(f"chunk {piece.index} of {layer.name!r} failed its checksum in transit")
            os.pwrite(fd, piece.data, piece.offset)
            progress.bytes_from_network += len(piece.data)
            since += len(piece.data)
            throttle.account(len(piece.data))
            if since >= PROGRESS_EVERY:
                since = 0
                yield progress
        os.fsync(fd)
        _verify(fd, layer.name, chunk_size, {c.index: c.digest for c in wanted})
    finally:
        os.close(fd)
        if same is not None:
            os.close(same)


def _basis_layer(basis: SparseFileChain | None, name: str) -> int | None:
    if basis is None or basis.meta.snapshot(name) is None:
        return None
    try:
        return os.open(basis.directory / md.snap_file(name), os.O_RDONLY)
    except FileNotFoundError:
        return None


def _verify(fd: int, name: str, chunk_size: int, expected: dict[int, bytes]) -> None:
    """Re-read the pulled layer from disk: every chunk's extents and bytes equal the source's."""
    got = checksums.chunk_runs(fd, chunk_size)
    if set(got) != set(expected):
        raise Corrupt(f"layer {name!r}: allocated chunks differ from the source after transfer")
    read = checksums.file_reader(fd)
    for index, runs in got.items():
        if checksums.digest_runs(runs, read) != expected[index]:
            raise Corrupt(f"layer {name!r}: chunk {index} differs from the source after transfer")


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
    """Put the pulled (and verified) layers under the current head in one commit; their
    checksum sidecars take the source's sha256; then drop basis/."""
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
