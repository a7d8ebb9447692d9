"""Node aggregate: registration, cordon, disks and scheduled bytes."""

from __future__ import annotations

import pytest

from domain.errors import AlreadyExists, DiskNotFound, InvalidTransition, InvalidValue
from domain.node import Node, make_disk
from domain.values import Disk, NotReadyReason

GIB = 1 << 30


def new() -> Node:
    return Node.create("node-1", "127.0.0.1", zone="zone-a", tags=["ssd"],
                       disks=[Disk("/var/lib/pronghorn/", 100 * GIB)])


def event_names(node: Node) -> list[str]:
    return [type(e).__name__ for e in node.collect_events()]


def test_register() -> None:
    n = new()
    assert (n.name, n.address, n.zone, n.tags, n.schedulable) == ("node-1", "127.0.0.1", "zone-a", ("ssd",), True)
    assert n.disks == {"/var/lib/pronghorn": Disk("/var/lib/pronghorn", 100 * GIB)}
    assert n.scheduled_bytes("/var/lib/pronghorn") == 0
    assert event_names(n) == ["Registered"]


@pytest.mark.parametrize(
    "disk",
    [Disk("relative", GIB), Disk("/d", 0), Disk("/d", GIB, reserved=2 * GIB), Disk("/d", GIB, tags=("a b",))],
)
def test_bad_disks_are_rejected(disk: Disk) -> None:
    with pytest.raises(InvalidValue):
        Node.create("n", "127.0.0.1", disks=[disk])


def test_duplicate_disk_paths_rejected() -> None:
    with pytest.raises(AlreadyExists):
        Node.create("n", "127.0.0.1", disks=[Disk("/d", GIB), Disk("/d/", GIB)])
    n = new()
    with pytest.raises(AlreadyExists):
        n.add_disk("/var/lib/pronghorn", GIB)


def test_cordon_uncordon_idempotent() -> None:
    n = new()
    n.cordon()
    n.cordon()
    assert not n.schedulable
    n.uncordon()
    assert n.schedulable
    assert event_names(n) == ["Registered", "Cordoned", "Uncordoned"]


def test_disks_and_scheduling() -> None:
    n = new()
    n.add_disk("/mnt/b", 10 * GIB, reserved=GIB, tags=["hdd"])
    n.schedule_replica("/mnt/b", "vol/r1", GIB)
    n.schedule_replica("/mnt/b", "vol/r1", GIB)  # same: no event
    n.schedule_replica("/mnt/b", "vol/r1", 2 * GIB)  # expanded
    n.schedule_replica("/mnt/b", "vol/r2", GIB)
    assert n.scheduled_bytes("/mnt/b") == 3 * GIB
    with pytest.raises(InvalidTransition, match="vol/r1, vol/r2"):
        n.remove_disk("/mnt/b")
    with pytest.raises(InvalidTransition):
        n.remove()
    n.update_disk("/mnt/b", schedulable=False)
    assert n.disks["/mnt/b"].schedulable is False
    n.release_replica("/mnt/b", "vol/r1")
    n.release_replica("/mnt/b", "vol/r2")
    n.release_replica("/mnt/b", "vol/r2")  # gone already: no event
    n.remove_disk("/mnt/b")
    assert "/mnt/b" not in n.disks
    with pytest.raises(DiskNotFound):
        n.schedule_replica("/mnt/b", "vol/r3", GIB)
    assert event_names(n) == [
        "Registered", "DiskAdded", "ReplicaScheduled", "ReplicaScheduled", "ReplicaScheduled",
        "DiskUpdated", "ReplicaReleased", "ReplicaReleased", "DiskRemoved",
    ]


def test_remove_and_reregister() -> None:
    n = new()
    n.cordon()
    n.remove()
    with pytest.raises(InvalidTransition, match="removed"):
        n.cordon()
    n.reregister("127.0.0.2", zone="zone-b")
    assert (n.removed, n.schedulable, n.address, n.zone) == (False, True, "127.0.0.2", "zone-b")
    with pytest.raises(AlreadyExists):
        n.reregister("127.0.0.3")


def test_update() -> None:
    n = new()
    n.update(address="10.0.0.1")
    n.update(address="10.0.0.1")
    n.update(tags=["b", "a"])
    assert (n.address, n.zone, n.tags) == ("10.0.0.1", "zone-a", ("a", "b"))
    assert event_names(n) == ["Registered", "Updated", "Updated"]
    with pytest.raises(InvalidValue):
        n.update(zone="Zone A")


def test_make_disk_normalises() -> None:
    assert make_disk("/a/b/", GIB, tags=["z", "a"]) == Disk("/a/b", GIB, 0, ("a", "z"), True)


def test_a_node_is_ready_only_once_its_manager_says_so_and_each_change_is_one_event() -> None:
    n = new()
    n.collect_events()
    assert (n.ready, n.ready_reason) == (False, NotReadyReason.NO_MANAGER)
    n.mark_ready("the manager of node-1 runs")
    n.mark_ready("the manager of node-1 runs")  # a heartbeat that changes nothing records nothing
    n.mark_not_ready(NotReadyReason.MANAGER_STOPPED, "the manager of node-1 stopped")
    n.mark_not_ready(NotReadyReason.HEARTBEAT_LAPSED, "no heartbeat for 31 s")  # already NotReady: no-op
    assert event_names(n) == ["ReadyReported", "NotReadyDeclared"]
    assert (n.ready, n.ready_reason, n.ready_message) == (False, NotReadyReason.MANAGER_STOPPED,
                                                          "the manager of node-1 stopped")
    with pytest.raises(InvalidValue):
        n.mark_not_ready("Whatever", "x")  # type: ignore[arg-type]


def test_a_disk_is_confirmed_by_its_nodes_manager_and_a_failed_check_is_recorded_once() -> None:
    n = new()
    path = "/var/lib/pronghorn"
    assert not n.disk_confirmed(path)
    n.fail_disk_check(path, "/var/lib/pronghorn does not exist on this node")
    n.fail_disk_check(path, "/var/lib/pronghorn does not exist on this node")
    assert n.disk_problems == ((path, "/var/lib/pronghorn does not exist on this node"),)
    n.confirm_disk(path + "/")
    n.confirm_disk(path)
    assert n.disk_confirmed(path) and n.disk_problems == ()
    with pytest.raises(DiskNotFound):
        n.confirm_disk("/elsewhere")
    n.remove_disk(path)
    n.add_disk(path, GIB)
    assert not n.disk_confirmed(path)  # a disk registered again is checked again
    assert event_names(n)[1:] == ["DiskCheckFailed", "DiskConfirmed", "DiskRemoved", "DiskAdded"]
