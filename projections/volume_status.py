"""The volume status read model: what a volume's CRD ``status`` shows.

``VolumeStatus`` is an immutable value; ``apply(status, event) -> status`` is a PURE
fold over the domain events of one volume's history (its ``Volume``, its
``Replica``s and its ``SnapshotChain``, in notification order). No store is needed:
``projections.volume_status_projection`` runs the fold over the notification log
into a persisted view, and the CLI's ``replay`` folds a volume's history up to a
past point. Events the fold does not know change nothing but the counters.

Robustness is derived exactly as ``domain.volume.Volume.robustness`` derives it:
no replicas -> unknown; RW count >= number_of_replicas -> healthy; some RW ->
degraded; replicas but none RW -> faulted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.values import DataLocality, Frontend, RebuildState, ReplicaMode, Robustness, VolumeState
from projections.status_parts import (
    ConditionStatus,
    ReplicaStatus,
    SnapshotStatus,
    evolve,
    snapshot_taken,
    snapshots_changed,
    snapshots_purged,
)


@dataclass(frozen=True)
class VolumeStatus:
    name: str = ""
    size: int = 0
    number_of_replicas: int = 0
    state: VolumeState = VolumeState.CREATING
    robustness: Robustness = Robustness.UNKNOWN
    standby: bool = False
    data_locality: DataLocality = DataLocality.DISABLED
    frontend: Frontend = Frontend.NBD
    node: str = ""  # attached (or attaching) to
    endpoint: str = ""  # frontend address while attached
    replicas: tuple[ReplicaStatus, ...] = ()
    snapshots: tuple[SnapshotStatus, ...] = ()
    head_parent: str = ""  # the snapshot the live head grows from ("" = none)
    conditions: tuple[ConditionStatus, ...] = ()
    version: int = 0  # the Volume aggregate's version after the last Volume event
    events: int = 0  # events of this volume's history folded in (its 1-based position)
    position: int = 0  # notification id of the last event folded in (0: not from the log)
    updated_at: datetime | None = None  # time of the last event folded in

    def replica(self, name: str) -> ReplicaStatus | None:
        return next((r for r in self.replicas if r.name == name), None)

    def snapshot(self, name: str) -> SnapshotStatus | None:
        return next((s for s in self.snapshots if s.name == name), None)


Handler = Callable[[VolumeStatus, Any], VolumeStatus]
_HANDLERS: dict[str, Handler] = {}


def handles(*qualnames: str) -> Callable[[Handler], Handler]:
    """Register a fold step for domain event classes named by ``__qualname__``."""

    def register(handler: Handler) -> Handler:
        for qualname in qualnames:
            _HANDLERS[qualname] = handler
        return handler

    return register


def known_event(event_class: type) -> bool:
    """Whether the fold changes the status for events of this class."""
    return event_class.__qualname__ in _HANDLERS


def apply(status: VolumeStatus, event: Any) -> VolumeStatus:
    """Fold one domain event of this volume's history into its status."""
    qualname = type(event).__qualname__
    handler = _HANDLERS.get(qualname)
    folded = handler(status, event) if handler is not None else status
    counters = {
        "version": event.originator_version if qualname.startswith("Volume.") else folded.version,
        "events": status.events + 1,
        "updated_at": event.timestamp,
    }
    if folded is status:
        return evolve(status, **counters)
    folded.__dict__.update(counters)  # a value the handler just made: nobody else holds it yet
    return folded


def fold(events: Iterable[Any], status: VolumeStatus | None = None) -> VolumeStatus:
    """Fold a sequence of events, from ``status`` (default: the empty status)."""
    result = status if status is not None else VolumeStatus()
    for event in events:
        result = apply(result, event)
    return result


def derive_robustness(replicas: tuple[ReplicaStatus, ...], number_of_replicas: int) -> Robustness:
    if not replicas:
        return Robustness.UNKNOWN
    rw = sum(1 for r in replicas if r.mode == ReplicaMode.RW)
    if rw >= number_of_replicas:
        return Robustness.HEALTHY
    return Robustness.DEGRADED if rw else Robustness.FAULTED


