"""Changes to a chain's shape: snapshot, revert, mark-removed, purge (its size: replica/chain_size.py).

Each change prepares new files, then commits by rewriting volume.meta (the
one commit point), then removes what became unreferenced. Steps before the
commit register an undo on an ``ExitStack``; a crash before the commit leaves
unreferenced files that the next open deletes, and a crash after it is rolled
forward (``pending`` renames). All run under ``chain.lock``, so no data-path
batch sees a half-made change. Called by the control service.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from datetime import UTC, datetime

from replica import checksums
from replica import metadata as md
from replica.chain import SparseFileChain
from replica.errors import AlreadyExists, FailedPrecondition, NotFound
from replica.location_map import MAX_LAYERS
from replica.sparse import data_extents, punch_hole

COPY_PIECE = 4 << 20


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_head(chain: SparseFileChain, undo: ExitStack) -> tuple[str, int]:
    """Create the next empty sparse head file; returns (name, fd open read-write)."""
    name = md.next_head_file(chain.meta.head)
    path = chain.directory / name
    path.unlink(missing_ok=True)  # an unreferenced leftover
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    undo.callback(path.unlink, missing_ok=True)
    undo.callback(os.close, fd)
    os.ftruncate(fd, chain.meta.size)
    os.fsync(fd)
    return name, fd


def _remove_files(chain: SparseFileChain, *names: str) -> None:
    for name in names:
        for suffix in ("", ".meta", ".checksum"):
            (chain.directory / (name + suffix)).unlink(missing_ok=True)
    md.fsync_dir(chain.directory)


def _snapshot_meta(chain: SparseFileChain, name: str) -> md.SnapshotMeta:
    snap = chain.meta.snapshot(name)
    if snap is None:
        raise NotFound(f"no snapshot {name!r}")
    return snap


def snapshot(chain: SparseFileChain, name: str, created: str = "", user_created: bool = True,
             labels: dict[str, str] | None = None) -> md.SnapshotMeta:
    """Hard-link the head to volume-snap-<name>.img and start a new empty head."""
    md.check_name(name)
    with chain.lock:
        if chain.meta.snapshot(name) is not None:
            raise AlreadyExists(f"snapshot {name!r} already exists")
        if len(chain.fds) >= MAX_LAYERS:
            raise FailedPrecondition(f"chain already has {len(chain.fds) - 1} layers; purge snapshots first")
        d, old_head = chain.directory, chain.meta.head
        chain.flush()
        chain.retire_share()  # a new head: same-machine engines reading directly fetch the new layer set
        with ExitStack() as undo:
            snap_path = d / md.snap_file(name)
            snap_path.unlink(missing_ok=True)  # an unreferenced leftover
            os.link(d / old_head, snap_path)
            undo.callback(snap_path.unlink, missing_ok=True)
            head, fd = new_head(chain, undo)
            md.fsync_dir(d)
            meta = chain.meta.model_copy(deep=True)
            entry = md.SnapshotMeta(name=name, parent=meta.head_parent, created=created or now(),
                                    user_created=user_created, labels=labels or {}, size=meta.size)
            meta.snapshots.append(entry)
            meta.head, meta.head_parent = head, name
            md.save_volume_meta(d, meta)  # commit
            undo.pop_all()
        chain.meta = meta
        chain.fds.append(fd)
        chain.map.seal_head()
        _remove_files(chain, old_head)
        return entry


def revert(chain: SparseFileChain, name: str) -> None:
    """Discard the head; a new empty head on top of snapshot ``name`` becomes the volume."""
    with chain.lock:
        snap = _snapshot_meta(chain, name)
        if snap.removed:
            raise FailedPrecondition(f"snapshot {name!r} is marked removed")
        old_head = chain.meta.head
        chain.map.mark_stale()  # the map is rebuilt by reopen() below
        with ExitStack() as undo:
            head, fd = new_head(chain, undo)
            md.fsync_dir(chain.directory)
            meta = chain.meta.model_copy(deep=True)
            meta.head, meta.head_parent = head, name
            md.save_volume_meta(chain.directory, meta)  # commit
            undo.pop_all()
        os.close(fd)
        chain.reopen()
        _remove_files(chain, old_head)


def mark_removed(chain: SparseFileChain, name: str) -> md.SnapshotMeta:
    with chain.lock:
        meta = chain.meta.model_copy(deep=True)
        snap = meta.snapshot(name)
        if snap is None:
            raise NotFound(f"no snapshot {name!r}")
        snap.removed = True
        md.save_volume_meta(chain.directory, meta)
        chain.meta = meta
        return snap


def purge(chain: SparseFileChain) -> tuple[list[str], list[str], list[str]]:
    """Reclaim removed snapshots; returns (deleted, coalesced, pruned) names."""
    deleted: list[str] = []
    coalesced: list[str] = []
    pruned: list[str] = []
    with chain.lock:
        if any(s.removed for s in chain.meta.snapshots):
            chain.map.mark_stale()  # files change below; chain.share() makes a fresh map if none did
        progress = True
        while progress:
            progress = False
            for snap in [s for s in chain.meta.snapshots if s.removed]:
                kids = chain.meta.children(snap.name)
                if not kids:
                    _delete_leaf(chain, snap.name)
                    deleted.append(snap.name)
                elif kids == [chain.meta.head]:
                    if snap.name not in pruned:
                        _prune(chain, snap.name)
                        pruned.append(snap.name)
                    continue
                elif len(kids) == 1:
                    _coalesce(chain, snap.name, kids[0])
                    coalesced.append(snap.name)
                else:
                    continue
                progress = True
                break
    return deleted, coalesced, pruned


def _delete_leaf(chain: SparseFileChain, name: str) -> None:
    meta = chain.meta.model_copy(deep=True)
    meta.snapshots = [s for s in meta.snapshots if s.name != name]
    md.save_volume_meta(chain.directory, meta)  # commit
    chain.meta = meta
    _remove_files(chain, md.snap_file(name))


def _prune(chain: SparseFileChain, name: str) -> None:
    """Punch from the head's removed parent the extents the head overwrote (reads unchanged)."""
    path = chain.directory / md.snap_file(name)
    checksums.invalidate(path)
    md.fsync_dir(chain.directory)
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        for offset, length in data_extents(chain.head_fd, 0, size):
            punch_hole(fd, offset, min(length, size - offset))
        os.fsync(fd)
    finally:
        os.close(fd)
    chain.reopen()


