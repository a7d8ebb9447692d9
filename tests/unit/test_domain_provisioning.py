"""Volumes.provision / Replicas.place: placement, booking and naming in one save."""

from __future__ import annotations

import pytest

from domain.errors import AlreadyExists, SchedulingFailed
from domain.ids import volume_id
from domain.scheduling import Affinity, SchedulingSettings
from domain.services import Nodes, Replicas, Volumes
from domain.values import ConditionType, Disk, ReplicaMode, Robustness, SchedulingReason, VolumeState
from tests.fixtures.nodes import managed
from tests.fixtures.racing_plane import RacingPlane

GIB = 1 << 30


@pytest.fixture
def app() -> RacingPlane:
    app = RacingPlane()
    for i in (1, 2, 3):
        Nodes(app).add(f"n{i}", f"127.0.0.{i}", zone=f"z{i}", disks=[Disk("/d", 10 * GIB)])
        managed(app)
    return app


def test_provision_places_books_and_finishes(app: RacingPlane) -> None:
    volume = Volumes(app).provision("vol", 2 * GIB, 3)
    assert (volume.state, volume.robustness) == (VolumeState.DETACHED, Robustness.HEALTHY)
    assert sorted(volume.replicas) == ["r1", "r2", "r3"]
    assert {m.node for m in volume.replicas.values()} == {"n1", "n2", "n3"}
    assert volume.conditions[ConditionType.SCHEDULED].status is True
    replica = Replicas(app).get("vol", "r1")
    assert replica.data_dir == "/d/replicas/vol-r1" and replica.mode is ReplicaMode.RW
    assert all(n.scheduled_bytes("/d") == 2 * GIB for n in Nodes(app).list())
    assert Volumes(app).names() == ["vol"]
    with pytest.raises(AlreadyExists):
        Volumes(app).provision("vol", GIB, 1)


def test_provision_failure_writes_nothing(app: RacingPlane) -> None:
    before = app.recorder.max_notification_id()
    with pytest.raises(SchedulingFailed) as err:
        Volumes(app).provision("vol", GIB, 4)
    assert err.value.reason == SchedulingReason.INSUFFICIENT_NODES
    assert app.recorder.max_notification_id() == before
    soft = SchedulingSettings(node_anti_affinity=Affinity.SOFT)
    assert len(Volumes(app).provision("vol", GIB, 4, settings=soft).replicas) == 4


def test_racing_provisions_never_double_book(app: RacingPlane) -> None:
    # Each disk has room for one 6 GiB replica (25% must stay available).
    a, b = Volumes(app), Volumes(app)
    app.before_save.append(lambda: b.provision("b", 6 * GIB, 3))
    with pytest.raises(SchedulingFailed) as err:
        a.provision("a", 6 * GIB, 3)  # its first save conflicts on the nodes, the retry sees b's bookings
    assert err.value.reason == SchedulingReason.DISK_PRESSURE
    assert all(n.scheduled_bytes("/d") == 6 * GIB for n in Nodes(app).list())
    assert [type(e).__name__ for e in app.events.get(volume_id("a"))] == []


def test_place_replaces_failed_replicas(app: RacingPlane) -> None:
    Nodes(app).add("n4", "127.0.0.4", zone="z1", disks=[Disk("/d", 10 * GIB)])
    managed(app)
    volumes, replicas = Volumes(app), Replicas(app)
    volumes.provision("vol", GIB, 3)
    replicas.fail("vol", "r2", "disk died")
    replicas.remove("vol", "r2")
    assert replicas.place("vol") and volumes.get("vol").robustness is Robustness.DEGRADED
    new = replicas.get("vol", "r4")  # r2 is never reused
    assert (new.node, new.mode) == ("n2", ReplicaMode.WO)  # z2 is free again: a new zone beats n4 (z1)
    assert replicas.place("vol") == []  # nothing missing now
    replicas.rebuild_started("vol", "r4", "r1")
    replicas.rebuild_completed("vol", "r4")
    assert volumes.get("vol").robustness is Robustness.HEALTHY


def test_place_failure_sets_condition(app: RacingPlane) -> None:
    Volumes(app).provision("vol", GIB, 3)
    with pytest.raises(SchedulingFailed):
        Replicas(app).place("vol", count=1)
    condition = Volumes(app).get("vol").conditions[ConditionType.SCHEDULED]
    assert (condition.status, condition.reason) == (False, SchedulingReason.INSUFFICIENT_NODES)
