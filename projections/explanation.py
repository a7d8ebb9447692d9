"""Why a volume is as it is at a point of its history: the events that produced it, in words.

``explain(entries, status, nodes)`` is a pure function over a volume's history up to a
point (``projections.history.HistoryEntry``, oldest first) and the status folded from
it. For each fact worth explaining — the volume's state, a replica that is not RW (so
robustness), a condition that says something is wrong, a repeating trouble still open, a command
refused since the state last changed, a node its replicas or its attachment wait on — it finds the event that set the fact and walks
back from it: to the event its ``cause`` names (``event:<global position>``, see
``domain.causation``), and to what the manager recorded of the same replica just
before (a process stopped, a trouble started). Each step says who acted.

Node liveness: ``nodes`` maps a node name to that node's events (oldest first, each
with a ``timestamp``; ``NodeEvent``). A node is "not ready" at the point when its newest
event of ``NOT_READY`` kinds (NotReadyDeclared: its manager is gone or silent; Cordoned;
Removed) is later than its newest of ``READY`` kinds (ReadyReported, Uncordoned, ...).
Used by ``adapters.cli.explain`` (``pronghorn replay VOLUME --explain``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from domain.causation import actor_of, cause_of, caused_by_event
from domain.values import ConditionType, ReplicaMode, Robustness
from projections.history import HistoryEntry
from projections.volume_status import VolumeStatus

NOT_READY = frozenset({"NotReadyDeclared", "Cordoned", "Removed"})
READY = frozenset({"ReadyReported", "Uncordoned", "Registered", "Reregistered"})
# conditions that say something is wrong when True (the others when False)
TRUE_IS_TROUBLE = frozenset({ConditionType.WAITING_FOR_NODE, ConditionType.TOO_MANY_SNAPSHOTS})
STATE_EVENTS = frozenset({"Created", "CreationFinished", "AttachStarted", "Attached", "AttachFailed",
                          "DetachStarted", "Detached", "DeletionStarted", "Deleted"})
MODE_EVENTS = frozenset({"Created", "ModeChanged", "Failed", "RebuildStarted", "RebuildCompleted", "RebuildFailed"})
# what an event of this type follows from when no cause is recorded: the nearest earlier event
# of the same aggregate of these types (before an earlier event of its own type)
LEADS_UP: dict[str, frozenset[str]] = {
    "Attached": frozenset({"AttachStarted"}),
    "AttachFailed": frozenset({"AttachStarted"}),
    "Detached": frozenset({"DetachStarted"}),
    "Deleted": frozenset({"DeletionStarted"}),
    "Failed": frozenset({"ProcessStopped", "TroubleStarted"}),
    "RebuildStarted": frozenset({"Failed", "ProcessRestarted", "RebuildFailed"}),
    "RebuildCompleted": frozenset({"RebuildStarted"}),
    "RebuildFailed": frozenset({"RebuildStarted"}),
    "ProcessRestarted": frozenset({"Failed", "TroubleStarted"}),
}
MAX_CHAIN = 8


class NodeEvent(Protocol):
    timestamp: datetime


@dataclass(frozen=True)
class Step:
    position: int  # in the volume's history (0: not one of its events, e.g. a node's)
    global_position: int
    timestamp: datetime
    subject: str  # "Replica/r1", "Volume/v", "Node/node2"
    type: str
    sentence: str  # what happened, in words
    actor: str = ""
    cause: str = ""


@dataclass(frozen=True)
class Finding:
    fact: str  # "replica r1 is ERR", "state is attached"
    chain: tuple[Step, ...] = ()  # the event that set it first, then what led to it


@dataclass(frozen=True)
class Explanation:
    volume: str
    position: int
    summary: str  # "attached, degraded"
    findings: tuple[Finding, ...] = field(default=())


def explain(entries: Sequence[HistoryEntry], status: VolumeStatus,
            nodes: Mapping[str, Sequence[Any]] | None = None, latest: bool = True) -> Explanation:
    """``latest``: the point is now, so every node event counts (else only those up to the point)."""
    by_global = {e.notification_id: e for e in entries}
    findings = [_state(entries, status, by_global)]
    not_rw = [_replica_mode(entries, r.name, r.mode, by_global) for r in status.replicas if r.mode != ReplicaMode.RW]
    if status.robustness != Robustness.HEALTHY:
        rw = sum(1 for r in status.replicas if r.mode == ReplicaMode.RW)
        findings.append(Finding(
            f"volume is {status.robustness}: {rw} of {status.number_of_replicas} wanted replicas are RW",
            tuple(f.chain[0] for f in not_rw if f.chain)))
    findings += not_rw
    findings += _troubles(entries, by_global)
    findings += _refusals(entries, by_global)
    for condition in status.conditions:
        if condition.status == (condition.type in TRUE_IS_TROUBLE):
            setter = _last(entries, partial(_sets_condition, condition.type))
            findings.append(Finding(f"condition {condition.type} is {condition.status}: "
                                    f"{condition.message or condition.reason}", _chain(setter, entries, by_global)))
    findings += _waiting_nodes(status, None if latest or not entries else entries[-1].timestamp, nodes or {})
    position = entries[-1].position if entries else 0
    return Explanation(status.name, position, f"{status.state}, {status.robustness}", tuple(findings))


def _sets_condition(kind: str, e: HistoryEntry) -> bool:
    return e.type == "ConditionChanged" and getattr(getattr(e.event, "condition", None), "type", "") == kind


def _state(entries: Sequence[HistoryEntry], status: VolumeStatus,
           by_global: Mapping[int, HistoryEntry]) -> Finding:
    setter = _last(entries, lambda e: e.aggregate == "Volume" and e.type in STATE_EVENTS)
    where = f" on node {status.node}" if status.node else ""
    return Finding(f"volume is {status.state}{where}", _chain(setter, entries, by_global))


def _replica_mode(entries: Sequence[HistoryEntry], name: str, mode: str,
                  by_global: Mapping[int, HistoryEntry]) -> Finding:
    setter = _last(entries, lambda e: e.aggregate == "Replica" and e.aggregate_name == name and e.type in MODE_EVENTS)
    return Finding(f"replica {name} is {mode}", _chain(setter, entries, by_global))


def _troubles(entries: Sequence[HistoryEntry], by_global: Mapping[int, HistoryEntry]) -> list[Finding]:
    open_: dict[str, HistoryEntry] = {}
    for e in entries:
        if e.type == "TroubleStarted":
            open_[e.aggregate_name] = e
        elif e.type in ("TroubleEnded", "Removed"):
            open_.pop(e.aggregate_name, None)
    return [Finding(f"replica {name} keeps failing: {_reason_text(e.event)}", _chain(e, entries, by_global))
            for name, e in sorted(open_.items())]


def _refusals(entries: Sequence[HistoryEntry], by_global: Mapping[int, HistoryEntry]) -> list[Finding]:
    """Commands refused since the volume's state last changed: what someone asked that did not happen,
    and the state that refused it."""
    setter = _last(entries, lambda e: e.aggregate == "Volume" and e.type in STATE_EVENTS)
    since = setter.position if setter is not None else 0
    return [Finding(f"the command {getattr(e.event, 'command', '?')!r} was refused",
                    (step_of(e), *_chain(setter, entries, by_global)))
            for e in entries if e.type == "CommandRefused" and e.position > since]


def _waiting_nodes(status: VolumeStatus, at: datetime | None, nodes: Mapping[str, Sequence[Any]]) -> list[Finding]:
    wanted = {r.node: f"replica {r.name}" for r in status.replicas if r.node}
    if status.node:
        wanted[status.node] = "the attachment"
    findings = []
    for node, what in sorted(wanted.items()):
        seen = [e for e in nodes.get(node, ()) if at is None or e.timestamp <= at]
        down = _newest(seen, NOT_READY)
        up = _newest(seen, READY)
        if down is not None and (up is None or up.timestamp < down.timestamp):
            step = Step(0, 0, down.timestamp, f"Node/{node}", _type(down), _node_sentence(node, down),
                        actor_of(down), cause_of(down))
            findings.append(Finding(f"{what} waits on node {node}, which is not ready", (step,)))
    return findings


def _newest(events: Sequence[Any], kinds: frozenset[str]) -> Any:
    return next((e for e in reversed(events) if _type(e) in kinds), None)


def _type(event: Any) -> str:
    return str(getattr(event, "type", "") or type(event).__qualname__.rpartition(".")[2])


def _node_sentence(node: str, event: Any) -> str:
    kind = _type(event)
    reason = _reason_text(event)
    if kind == "Cordoned":
        return f"node {node} was cordoned: no new replicas go there"
    if kind == "NotReadyDeclared":
        return f"node {node} was declared not ready: {getattr(event, 'message', '') or reason}"
    return f"node {node}: {kind}" + (f": {reason}" if reason else "")


def _last(entries: Sequence[HistoryEntry], test: Any) -> HistoryEntry | None:
    return next((e for e in reversed(entries) if test(e)), None)


def _chain(entry: HistoryEntry | None, entries: Sequence[HistoryEntry],
           by_global: Mapping[int, HistoryEntry]) -> tuple[Step, ...]:
    """``entry``, then (newest first) what caused it: its cause's event, or the manager's record of
    the same aggregate just before it (a process stopped, a trouble started)."""
    steps: list[Step] = []
    seen: set[int] = set()
    while entry is not None and len(steps) < MAX_CHAIN and entry.notification_id not in seen:
        seen.add(entry.notification_id)
        steps.append(step_of(entry))
        cause = caused_by_event(cause_of(entry.event))
        if cause is not None:
            entry = by_global.get(cause)
            continue
        entry = _lead_up(entry, entries)
    return tuple(steps)


def _lead_up(entry: HistoryEntry, entries: Sequence[HistoryEntry]) -> HistoryEntry | None:
    """The earlier event of the same aggregate ``entry`` follows from (``LEADS_UP``), if any."""
    wanted = LEADS_UP.get(entry.type, frozenset())
    for e in reversed(entries[: entry.position - 1] if _indexed(entries) else entries):
        if e.position >= entry.position or e.aggregate_id != entry.aggregate_id:
            continue
        if e.type in wanted:
            return e
        if e.type == entry.type:
            return None
    return None


def _indexed(entries: Sequence[HistoryEntry]) -> bool:
    """Whether ``entries`` is the history from position 1 (entry N at index N-1)."""
    return bool(entries) and entries[0].position == 1 and entries[-1].position == len(entries)


def step_of(entry: HistoryEntry) -> Step:
    return Step(entry.position, entry.notification_id, entry.timestamp, f"{entry.aggregate}/{entry.aggregate_name}",
                entry.type, sentence(entry), actor_of(entry.event), cause_of(entry.event))


def sentence(entry: HistoryEntry) -> str:
    """One event in words."""
    e, who = entry.event, f"{entry.aggregate.lower()} {entry.aggregate_name}"
    reason = _reason_text(e)
    match entry.type:
        case "Failed":
            return f"{who} failed: {reason}"
        case "RebuildFailed":
            return f"the rebuild of {who} failed: {reason}"
        case "ProcessStopped":
            return f"the manager stopped the process of {who}: {reason}"
        case "ProcessRestarted":
            return f"the manager restarted {who}: {reason}"
        case "ProcessAdopted":
            return f"the manager adopted {who}: {reason}"
        case "TroubleStarted":
            return f"{who} started failing repeatedly: {reason}"
        case "TroubleEnded":
            return f"{who} stopped failing after {getattr(e, 'count', 0)} attempts"
        case "RebuildStarted":
            return f"{who} started rebuilding (mode WO)"
        case "RebuildCompleted":
            how = (f" from {e.source}: {getattr(e, 'from_network', 0)} bytes over the network, "
                   f"{getattr(e, 'copied_locally', 0)} copied locally") if getattr(e, "source", "") else ""
            return f"{who} finished rebuilding{how} (mode RW)"
        case "ModeChanged" | "ReplicaModeChanged":
            return f"{who}: mode set to {getattr(e, 'mode', '?')}"
        case "CommandRefused":
            return f"{who}: the command {getattr(e, 'command', '?')!r} was refused: {reason}"
        case "AttachFailed":
            return f"{who}: attaching failed: {reason}"
        case "ConditionChanged":
            c = e.condition
            return f"{who}: condition {c.type} became {c.status}" + (f": {c.message}" if c.message else "")
        case _:
            return f"{who}: {entry.type}"


def _reason_text(event: Any) -> str:
    """The readable reason an event carries (a Reason, a Failure, or a plain string)."""
    for name in ("reason", "failure"):
        value = getattr(event, name, None)
        if value is None:
            continue
        if name == "failure":
            return str(getattr(value, "reason", value))
        return str(getattr(value, "message", value))
    return ""
