"""Rebuild, target side: PrepareRebuild and SyncFrom.

PrepareRebuild moves the existing chain aside into ``basis/`` (hard links,
committed by renaming the directory) and starts a fresh empty chain, so the
engine can add this replica in WO mode at once. SyncFrom pulls each snapshot
layer from a source replica into ``rebuild/<layer>.partial`` (resume, delta
and the checked transfer: replica/rebuild_pull.py). Finally the layers are
installed under the current head with one volume.meta commit, the chain
verified and ``basis/`` deleted. Called by the control service.
"""

from __future__ import annotations

import importlib
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from replica import checksums
from replica import metadata as md
from replica.chain import SparseFileChain
from replica.chain_edits import new_head, now
from replica.control_client import ControlClient
from replica.errors import Corrupt, FailedPrecondition
from replica.rebuild_pull import LayerSpec, Progress, Throttle, pull_layer
from replica.rebuild_source import check_chunk_size

BASIS, PARTIALS = md.BASIS_DIR, md.PARTIALS_DIR
_SYNC_LOCKS: dict[Path, threading.Lock] = {}


def prepare_rebuild(chain: SparseFileChain) -> None:
    """Keep the current chain as ``basis/`` and start empty. If a rebuild was already under
    way, the basis from its start is kept and the half-made chain is dropped."""
    d = chain.directory
    # SyncFrom comes next and opens this process's first gRPC channel, whose code grpc imports then
    # (~0.07 s): import it now, partly while the engine snapshots (measured: sync -0.07 s, total -0.03 s)
    threading.Thread(target=importlib.import_module, args=("grpc._channel",), daemon=True).start()
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
                sums[layer.name] = yield from pull_layer(src, layer, partials / f"{layer.name}.partial",
                                                          chunk_size, basis, progress, Throttle(rate_limit))
                progress.layers_done += 1
                yield progress
    finally:
        if basis is not None:
            basis.close()
    install(chain, layers, partials, sums)
    progress.done = True
    yield progress


def install(chain: SparseFileChain, layers: list[LayerSpec], partials: Path, sums: dict[str, str]) -> None:
    """Put the pulled (and verified) layers under the current head in one commit, with the
    layer checksums made from the verified chunk digests as sidecars; then drop basis/."""
    d = chain.directory
    with chain.lock:
        chain.map.mark_stale()  # the layer set changes; reopen() below builds a fresh map
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