def with_replicas(status: VolumeStatus, replicas: tuple[ReplicaStatus, ...]) -> VolumeStatus:
    """The status with a new replica list and the robustness derived from it."""
    ordered = tuple(sorted(replicas, key=lambda r: r.name))
    return evolve(status, replicas=ordered, robustness=derive_robustness(ordered, status.number_of_replicas))


def update_replica(status: VolumeStatus, name: str, **changes: Any) -> VolumeStatus:
    """Change fields of one replica (added if the volume did not list it yet)."""
    current = status.replica(name) or ReplicaStatus(name=name)
    others = tuple(r for r in status.replicas if r.name != name)
    return with_replicas(status, (*others, evolve(current, **changes)))


def sender(status: VolumeStatus, e: Any) -> ReplicaStatus | None:
    """The listed replica whose aggregate sent ``e`` (None: not, or no longer, listed)."""
    return next((r for r in status.replicas if r.id == str(e.originator_id)), None)


def update_replica_of(status: VolumeStatus, e: Any, **changes: Any) -> VolumeStatus:
    """Change the replica whose aggregate sent ``e``; a replica no longer listed stays out."""
    current = sender(status, e)
    return status if current is None else update_replica(status, current.name, **changes)


# -- Volume events -----------------------------------------------------------------


@handles("Volume.Created")
def _created(status: VolumeStatus, e: Any) -> VolumeStatus:
    return evolve(
        status, name=e.name, size=e.size, number_of_replicas=e.number_of_replicas,
        state=VolumeState.CREATING, robustness=Robustness.UNKNOWN, standby=e.standby,
        data_locality=DataLocality(e.data_locality), frontend=Frontend(e.frontend),
    )


def _moves_to(state: VolumeState) -> Handler:
    return lambda status, e: evolve(status, state=state)


for _qualname, _state in {
    "Volume.CreationFinished": VolumeState.DETACHED,
    "Volume.DetachStarted": VolumeState.DETACHING,
    "Volume.DeletionStarted": VolumeState.DELETING,
    "Volume.Deleted": VolumeState.DELETED,
}.items():
    handles(_qualname)(_moves_to(_state))


@handles("Volume.AttachStarted")
def _attach_started(status: VolumeStatus, e: Any) -> VolumeStatus:
    return evolve(status, state=VolumeState.ATTACHING, node=e.node)


@handles("Volume.Attached")
def _attached(status: VolumeStatus, e: Any) -> VolumeStatus:
    return evolve(status, state=VolumeState.ATTACHED, endpoint=e.endpoint)


@handles("Volume.AttachFailed")
def _attach_failed(status: VolumeStatus, e: Any) -> VolumeStatus:
    return evolve(status, state=VolumeState.DETACHED, node="")


@handles("Volume.Detached")
def _detached(status: VolumeStatus, e: Any) -> VolumeStatus:
    return evolve(status, state=VolumeState.DETACHED, node="", endpoint="")


@handles("Volume.Expanded", "Volume.ExpandReverted")
def _expanded(status: VolumeStatus, e: Any) -> VolumeStatus:
    return evolve(status, size=e.size)


@handles("Volume.NumberOfReplicasChanged")
def _number_of_replicas_changed(status: VolumeStatus, e: Any) -> VolumeStatus:
    return with_replicas(evolve(status, number_of_replicas=e.number), status.replicas)


@handles("Volume.Activated")
def _activated(status: VolumeStatus, e: Any) -> VolumeStatus:
    return evolve(status, standby=False)


@handles("Volume.ConditionChanged")
def _condition_changed(status: VolumeStatus, e: Any) -> VolumeStatus:
    c = e.condition
    new = ConditionStatus(type=c.type, status=c.status, reason=c.reason, message=c.message, since=e.timestamp.isoformat())
    others = tuple(x for x in status.conditions if x.type != c.type)
    return evolve(status, conditions=tuple(sorted((*others, new), key=lambda x: x.type)))


@handles("Volume.ReplicaAdded")
def _replica_added(status: VolumeStatus, e: Any) -> VolumeStatus:
    return update_replica(status, e.replica.name, node=e.replica.node, mode=ReplicaMode(e.replica.mode))


@handles("Volume.ReplicaModeChanged")
def _replica_mode_changed(status: VolumeStatus, e: Any) -> VolumeStatus:
    return update_replica(status, e.name, mode=ReplicaMode(e.mode))


