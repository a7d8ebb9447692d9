"""On-disk metadata of a replica directory: ``volume.meta``, ``<layer>.meta``, ``revision.counter``.

``volume.meta`` is the single commit point of the chain: it lists the head file,
the head's parent and every snapshot (the tree). Files that it does not reference
are leftovers of an interrupted change and are removed at open. ``<layer>.meta``
beside each layer file is a readable mirror of that layer's entry. Every write
here is atomic: write a temp file, fsync, rename, fsync the directory.
Used by replica/chain.py and replica/chain_edits.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, Field

from replica.errors import InvalidArgument

VOLUME_META = "volume.meta"
REVISION_COUNTER = "revision.counter"
BASIS_DIR = "basis"  # the old chain kept during a rebuild (delta source)
PARTIALS_DIR = "rebuild"  # <layer>.partial files of a rebuild in progress
HEAD_PATTERN = re.compile(r"^volume-head-(\d{3,})\.img$")
SNAP_PREFIX = "volume-snap-"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class SnapshotMeta(BaseModel):
    """One snapshot layer of the tree."""

    name: str
    parent: str = ""  # "" = bottom of the chain
    created: str = ""
    user_created: bool = True
    removed: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    size: int = 0  # volume size when the snapshot was taken


class PendingRename(BaseModel):
    """Roll-forward record: rename ``source`` over ``target`` (coalesce, rebuild install)."""

    source: str
    target: str


class VolumeMeta(BaseModel):
    """The chain: head file, its parent snapshot and all snapshots."""

    version: int = 1
    size: int
    sector_size: int = 4096
    head: str
    head_parent: str = ""
    snapshots: list[SnapshotMeta] = Field(default_factory=list)
    pending: list[PendingRename] = Field(default_factory=list)  # redone at open if interrupted
    rebuilding: bool = False  # set by PrepareRebuild, cleared when SyncFrom installs the layers

    def snapshot(self, name: str) -> SnapshotMeta | None:
        return next((s for s in self.snapshots if s.name == name), None)

    def children(self, name: str) -> list[str]:
        """Snapshot names whose parent is ``name`` (the head is reported as its file name)."""
        kids = [s.name for s in self.snapshots if s.parent == name]
        if self.head_parent == name:
            kids.append(self.head)
        return kids

    def active_chain(self) -> list[str]:
        """Snapshot names from the bottom of the chain up to the head's parent."""
        chain: list[str] = []
        name = self.head_parent
        while name:
            snap = self.snapshot(name)
            if snap is None:
                raise ValueError(f"volume.meta: chain names missing snapshot {name!r}")
            chain.append(name)
            name = snap.parent
        chain.reverse()
        return chain


def snap_file(name: str) -> str:
    return f"{SNAP_PREFIX}{name}.img"


def head_file(number: int) -> str:
    return f"volume-head-{number:03d}.img"


def next_head_file(current: str) -> str:
    match = HEAD_PATTERN.match(current)
    return head_file(int(match.group(1)) + 1 if match else 0)


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise InvalidArgument(f"invalid snapshot name {name!r}: use letters, digits, '.', '_', '-' (max 100)")
    return name


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so a crash leaves either the old or the new content."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)


def load_volume_meta(directory: Path) -> VolumeMeta:
    return VolumeMeta.model_validate_json((directory / VOLUME_META).read_bytes())


def save_volume_meta(directory: Path, meta: VolumeMeta) -> None:
    """Commit the chain, then refresh the per-layer mirrors (not needed for recovery)."""
    write_atomic(directory / VOLUME_META, meta.model_dump_json(indent=1).encode())
    for snap in meta.snapshots:
        write_atomic(directory / (snap_file(snap.name) + ".meta"), snap.model_dump_json(indent=1).encode(), False)
    head = SnapshotMeta(name=meta.head, parent=meta.head_parent, user_created=False, size=meta.size)
    write_atomic(directory / (meta.head + ".meta"), head.model_dump_json(indent=1).encode(), False)


def load_revision(directory: Path) -> int:
    try:
        return int((directory / REVISION_COUNTER).read_text().strip() or 0)
    except FileNotFoundError:
        return 0


def save_revision(directory: Path, value: int) -> None:
    write_atomic(directory / REVISION_COUNTER, f"{value}\n".encode())


def referenced_files(meta: VolumeMeta) -> set[str]:
    files = {meta.head} | {snap_file(s.name) for s in meta.snapshots}
    return files | {f + suffix for f in list(files) for suffix in (".meta", ".checksum")}