def _coalesce(chain: SparseFileChain, name: str, child: str) -> None:
    """Merge removed snapshot ``name`` with its only child: the child's extents go into the
    parent's file, which then takes the child's name (a pending rename, redone at open)."""
    d = chain.directory
    parent_path, child_path = d / md.snap_file(name), d / md.snap_file(child)
    checksums.invalidate(parent_path)
    checksums.invalidate(child_path)
    md.fsync_dir(d)
    src = os.open(child_path, os.O_RDONLY)
    dst = os.open(parent_path, os.O_RDWR)
    try:
        child_size = os.fstat(src).st_size
        for offset, length in data_extents(src):
            for pos in range(offset, offset + length, COPY_PIECE):
                piece = os.pread(src, min(COPY_PIECE, offset + length - pos), pos)
                os.pwrite(dst, piece, pos)
        if os.fstat(dst).st_size < child_size:
            os.ftruncate(dst, child_size)
        os.fsync(dst)
    finally:
        os.close(src)
        os.close(dst)
    meta = chain.meta.model_copy(deep=True)
    removed = _snapshot_meta(chain, name)
    meta.snapshots = [s for s in meta.snapshots if s.name != name]
    kid = meta.snapshot(child)
    assert kid is not None
    kid.parent = removed.parent
    meta.pending = [md.PendingRename(source=md.snap_file(name), target=md.snap_file(child))]
    md.save_volume_meta(d, meta)  # commit
    chain.meta = meta
    chain.finish_pending()
    _remove_files(chain, md.snap_file(name))
    chain.reopen()