@handles("Volume.ReplicaRemoved")
def _replica_removed(status: VolumeStatus, e: Any) -> VolumeStatus:
    return with_replicas(status, tuple(r for r in status.replicas if r.name != e.name))


# -- Replica events (routed by the replica aggregate's id) ----------------------------


@handles("Replica.Created")
def _replica_created(status: VolumeStatus, e: Any) -> VolumeStatus:
    return update_replica(
        status, e.name, id=str(e.originator_id), node=e.node, disk=e.disk, data_dir=e.data_dir,
        address=e.address, mode=ReplicaMode(e.mode),
    )


@handles("Replica.AddressChanged")
def _replica_address_changed(status: VolumeStatus, e: Any) -> VolumeStatus:
    return update_replica_of(status, e, address=e.address)


@handles("Replica.ModeChanged")
def _replica_own_mode_changed(status: VolumeStatus, e: Any) -> VolumeStatus:
    return update_replica_of(status, e, mode=ReplicaMode(e.mode))


@handles("Replica.Failed", "Replica.RebuildFailed")
def _replica_failed(status: VolumeStatus, e: Any) -> VolumeStatus:
    current = sender(status, e)
    if current is None:
        return status
    rebuild_failed = current.rebuild == RebuildState.RUNNING or type(e).__qualname__ == "Replica.RebuildFailed"
    return update_replica(
        status, current.name, mode=ReplicaMode.ERR, failures=current.failures + 1, last_failure=e.failure.reason,
        last_failure_at=e.failure.at.isoformat(), rebuild=RebuildState.FAILED if rebuild_failed else current.rebuild,
    )


@handles("Replica.RebuildStarted")
def _replica_rebuild_started(status: VolumeStatus, e: Any) -> VolumeStatus:
    return update_replica_of(
        status, e, mode=ReplicaMode.WO, rebuild=RebuildState.RUNNING, rebuild_source=e.source,
        rebuild_done=0, rebuild_total=0,
    )


@handles("Replica.RebuildProgressed")
def _replica_rebuild_progressed(status: VolumeStatus, e: Any) -> VolumeStatus:
    return update_replica_of(status, e, rebuild_done=e.done, rebuild_total=e.total)


@handles("Replica.RebuildCompleted")
def _replica_rebuild_completed(status: VolumeStatus, e: Any) -> VolumeStatus:
    current = sender(status, e)
    total = current.rebuild_total if current is not None else 0
    return update_replica_of(status, e, mode=ReplicaMode.RW, rebuild=RebuildState.COMPLETED, rebuild_done=total)


@handles("Replica.Removed")
def _replica_gone(status: VolumeStatus, e: Any) -> VolumeStatus:
    rid = str(e.originator_id)
    return with_replicas(status, tuple(r for r in status.replicas if r.id != rid))


# -- SnapshotChain events ----------------------------------------------------------


@handles("SnapshotChain.Taken")
def _snapshot_taken(status: VolumeStatus, e: Any) -> VolumeStatus:
    s = e.snapshot
    taken = SnapshotStatus(
        name=s.name, parent=s.parent, children=tuple(s.children), created=s.created.isoformat(),
        user_created=s.user_created, removed=s.removed, size=s.size, checksum=s.checksum,
        labels=tuple(sorted(s.labels.items())),
    )
    return evolve(status, snapshots=snapshot_taken(status.snapshots, taken), head_parent=s.name)


@handles("SnapshotChain.MarkedRemoved")
def _snapshot_marked_removed(status: VolumeStatus, e: Any) -> VolumeStatus:
    return evolve(status, snapshots=snapshots_changed(status.snapshots, e.name, removed=True))


@handles("SnapshotChain.Measured")
def _snapshot_measured(status: VolumeStatus, e: Any) -> VolumeStatus:
    return evolve(status, snapshots=snapshots_changed(status.snapshots, e.name, size=e.size, checksum=e.checksum))


@handles("SnapshotChain.Purged")
def _snapshots_purged(status: VolumeStatus, e: Any) -> VolumeStatus:
    return evolve(status, snapshots=snapshots_purged(status.snapshots, e.removed, e.coalesced))


@handles("SnapshotChain.Reverted")
def _snapshot_reverted(status: VolumeStatus, e: Any) -> VolumeStatus:
    return evolve(status, head_parent=e.name)
