"""Volumes / Nodes services on the in-memory store: commands, errors, listing, retries."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from domain.application import SNAPSHOT_INTERVAL, ControlPlane
from domain.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidTransition,
    InvalidValue,
    NodeNotFound,
    VolumeNotFound,
)
from domain.ids import volume_id
from domain.services import Nodes, Volumes
from domain.values import Disk, VolumeState
from tests.fixtures.racing_plane import RacingPlane

GIB = 1 << 30


@pytest.fixture
def app() -> RacingPlane:
    return RacingPlane()


def test_create_get_list(app: ControlPlane) -> None:
    volumes = Volumes(app)
    volumes.create("b", GIB, 2)
    volumes.create("a", 2 * GIB, node_selector=["ssd"])
    assert volumes.names() == ["a", "b"]
    assert [(v.name, v.size, v.state) for v in volumes.list()] == [
        ("a", 2 * GIB, VolumeState.CREATING), ("b", GIB, VolumeState.CREATING)]
    assert volumes.get("a").node_selector == ("ssd",)
    with pytest.raises(VolumeNotFound, match="'zz' not found"):
        volumes.get("zz")
    with pytest.raises(AlreadyExists):
        volumes.create("a", GIB)
    with pytest.raises(InvalidValue):
        volumes.create("c", 100)
    assert volumes.names() == ["a", "b"]


def test_delete_then_list_and_no_reuse(app: ControlPlane) -> None:
    volumes = Volumes(app)
    volumes.create("a", GIB)
    volumes.create("b", GIB)
    assert volumes.delete("a").state is VolumeState.DELETED  # no replicas: at once
    assert volumes.names() == ["b"]
    assert volumes.get("a").state is VolumeState.DELETED
    with pytest.raises(AlreadyExists, match="not reused"):
        volumes.create("a", GIB)


def test_lifecycle_through_service(app: ControlPlane) -> None:
    volumes = Volumes(app)
    volumes.create("v", GIB)
    volumes.finish_creating("v")
    Nodes(app).add("n1", "127.0.0.1")
    volumes.start_attach("v", "n1")
    volumes.attached("v", "nbd://127.0.0.1:1")
    with pytest.raises(InvalidTransition):
        volumes.delete("v")
    volumes.expand("v", 2 * GIB)
    volumes.start_detach("v")
    volumes.detached("v")
    volumes.set_condition("v", "Scheduled", True, "", "")
    v = volumes.get("v")
    assert (v.state, v.size, v.conditions["Scheduled"].status) == (VolumeState.DETACHED, 2 * GIB, True)
    with pytest.raises(VolumeNotFound):
        volumes.expand("nope", GIB)


def test_conflicting_writer_is_retried_not_lost(app: RacingPlane) -> None:
    a, b = Volumes(app), Volumes(app)
    a.create("v", GIB)
    # Writer b saves a condition between a's load and a's save of the expansion.
    app.before_save.append(lambda: b.set_condition("v", "Scheduled", False, "InsufficientNodes", "x"))
    a.expand("v", 4 * GIB)
    v = a.get("v")
    assert v.size == 4 * GIB and v.conditions["Scheduled"].reason == "InsufficientNodes"
    assert [type(e).__name__ for e in app.events.get(volume_id("v"))] == ["Created", "ConditionChanged", "Expanded"]


def test_retry_revalidates_against_new_state(app: RacingPlane) -> None:
    a, b = Volumes(app), Volumes(app)
    a.create("v", GIB)
    app.before_save.append(lambda: b.expand("v", 8 * GIB))
    with pytest.raises(InvalidValue, match="only grow"):
        a.expand("v", 4 * GIB)  # b's bigger expansion won: a's shrink is refused, not applied
    assert a.get("v").size == 8 * GIB


def test_racing_creates_one_wins(app: RacingPlane) -> None:
    a, b = Volumes(app), Volumes(app)
    app.before_save.append(lambda: b.create("v", 2 * GIB))
    with pytest.raises(AlreadyExists):
        a.create("v", GIB)
    assert a.get("v").size == 2 * GIB and a.names() == ["v"]


def test_gives_up_after_attempts(app: RacingPlane) -> None:
    volumes = Volumes(app, attempts=3)
    volumes.create("v", GIB)

    def always_conflict(*_: Any, **__: Any) -> Any:
        raise IntegrityError("version clash")

    app.save = always_conflict  # type: ignore[method-assign]
    with pytest.raises(ConcurrencyConflict, match="3 attempts"):
        volumes.expand("v", 2 * GIB)


def test_threads_racing_on_one_volume_lose_nothing() -> None:
    app = ControlPlane({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    Volumes(app).create("v", GIB)

    def worker(i: int) -> None:
        service = Volumes(app)
        for j in range(10):
            service.set_condition("v", f"T{i}-{j}", True)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(Volumes(app).get("v").conditions) == 40


def test_long_history_loads_from_snapshot(app: ControlPlane) -> None:
    volumes = Volumes(app)
    volumes.create("v", 4096)
    for i in range(1, SNAPSHOT_INTERVAL + 5):
        volumes.expand("v", 4096 * (i + 1))
    assert app.snapshots is not None
    snaps = list(app.snapshots.get(volume_id("v")))
    assert [s.originator_version for s in snaps] == [SNAPSHOT_INTERVAL]
    live = volumes.get("v")  # newest snapshot + the events after it
    replayed: Any = None
    for event in app.events.get(volume_id("v")):  # every event from the start
        replayed = event.mutate(replayed)  # type: ignore[attr-defined]
    assert vars(live) == vars(replayed) and live.size == 4096 * (SNAPSHOT_INTERVAL + 5)
    assert type(live.state) is VolumeState and type(live.node_selector) is tuple


def test_nodes(app: ControlPlane) -> None:
    nodes = Nodes(app)
    nodes.add("n2", "127.0.0.2", zone="z2")
    nodes.add("n1", "127.0.0.1", zone="z1", tags=["ssd"], disks=[Disk("/d1", 10 * GIB)])
    assert nodes.names() == ["n1", "n2"]
    with pytest.raises(AlreadyExists):
        nodes.add("n1", "127.0.0.9")
    nodes.cordon("n1")
    nodes.add_disk("n2", "/d2", 5 * GIB, reserved=GIB, tags=["hdd"])
    with pytest.raises(InvalidValue):
        nodes.add_disk("n2", "/d3", -1)
    nodes.update_disk("n2", "/d2", tags=["nvme"])
    nodes.update("n2", tags=["edge"])
    n1, n2 = nodes.list()
    assert not n1.schedulable and n2.disks["/d2"].tags == ("nvme",) and n2.tags == ("edge",)
    nodes.uncordon("n1")
    assert nodes.get("n1").schedulable
    nodes.remove_disk("n2", "/d2")
    nodes.remove("n2")
    assert nodes.names() == ["n1"]
    with pytest.raises(NodeNotFound):
        nodes.get("n2")
    with pytest.raises(NodeNotFound):
        nodes.cordon("n2")
    back = nodes.add("n2", "127.0.0.22", disks=[Disk("/d4", GIB)])
    assert (back.address, sorted(back.disks)) == ("127.0.0.22", ["/d4"])
    assert nodes.names() == ["n1", "n2"]


def test_attach_needs_a_registered_node_and_rm_refuses_a_node_serving_a_volume(app: ControlPlane) -> None:
    volumes, nodes = Volumes(app), Nodes(app)
    volumes.create("v", GIB)
    volumes.finish_creating("v")
    with pytest.raises(NodeNotFound):
        volumes.start_attach("v", "ghost")
    nodes.add("n1", "127.0.0.1")
    nodes.add("n2", "127.0.0.2")
    nodes.remove("n2")
    with pytest.raises(NodeNotFound):
        volumes.start_attach("v", "n2")  # removed
    assert volumes.get("v").state == VolumeState.DETACHED
    volumes.start_attach("v", "n1")
    with pytest.raises(InvalidTransition, match="volumes attached there: v"):
        nodes.remove("n1")
    volumes.force_detach("v")
    assert nodes.remove("n1").removed


@pytest.mark.parametrize(("address", "disk", "fragment"), [
    ("notanip", "/srv/d", "node address"), ("0.0.0.0", "/srv/d", "node address"), ("127.0.0.1", "/", "root"),
    ("127.0.0.1", "/etc", "/etc"), ("127.0.0.1", "/usr/lib/x", "/usr"), ("127.0.0.1", "/srv/../etc", "normalised"),
    ("127.0.0.1", "/srv/d\n", "one line"), ("127.0.0.1", "/" + "d" * 4096, "one line"),
])
def test_node_registration_validates_address_and_disk_path(app: ControlPlane, address: str, disk: str,
                                                           fragment: str) -> None:
    with pytest.raises(InvalidValue, match=fragment):
        Nodes(app).add("n1", address, disks=[Disk(disk, GIB)])
    assert Nodes(app).names() == []
    node = Nodes(app).add("n1", "FD00:0::1", disks=[Disk("//srv//d/", GIB)])
    assert (node.address, list(node.disks)) == ("fd00::1", ["/srv/d"])
    with pytest.raises(InvalidValue, match="node address"):
        Nodes(app).update("n1", address="localhost")
