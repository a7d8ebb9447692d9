"""Replicas / Snapshots services: volume, replica and node stay in step."""

from __future__ import annotations

import pytest

from domain.application import ControlPlane
from domain.errors import (
    AlreadyExists,
    InvalidTransition,
    InvalidValue,
    NodeNotFound,
    ReplicaNotFound,
    SchedulingFailed,
    VolumeNotFound,
)
from domain.scheduling import SchedulingSettings
from domain.services import Nodes, Replicas, Snapshots, Volumes
from domain.values import ConditionType, Disk, ReplicaMode, Robustness, SchedulingReason, VolumeState

GIB = 1 << 30


@pytest.fixture
def app() -> ControlPlane:
    app = ControlPlane({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for i in (1, 2, 3):
        Nodes(app).add(f"n{i}", f"127.0.0.{i}", disks=[Disk("/d", 100 * GIB)])
    Volumes(app).create("vol", GIB, 2)
    return app


def test_add_books_bytes_and_sets_robustness(app: ControlPlane) -> None:
    replicas, volumes, nodes = Replicas(app), Volumes(app), Nodes(app)
    replicas.add("vol", "r1", "n1", "/d", data_dir="/d/replicas/vol-r1")
    assert volumes.get("vol").robustness is Robustness.DEGRADED
    replicas.add("vol", "r2", "n2", "/d")
    assert volumes.get("vol").robustness is Robustness.HEALTHY
    assert nodes.get("n1").scheduled_bytes("/d") == GIB
    assert [r.name for r in replicas.list_for("vol")] == ["r1", "r2"]
    volumes.expand("vol", 2 * GIB)
    assert nodes.get("n2").scheduled_bytes("/d") == 2 * GIB
    with pytest.raises(AlreadyExists):
        replicas.add("vol", "r1", "n3", "/d")
    with pytest.raises(NodeNotFound):
        replicas.add("vol", "r3", "nx", "/d")
    with pytest.raises(VolumeNotFound):
        replicas.add("nope", "r3", "n3", "/d")
    with pytest.raises(ReplicaNotFound):
        replicas.get("vol", "r9")
    assert [r.name for r in replicas.list_for("vol")] == ["r1", "r2"]  # failed adds left nothing


def test_failure_and_rebuild_drive_volume_robustness(app: ControlPlane) -> None:
    replicas, volumes = Replicas(app), Volumes(app)
    replicas.add("vol", "r1", "n1", "/d")
    replicas.add("vol", "r2", "n2", "/d")
    replicas.fail("vol", "r2", "connection reset")
    assert volumes.get("vol").replicas["r2"].mode is ReplicaMode.ERR
    assert volumes.get("vol").robustness is Robustness.DEGRADED
    replicas.fail("vol", "r1", "disk gone")
    assert volumes.get("vol").robustness is Robustness.FAULTED
    replicas.rebuild_started("vol", "r2", source="r1")
    replicas.rebuild_progress("vol", "r2", 50, 100)
    assert replicas.get("vol", "r2").rebuild_done == 50
    replicas.rebuild_completed("vol", "r2")
    replicas.set_mode("vol", "r1", "RW")
    assert volumes.get("vol").robustness is Robustness.HEALTHY
    replicas.rebuild_started("vol", "r1", source="r2")
    replicas.rebuild_failed("vol", "r1", "r2 went away")
    assert volumes.get("vol").replicas["r1"].mode is ReplicaMode.ERR
    replicas.set_address("vol", "r1", "127.0.0.1:7000")
    assert replicas.get("vol", "r1").address == "127.0.0.1:7000"


def test_delete_waits_for_replicas_then_finishes(app: ControlPlane) -> None:
    replicas, volumes, nodes = Replicas(app), Volumes(app), Nodes(app)
    replicas.add("vol", "r1", "n1", "/d")
    replicas.add("vol", "r2", "n2", "/d")
    assert volumes.delete("vol").state is VolumeState.DELETING
    assert volumes.names() == ["vol"]
    with pytest.raises(InvalidTransition):
        volumes.deleted("vol")
    with pytest.raises(InvalidTransition):
        replicas.add("vol", "r3", "n3", "/d")
    replicas.remove("vol", "r1")
    assert volumes.get("vol").state is VolumeState.DELETING
    replicas.remove("vol", "r2")
    assert volumes.get("vol").state is VolumeState.DELETED
    assert volumes.names() == []
    assert nodes.get("n1").scheduled_bytes("/d") == 0
    assert replicas.get("vol", "r1").removed
    nodes.remove("n1")  # nothing booked any more


def test_snapshots_service(app: ControlPlane) -> None:
    snapshots = Snapshots(app)
    assert snapshots.list("vol") == []
    with pytest.raises(VolumeNotFound):
        snapshots.list("nope")
    with pytest.raises(VolumeNotFound):
        snapshots.take("nope", "s1")
    snapshots.take("vol", "s1", labels={"app": "db"})
    snapshots.take("vol", "s2", user_created=False)
    snapshots.mark_removed("vol", "s1")
    snapshots.purged("vol", coalesced={"s1": "s2"})
    snapshots.take("vol", "s3")
    snapshots.revert("vol", "s2")
    snapshots.measure("vol", "s3", 4096, "c0ffee")
    chain = snapshots.chain("vol")
    assert [s.name for s in snapshots.list("vol")] == ["s2", "s3"]
    assert (chain.head_parent, chain.get("s2").parent, chain.get("s3").checksum) == ("s2", "", "c0ffee")
    Volumes(app).delete("vol")
    with pytest.raises(InvalidTransition):
        snapshots.take("vol", "s4")


def test_expand_is_checked_against_each_disk_as_a_placement_is(app: ControlPlane) -> None:
    replicas, volumes, nodes = Replicas(app), Volumes(app), Nodes(app)
    replicas.add("vol", "r1", "n1", "/d")
    replicas.add("vol", "r2", "n2", "/d")
    volumes.create("other", 30 * GIB, 1)
    replicas.add("other", "r1", "n2", "/d")
    with pytest.raises(SchedulingFailed) as refused:  # 80 GiB fits n1 alone, not n2 beside 30 GiB
        volumes.expand("vol", 80 * GIB, SchedulingSettings(minimal_available_percentage=0))
    assert refused.value.reason is SchedulingReason.OVER_PROVISIONED
    assert "n2" in str(refused.value)
    with pytest.raises(SchedulingFailed) as refused:  # booked 80 of 100 GiB: less than 25% left on n2
        volumes.expand("vol", 50 * GIB)
    assert refused.value.reason is SchedulingReason.DISK_PRESSURE
    assert "n2" in str(refused.value)
    assert volumes.get("vol").size == GIB  # nothing written
    assert nodes.get("n1").scheduled_bytes("/d") == GIB
    volumes.expand("vol", 45 * GIB)  # its own old bookings do not count against it: 30 + 45 <= 75%
    assert nodes.get("n2").scheduled_bytes("/d") == 75 * GIB
    volumes.expand("vol", 45 * GIB)  # repeated: a no-op
    assert volumes.get("vol").size == 45 * GIB


def test_a_refused_expand_is_reverted_with_its_bookings(app: ControlPlane) -> None:
    replicas, volumes, nodes = Replicas(app), Volumes(app), Nodes(app)
    replicas.add("vol", "r1", "n1", "/d")
    volumes.expand("vol", 10 * GIB)
    assert nodes.get("n1").scheduled_bytes("/d") == 10 * GIB
    volumes.expand_refused("vol", GIB, "n1:/d: file too large")
    volume = volumes.get("vol")
    assert volume.size == GIB and nodes.get("n1").scheduled_bytes("/d") == GIB
    resized = volume.conditions[ConditionType.RESIZED]
    assert (resized.status, resized.reason, resized.message) == (False, "ExpandRefused", "n1:/d: file too large")
    version = volume.version
    volumes.expand_refused("vol", GIB, "n1:/d: file too large")  # repeated: a no-op
    assert volumes.get("vol").version == version
    with pytest.raises(InvalidValue):
        volumes.expand_refused("vol", 2 * GIB, "more than the volume: not a revert")
    volumes.expand("vol", 2 * GIB)  # a size that fits still grows
    assert volumes.get("vol").size == 2 * GIB
