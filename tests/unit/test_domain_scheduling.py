"""Scheduling policy: reasons for failure, soft-rule relaxation, tie-breaking."""

from __future__ import annotations

import pytest

from domain.errors import SchedulingFailed
from domain.node import Node
from domain.scheduling import Affinity, Location, PlacementRequest, schedule
from domain.values import Disk, NotReadyReason, SchedulingReason
from tests.fixtures.nodes import managed_node

GIB = 1 << 30


def node(name: str, zone: str = "", capacity: int = 100 * GIB, tags: tuple[str, ...] = (),
         disks: int = 1, booked: int = 0) -> Node:
    n = Node.create(name, "127.0.0.1", zone=zone, tags=tags,
                    disks=[Disk(f"/d{i}", capacity, tags=("ssd",) if i == 0 else ()) for i in range(disks)])
    if booked:
        n.schedule_replica("/d0", "other/r", booked)
    return managed_node(n)


def reason(request: PlacementRequest, nodes: list[Node], existing: list[Location] = ()) -> str:  # type: ignore[assignment]
    with pytest.raises(SchedulingFailed) as err:
        schedule(request, nodes, existing)
    assert "\n" not in str(err.value)
    return err.value.reason


def test_spreads_over_zones_then_nodes() -> None:
    nodes = [node("a1", "za"), node("a2", "za"), node("b1", "zb")]
    placement = schedule(PlacementRequest(size=GIB, replicas=3), nodes)
    assert {loc.node for loc in placement.locations} == {"a1", "a2", "b1"}
    assert placement.relaxed == ("zone",)  # 3 replicas, 2 zones: zone (soft) had to give


def test_hard_node_anti_affinity_counts_existing_replicas() -> None:
    nodes = [node("n1"), node("n2")]
    request = PlacementRequest(size=GIB, replicas=2)
    assert reason(request, nodes, [Location("n1", "/d0")]) == SchedulingReason.INSUFFICIENT_NODES
    soft = PlacementRequest(size=GIB, replicas=2, node_anti_affinity=Affinity.SOFT)
    placement = schedule(soft, nodes, [Location("n1", "/d0")])
    assert placement.locations[0] == Location("n2", "/d0") and "node" in placement.relaxed


def test_disk_anti_affinity_on_one_node() -> None:
    nodes = [node("n1", disks=2)]
    soft_node = PlacementRequest(size=GIB, replicas=2, node_anti_affinity=Affinity.SOFT,
                                 disk_anti_affinity=Affinity.HARD)
    assert sorted(loc.disk for loc in schedule(soft_node, nodes).locations) == ["/d0", "/d1"]
    three = PlacementRequest(size=GIB, replicas=3, node_anti_affinity=Affinity.SOFT, disk_anti_affinity=Affinity.HARD)
    assert reason(three, nodes) == SchedulingReason.INSUFFICIENT_DISKS


def test_capacity_reasons() -> None:
    # 100 GiB disk with 70 GiB booked: 10 GiB more leaves 20% < 25% available.
    nodes = [node("n1", booked=70 * GIB)]
    assert reason(PlacementRequest(size=10 * GIB, replicas=1), nodes) == SchedulingReason.DISK_PRESSURE
    assert schedule(PlacementRequest(size=5 * GIB, replicas=1), nodes).locations == (Location("n1", "/d0"),)
    # Thin disk with real free space reported: over-provisioning limits instead.
    free = {("n1", "/d0"): 90 * GIB}
    request = PlacementRequest(size=40 * GIB, replicas=1)
    with pytest.raises(SchedulingFailed) as err:
        schedule(request, nodes, free=free)
    assert err.value.reason == SchedulingReason.OVER_PROVISIONED
    generous = PlacementRequest(size=40 * GIB, replicas=1, over_provisioning_percentage=200)
    assert schedule(generous, nodes, free=free).locations == (Location("n1", "/d0"),)


def test_selectors_and_cordons() -> None:
    cordoned = node("n1", tags=("edge",))
    cordoned.cordon()
    nodes = [cordoned, node("n2")]
    assert reason(PlacementRequest(size=GIB, replicas=1, node_selector=("edge",)), nodes) == \
        SchedulingReason.NO_MATCHING_NODES
    assert reason(PlacementRequest(size=GIB, replicas=1, disk_selector=("nvme",)), nodes) == \
        SchedulingReason.NO_MATCHING_DISKS
    ssd = schedule(PlacementRequest(size=GIB, replicas=1, disk_selector=("ssd",)), [node("n3", disks=2)])
    assert ssd.locations == (Location("n3", "/d0"),)


def test_prefers_emptier_disks_deterministically() -> None:
    nodes = [node("n1", booked=50 * GIB), node("n2"), node("n3", booked=10 * GIB)]
    first = schedule(PlacementRequest(size=GIB, replicas=2), nodes)
    assert [loc.node for loc in first.locations] == ["n2", "n3"]
    assert schedule(PlacementRequest(size=GIB, replicas=2), nodes) == first
    assert schedule(PlacementRequest(size=GIB, replicas=0), nodes).locations == ()


def test_nodes_not_ready_and_unconfirmed_disks_take_no_replica() -> None:
    gone = node("n1")
    gone.mark_not_ready(NotReadyReason.MANAGER_STOPPED, "the manager of n1 stopped")
    unchecked = Node.create("n2", "127.0.0.2", disks=[Disk("/d0", 100 * GIB), Disk("/d1", 100 * GIB)])
    unchecked.mark_ready("its manager runs")
    unchecked.confirm_disk("/d1")  # /d0 is emptier by name order only: never picked while unconfirmed
    placed = schedule(PlacementRequest(size=GIB, replicas=1), [gone, unchecked, node("n3")])
    assert {loc.node for loc in placed.locations} <= {"n2", "n3"}
    both = schedule(PlacementRequest(size=GIB, replicas=2), [gone, unchecked, node("n3")])
    assert set(both.locations) == {Location("n2", "/d1"), Location("n3", "/d0")}
    with pytest.raises(SchedulingFailed) as err:
        schedule(PlacementRequest(size=GIB, replicas=3), [gone, unchecked, node("n3")])
    assert err.value.reason == SchedulingReason.INSUFFICIENT_NODES
    assert "n1 (the manager of n1 stopped)" in str(err.value)  # says which node is down and why
    never = Node.create("n4", "127.0.0.4", disks=[Disk("/d0", 100 * GIB)])  # registered, no manager yet
    assert reason(PlacementRequest(size=GIB, replicas=1), [gone, never]) == SchedulingReason.NO_MATCHING_NODES
    ready_unchecked = Node.create("n5", "127.0.0.5", disks=[Disk("/d0", 100 * GIB)])
    ready_unchecked.mark_ready("its manager runs")
    assert reason(PlacementRequest(size=GIB, replicas=1), [ready_unchecked]) == SchedulingReason.NO_MATCHING_DISKS
