"""projections.history on an in-memory control plane: membership, positions, times, replay, diff."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.application import ControlPlane
from domain.ids import volume_id
from domain.services import Volumes
from domain.volume import Volume
from projections.history import HistoryError, PositionOutOfRange, diff, read_history

GI = 1024**3


@pytest.fixture
def app() -> ControlPlane:
    app = ControlPlane()
    volumes = Volumes(app)
    volumes.create("a", GI, 1)
    volumes.create("b", GI, 1)
    volumes.finish_creating("a")
    volumes.expand("b", 2 * GI)
    volumes.expand("a", 3 * GI)
    volumes.delete("a")
    return app


def test_history_holds_only_the_volumes_own_events_in_log_order(app: ControlPlane) -> None:
    history = read_history(app.recorder, app.mapper, "a")
    assert [e.type for e in history] == ["Created", "CreationFinished", "Expanded", "DeletionStarted", "Deleted"]
    assert [e.position for e in history] == [1, 2, 3, 4, 5]
    assert {e.aggregate for e in history} == {"Volume"} and {e.aggregate_id for e in history} == {volume_id("a")}
    ids = [e.notification_id for e in history]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert history[2].data() == {"size": 3 * GI}


def test_status_at_every_position_matches_the_aggregate_at_that_version(app: ControlPlane) -> None:
    history = read_history(app.recorder, app.mapper, "a")
    for entry in history:
        volume = app.repository.get(volume_id("a"), version=entry.version)
        assert isinstance(volume, Volume)
        status = history.status_at(entry.position)
        assert (status.name, status.size, status.state, status.robustness, status.version) == (
            volume.name, volume.size, volume.state, volume.robustness, volume.version,
        )
        assert status.events == entry.position and status.position == entry.notification_id


def test_positions_and_times(app: ControlPlane) -> None:
    history = read_history(app.recorder, app.mapper, "a")
    assert history.position_at(history[2].timestamp) == 3
    assert history.position_at(history[-1].timestamp + timedelta(days=1)) == len(history)
    assert history.position_at(history[0].timestamp.replace(tzinfo=None)) >= 1  # naive = UTC
    with pytest.raises(PositionOutOfRange):
        history.position_at(history[0].timestamp - timedelta(seconds=1))
    for bad in (0, len(history) + 1):
        with pytest.raises(PositionOutOfRange, match="outside"):
            history.status_at(bad)
    assert [e.position for e in history.between(1, 3)] == [2, 3]
    assert history.between(3, 1) == history.between(1, 3)


def test_diff_names_changed_fields_only(app: ControlPlane) -> None:
    history = read_history(app.recorder, app.mapper, "a")
    changes = {c.field: (c.before, c.after) for c in diff(history.status_at(2), history.status_at(3))}
    assert changes["size"] == (GI, 3 * GI)
    assert "name" not in changes and "state" not in changes
    assert diff(history.status_at(3), history.status_at(3)) == []


def test_unknown_volume_has_no_history(app: ControlPlane) -> None:
    with pytest.raises(HistoryError, match="'nope'"):
        read_history(app.recorder, app.mapper, "nope")


def test_diff_addresses_named_items_and_collapses_whole_ones() -> None:
    from projections.status_parts import ReplicaStatus
    from projections.volume_status import VolumeStatus

    r1, r2 = ReplicaStatus(name="r1", node="n1"), ReplicaStatus(name="r2", node="n2")
    before = VolumeStatus(name="v", replicas=(r1, r2))
    after = VolumeStatus(name="v", replicas=(ReplicaStatus(name="r1", node="n3"), ReplicaStatus(name="r9")))
    changes = {c.field: (c.before, c.after) for c in diff(before, after)}
    assert changes["replicas[r1].node"] == ("n1", "n3")
    assert changes["replicas[r2]"][1] is None and changes["replicas[r2]"][0]["node"] == "n2"
    assert changes["replicas[r9]"][0] is None and changes["replicas[r9]"][1]["name"] == "r9"
    assert not any(field.startswith("replicas[r1].name") for field in changes)


def test_membership_rule_agrees_with_the_status_projection() -> None:
    from eventsourcing.utils import get_topic

    from domain.node import Node
    from domain.replica import Replica
    from domain.snapshots import SnapshotChain
    from domain.volume import Volume
    from projections.history import volume_of
    from projections.volume_status_projection import volume_of_new_aggregate

    created = [Volume.create("v", GI, 1), Replica.create("v", "r1", "n1", "/d"), SnapshotChain("v"),
               Node.create("n1", "127.0.0.1")]
    firsts = [aggregate.collect_events()[0] for aggregate in created]
    for event in firsts:
        assert volume_of(event) == volume_of_new_aggregate(event), get_topic(type(event))
    assert [volume_of(event) for event in firsts] == ["v", "v", "v", None]


def test_replicas_join_the_history_even_after_removal() -> None:
    from domain.services import Nodes, Replicas
    from domain.values import Disk

    app = ControlPlane()
    Nodes(app).add("n1", "127.0.0.1", disks=[Disk("/d", 10 * GI)])
    Volumes(app).create("a", GI, 1)
    Volumes(app).create("b", GI, 1)
    Replicas(app).add("b", "r1", "n1", "/d")  # same replica name, other volume
    Replicas(app).add("a", "r1", "n1", "/d")
    Replicas(app).fail("a", "r1", "disk gone")
    Replicas(app).remove("a", "r1")
    history = read_history(app.recorder, app.mapper, "a")
    replica_events = [(e.aggregate_name, e.type) for e in history if e.aggregate == "Replica"]
    assert replica_events[0] == ("r1", "Created") and replica_events[-1] == ("r1", "Removed")
    assert len({e.aggregate_id for e in history if e.aggregate == "Replica"}) == 1
    assert all(e.event.volume == "a" for e in history if e.aggregate == "Replica" and e.type == "Created")
    statuses = [history.status_at(p).robustness for p in range(1, len(history) + 1)]
    assert "healthy" in statuses and "faulted" in statuses and statuses[-1] == "unknown"


def test_snapshot_chain_events_are_part_of_the_history(app: ControlPlane) -> None:
    from domain.services import Snapshots

    Volumes(app).create("c", GI, 1)
    Snapshots(app).take("c", "s1")
    Snapshots(app).take("c", "s2")
    history = read_history(app.recorder, app.mapper, "c")
    chain = [e for e in history if e.aggregate == "SnapshotChain"]
    assert chain and chain[0].aggregate_name == "c"
    status = history.status_at(len(history))
    assert [s.name for s in status.snapshots] == ["s1", "s2"]
    changes = {c.field for c in diff(history.status_at(chain[0].position), status)}
    assert any(field.startswith("snapshots[s2]") for field in changes)
