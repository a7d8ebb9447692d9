"""Scheduling properties, checked against a brute-force search on tiny clusters.

For random clusters (zones, cordons, tags, disks with bookings) and requests (hard or
soft anti-affinity per level, selectors, capacity percentages): the policy fails
exactly when no placement exists; a placement never breaks a hard rule or a capacity
rule (recomputed here independently); and it spreads over as many zones, then nodes,
then disks as the best placement found by exhaustive search (soft rules are relaxed
only as far as they must be).
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations_with_replacement

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.errors import SchedulingFailed
from domain.node import Node
from domain.scheduling import Affinity, Location, PlacementRequest, schedule
from domain.values import Disk

UNIT = 4096
TAGS = st.lists(st.sampled_from(["ssd", "fast"]), max_size=2, unique=True)


@st.composite
def clusters(draw: st.DrawFn) -> list[Node]:
    nodes = []
    for i in range(draw(st.integers(1, 5))):
        disks = [Disk(f"/d{j}", draw(st.integers(2, 16)) * UNIT, draw(st.integers(0, 2)) * UNIT,
                      tuple(draw(TAGS)), draw(st.booleans() | st.just(True)))
                 for j in range(draw(st.integers(1, 2)))]
        disks = [d if d.reserved <= d.capacity else Disk(d.path, d.capacity, 0, d.tags, d.schedulable) for d in disks]
        node = Node.create(f"n{i}", "127.0.0.1", zone=draw(st.sampled_from(["", "za", "zb"])),
                           tags=draw(TAGS), disks=disks)
        for d in disks:
            booked = draw(st.integers(0, 6))
            if booked:
                node.schedule_replica(d.path, f"other/{d.path}", booked * UNIT)
        if draw(st.integers(0, 9)) == 0:
            node.cordon()
        if draw(st.integers(0, 9)) != 0:  # mostly: its manager runs and has checked its disks
            node.mark_ready("its manager runs")
        for d in disks:
            if draw(st.integers(0, 9)) != 0:
                node.confirm_disk(d.path)
        nodes.append(node)
    return nodes


@st.composite
def requests(draw: st.DrawFn) -> PlacementRequest:
    affinity = st.sampled_from([Affinity.HARD, Affinity.SOFT, Affinity.SOFT])
    return PlacementRequest(
        size=draw(st.integers(1, 3)) * UNIT,
        replicas=draw(st.integers(1, 3)),
        node_selector=draw(st.sampled_from([(), (), (), ("ssd",)])),
        disk_selector=draw(st.sampled_from([(), (), (), ("fast",)])),
        node_anti_affinity=draw(affinity),
        zone_anti_affinity=draw(affinity),
        disk_anti_affinity=draw(affinity),
        minimal_available_percentage=draw(st.sampled_from([0, 10, 25])),
        over_provisioning_percentage=draw(st.sampled_from([50, 100, 200])),
    )


def fits(request: PlacementRequest, node: Node, disk: Disk, count: int) -> bool:
    """Independent restatement of the capacity rules for ``count`` new replicas on a disk."""
    scheduled = node.scheduled_bytes(disk.path)
    available = disk.capacity - disk.reserved - scheduled
    after = count * request.size
    return (available - after >= disk.capacity * request.minimal_available_percentage / 100
            and scheduled + after <= (disk.capacity - disk.reserved) * request.over_provisioning_percentage / 100)


def valid(request: PlacementRequest, nodes: list[Node], existing: list[Location], new: list[Location]) -> bool:
    by_name = {n.name: n for n in nodes}
    for loc in new:
        node = by_name[loc.node]
        disk = node.disks[loc.disk]
        if (node.removed or not node.ready or not node.schedulable or not set(request.node_selector) <= set(node.tags)
                or not disk.schedulable or disk.path not in node.confirmed_disks
                or not set(request.disk_selector) <= set(disk.tags)):
            return False
    for (name, path), count in Counter((loc.node, loc.disk) for loc in new).items():
        if not fits(request, by_name[name], by_name[name].disks[path], count):
            return False
    levels = [(request.zone_anti_affinity, lambda loc: by_name[loc.node].zone if loc.node in by_name else ""),
              (request.node_anti_affinity, lambda loc: loc.node),
              (request.disk_anti_affinity, lambda loc: (loc.node, loc.disk))]
    for affinity, key in levels:
        if affinity is Affinity.HARD:
            keys = [key(loc) for loc in new]
            if len(set(keys)) < len(keys) or set(keys) & {key(loc) for loc in existing}:
                return False
    return True


def spread(nodes: list[Node], locations: list[Location]) -> tuple[int, int, int]:
    zone = {n.name: n.zone for n in nodes}
    return (len({zone[loc.node] for loc in locations}), len({loc.node for loc in locations}),
            len({(loc.node, loc.disk) for loc in locations}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), nodes=clusters(), request=requests())
def test_matches_brute_force(data: st.DataObject, nodes: list[Node], request: PlacementRequest) -> None:
    every = [Location(n.name, p) for n in nodes for p in n.disks]
    existing = data.draw(st.lists(st.sampled_from(every), max_size=2, unique=True))
    feasible = [list(combo) for combo in combinations_with_replacement(every, request.replicas)
                if valid(request, nodes, existing, list(combo))]
    try:
        placement = schedule(request, nodes, existing)
    except SchedulingFailed as failure:
        assert feasible == [], f"failed with {failure.reason} but {feasible[0]} fits"
        event(f"failed: {failure.reason}")
        return
    event(f"placed, relaxed {placement.relaxed}")
    new = list(placement.locations)
    assert len(new) == request.replicas
    assert valid(request, nodes, existing, new)
    best = max(spread(nodes, existing + combo) for combo in feasible)
    assert spread(nodes, existing + new) == best
