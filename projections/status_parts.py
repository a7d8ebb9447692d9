"""The parts of a volume status: its replicas, snapshots and conditions.

Immutable values held by ``projections.volume_status.VolumeStatus`` (which folds
events into them) and turned to/from JSON by ``projections.status_json``; plus the
pure snapshot-tree steps the fold needs (take, purge).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from domain.values import RebuildState, ReplicaMode

T = TypeVar("T")


def evolve(value: T, **changes: Any) -> T:
    """``dataclasses.replace`` for this module's plain frozen records, without re-running
    ``__init__`` (the fold calls it for every event; ``replace`` costs ~20x more)."""
    if not changes.keys() <= value.__dict__.keys():
        raise TypeError(f"{type(value).__name__} has no field(s) {sorted(changes.keys() - value.__dict__.keys())}")
    new = object.__new__(type(value))
    new.__dict__.update(value.__dict__)
    new.__dict__.update(changes)
    return new


@dataclass(frozen=True)
class ReplicaStatus:
    name: str
    id: str = ""  # the Replica aggregate's id ("" until its Created event is seen)
    node: str = ""
    mode: ReplicaMode = ReplicaMode.WO
    address: str = ""
    disk: str = ""
    data_dir: str = ""
    failures: int = 0
    last_failure: str = ""  # reason of the last failure
    last_failure_at: str = ""  # ISO time of the last failure
    rebuild: RebuildState = RebuildState.NONE
    rebuild_source: str = ""
    rebuild_done: int = 0  # bytes
    rebuild_total: int = 0  # bytes


@dataclass(frozen=True)
class SnapshotStatus:
    name: str
    parent: str = ""  # "" = the bottom of the chain
    children: tuple[str, ...] = ()
    created: str = ""  # ISO time
    user_created: bool = True
    removed: bool = False
    size: int = 0
    checksum: str = ""
    labels: tuple[tuple[str, str], ...] = ()  # sorted (key, value) pairs


@dataclass(frozen=True)
class ConditionStatus:
    type: str
    status: bool
    reason: str = ""
    message: str = ""
    since: str = ""  # ISO time of the event that set it


Snapshots = tuple[SnapshotStatus, ...]


def snapshot_taken(snapshots: Snapshots, taken: SnapshotStatus) -> Snapshots:
    """Append a snapshot (in taken order) and list it among its parent's children."""
    linked = tuple(
        evolve(s, children=(*s.children, taken.name)) if s.name == taken.parent else s for s in snapshots
    )
    return (*linked, taken)


def snapshots_changed(snapshots: Snapshots, name: str, **changes: object) -> Snapshots:
    return tuple(evolve(s, **changes) if s.name == name else s for s in snapshots)


def snapshots_purged(snapshots: Snapshots, removed: Iterable[str], coalesced: Mapping[str, str]) -> Snapshots:
    """The chain after a purge: each coalesced ``a`` is replaced by its child ``b``
    under ``a``'s parent, then each removed leaf is unlinked and dropped."""
    by_name = {s.name: s for s in snapshots}
    order = [s.name for s in snapshots]

    def relink(parent: str, old: str, new: tuple[str, ...]) -> None:
        if parent in by_name:
            p = by_name[parent]
            by_name[parent] = evolve(p, children=tuple(c for x in p.children for c in (new if x == old else (x,))))

    for gone, into in coalesced.items():
        if gone in by_name and into in by_name:
            parent = by_name.pop(gone).parent
            relink(parent, gone, (into,))
            by_name[into] = evolve(by_name[into], parent=parent)
    for gone in removed:
        if gone in by_name:
            relink(by_name.pop(gone).parent, gone, ())
    return tuple(by_name[name] for name in order if name in by_name)
