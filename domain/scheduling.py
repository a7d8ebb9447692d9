"""Replica scheduling: a pure policy that picks disks for a volume's new replicas.

``schedule(request, nodes, existing, free=None) -> Placement`` or raises
``SchedulingFailed`` whose ``reason`` is a ``SchedulingReason`` value;
``check_growth`` applies the same capacity rules to replicas growing in place (expand).
No I/O, no aggregate changes: the manager calls it and then records the outcome
(Replicas.add, or a ``Scheduled`` condition with the failure reason).

Eligibility: the node is registered, Ready (its manager runs), not cordoned and carries
every ``node_selector`` tag; the disk is schedulable, confirmed by the node's manager and
carries every ``disk_selector`` tag.
Capacity, per disk, for each replica of ``size`` bytes placed on it:
  * minimal available: free - size >= capacity * minimal_available% (free = ``free``
    [(node, path)] when given, e.g. reported by statfs; else capacity - reserved -
    scheduled, i.e. every booked replica fully allocated), else ``DiskPressure``;
  * over-provisioning: scheduled + size <= (capacity - reserved) * over_provisioning%,
    else ``OverProvisioned``.
Anti-affinity, each ``hard`` or ``soft``, against the existing replicas and each
other: zone (nodes without a zone share the zone ""), node, disk. Replicas sharing a
disk share its node and zone, so a hard rule implies the finer ones are hard too.
Soft rules are relaxed only as far as needed: the placement maximises, in this
order, the number of distinct zones, then nodes, then disks the volume's replicas
use. Picking, for each replica, a disk that adds a new zone, else a new node, else
a new disk, else any disk with room, achieves all three maxima at once (each disk's
room is independent of the others), so this greedy choice is optimal and the
policy fails only when no placement exists. Ties go to the disk with the most bytes
available, then by name, so the result is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import SchedulingFailed
from domain.node import Node
from domain.values import Disk, SchedulingReason


class Affinity(StrEnum):
    HARD = "hard"
    SOFT = "soft"


@dataclass(frozen=True)
class Location:
    """Where a replica lives: a node and one of its disks."""

    node: str
    disk: str


@dataclass(frozen=True)
class PlacementRequest:
    size: int  # bytes per replica
    replicas: int  # how many new replicas to place
    node_selector: tuple[str, ...] = ()
    disk_selector: tuple[str, ...] = ()
    node_anti_affinity: Affinity = Affinity.HARD
    zone_anti_affinity: Affinity = Affinity.SOFT
    disk_anti_affinity: Affinity = Affinity.SOFT
    minimal_available_percentage: int = 25
    over_provisioning_percentage: int = 100


@dataclass(frozen=True)
class SchedulingSettings:
    """Cluster-wide scheduling settings (Longhorn's defaults)."""

    node_anti_affinity: Affinity = Affinity.HARD
    zone_anti_affinity: Affinity = Affinity.SOFT
    disk_anti_affinity: Affinity = Affinity.SOFT
    minimal_available_percentage: int = 25
    over_provisioning_percentage: int = 100

    def request(self, size: int, replicas: int, node_selector: tuple[str, ...] = (),
                disk_selector: tuple[str, ...] = ()) -> PlacementRequest:
        return PlacementRequest(size=size, replicas=replicas, node_selector=node_selector,
                                disk_selector=disk_selector, **vars(self))


@dataclass(frozen=True)
class Placement:
    locations: tuple[Location, ...]  # one per new replica
    relaxed: tuple[str, ...]  # soft rules the placement had to break: "zone", "node", "disk"


@dataclass
class _Candidate:
    node: Node
    disk: Disk
    room: int  # how many more replicas of the requested size fit
    left: int  # bytes available on the disk (ranks candidates: emptiest first)

    @property
    def key(self) -> tuple[str, str]:
        return (self.node.name, self.disk.path)


def _available(node: Node, disk: Disk, free: int | None, released: int = 0) -> int:
    return disk.capacity - disk.reserved - node.scheduled_bytes(disk.path) + released if free is None else free


def _room(request: PlacementRequest, node: Node, disk: Disk, free: int | None,
          pressure: bool = True, provisioning: bool = True, released: int = 0) -> int:
    """How many replicas of ``request.size`` fit on the disk under the (enabled) capacity rules,
    once ``released`` of its booked bytes are given back."""
    scheduled = node.scheduled_bytes(disk.path) - released
    available = _available(node, disk, free, released)
    limits = [request.replicas]
    if pressure:  # 100 * (available - k * size) >= capacity * minimal%
        limits.append((100 * available - disk.capacity * request.minimal_available_percentage)
                      // (100 * request.size))
    if provisioning:  # 100 * (scheduled + k * size) <= (capacity - reserved) * over%
        limits.append(((disk.capacity - disk.reserved) * request.over_provisioning_percentage
                       - 100 * scheduled) // (100 * request.size))
    return max(0, min(limits))


def _eligible(request: PlacementRequest, nodes: Iterable[Node]) -> tuple[list[Node], list[tuple[Node, Disk]]]:
    matching = [n for n in nodes if not n.removed and n.ready and n.schedulable
                and set(request.node_selector) <= set(n.tags)]
    disks = [(n, d) for n in matching for d in n.disks.values()
             if d.schedulable and n.disk_confirmed(d.path) and set(request.disk_selector) <= set(d.tags)]
    return matching, disks


def _not_ready(nodes: Iterable[Node]) -> str:
    """" (nodes not Ready: node2 (why))", or "" when every live node is Ready."""
    down = [f"{n.name} ({n.ready_message})" for n in nodes if not n.removed and not n.ready]
    return f" (not Ready: {'; '.join(down)})" if down else ""


def _place(request: PlacementRequest, candidates: list[_Candidate], zone_of: Mapping[str, str],
           existing: list[Location]) -> list[_Candidate]:
    """Greedy optimal placement (see the module docstring); may return fewer than asked."""
    zones = {zone_of.get(loc.node, "") for loc in existing}
    hosts = {loc.node for loc in existing}
    disks = {(loc.node, loc.disk) for loc in existing}
    allowed = 4  # phases: 1 new zone, 2 new node, 3 new disk, 4 any disk with room
    if request.zone_anti_affinity is Affinity.HARD:
        allowed = 1
    elif request.node_anti_affinity is Affinity.HARD:
        allowed = 2
    elif request.disk_anti_affinity is Affinity.HARD:
        allowed = 3
    chosen: list[_Candidate] = []
    for _ in range(request.replicas):
        best: tuple[tuple[int, int, str, str], _Candidate] | None = None
        for c in candidates:
            if c.room <= 0:
                continue
            if zone_of[c.node.name] not in zones:
                phase = 1
            elif c.node.name not in hosts:
                phase = 2
            elif c.key not in disks:
                phase = 3
            else:
                phase = 4
            if phase > allowed:
                continue
            rank = (phase, -c.left, c.node.name, c.disk.path)
            if best is None or rank < best[0]:
                best = (rank, c)
        if best is None:
            break
        pick = best[1]
        pick.room -= 1
        pick.left -= request.size
        chosen.append(pick)
        zones.add(zone_of[pick.node.name])
        hosts.add(pick.node.name)
        disks.add(pick.key)
    return chosen


def schedule(request: PlacementRequest, nodes: Iterable[Node], existing: Iterable[Location] = (),
             free: Mapping[tuple[str, str], int] | None = None) -> Placement:
    """Place ``request.replicas`` new replicas, or raise ``SchedulingFailed`` saying why."""
    if request.size <= 0 or request.replicas < 0:
        raise ValueError("size must be > 0 and replicas >= 0")
    nodes = list(nodes)
    existing = list(existing)
    zone_of = {n.name: n.zone for n in nodes}
    free = free or {}
    matching, disks = _eligible(request, nodes)
    if request.replicas == 0:
        return Placement((), ())
    if not matching:
        raise SchedulingFailed(SchedulingReason.NO_MATCHING_NODES,
                               "no schedulable node carries the tags " + _tags(request.node_selector)
                               + _not_ready(nodes))
    if not disks:
        raise SchedulingFailed(SchedulingReason.NO_MATCHING_DISKS,
                               "no schedulable disk confirmed by its node's manager carries the tags "
                               + _tags(request.disk_selector))

    def attempt(pressure: bool = True, provisioning: bool = True) -> list[_Candidate]:
        candidates = [_Candidate(n, d, _room(request, n, d, free.get((n.name, d.path)), pressure, provisioning),
                                 _available(n, d, free.get((n.name, d.path))))
                      for n, d in disks]
        return _place(request, candidates, zone_of, existing)

    chosen = attempt()
    if len(chosen) < request.replicas:
        failure = _why(request, attempt)
        raise SchedulingFailed(failure.reason, failure.detail + _not_ready(nodes))
    locations = tuple(Location(c.node.name, c.disk.path) for c in chosen)
    return Placement(locations, _relaxed(locations, existing, zone_of))


def _why(request: PlacementRequest, attempt: Callable[..., list[_Candidate]]) -> SchedulingFailed:
    n, size = request.replicas, request.size
    if len(attempt(pressure=False, provisioning=False)) < n:  # fails even with unlimited room
        if request.zone_anti_affinity is Affinity.HARD:
            reason, unit = SchedulingReason.INSUFFICIENT_ZONES, "zones"
        elif request.node_anti_affinity is Affinity.HARD:
            reason, unit = SchedulingReason.INSUFFICIENT_NODES, "nodes"
        else:
            reason, unit = SchedulingReason.INSUFFICIENT_DISKS, "disks"
        return SchedulingFailed(reason, f"not enough eligible {unit} for {n} more replica(s) "
                                        f"under hard {unit[:-1]} anti-affinity")
    if len(attempt(provisioning=False)) >= n:
        return SchedulingFailed(SchedulingReason.OVER_PROVISIONED,
                                f"{n} replica(s) of {size} bytes would exceed "
                                f"{request.over_provisioning_percentage}% over-provisioning")
    return SchedulingFailed(SchedulingReason.DISK_PRESSURE,
                            f"{n} replica(s) of {size} bytes would leave less than "
                            f"{request.minimal_available_percentage}% of a disk available")


def check_growth(request: PlacementRequest, node: Node, disk: Disk, booked: int) -> None:
    """Raise ``SchedulingFailed`` unless ``request.replicas`` replicas of ``request.size`` bytes
    fit on the disk in place of the ``booked`` bytes they hold now (growing replicas already
    placed there), under the same capacity rules as a new placement."""
    where = f"disk {disk.path} of node {node.name}"
    if _room(request, node, disk, None, pressure=False, released=booked) < request.replicas:
        raise SchedulingFailed(SchedulingReason.OVER_PROVISIONED,
                               f"{request.replicas} replica(s) of {request.size} bytes on {where} would exceed "
                               f"{request.over_provisioning_percentage}% over-provisioning")
    if _room(request, node, disk, None, released=booked) < request.replicas:
        raise SchedulingFailed(SchedulingReason.DISK_PRESSURE,
                               f"{request.replicas} replica(s) of {request.size} bytes on {where} would leave "
                               f"less than {request.minimal_available_percentage}% of the disk available")


def _relaxed(new: tuple[Location, ...], existing: list[Location], zone_of: Mapping[str, str]) -> tuple[str, ...]:
    every = [*existing, *new]
    out = []
    for rule, key in (("zone", lambda loc: zone_of.get(loc.node, "")), ("node", lambda loc: loc.node),
                      ("disk", lambda loc: (loc.node, loc.disk))):
        if len({key(loc) for loc in every}) - len({key(loc) for loc in existing}) < len(new):
            out.append(rule)
    return tuple(out)


def _tags(tags: tuple[str, ...]) -> str:
    return ", ".join(tags) if tags else "(none)"
