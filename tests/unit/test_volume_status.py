"""The pure volume status fold agrees with the aggregates after every command.

A scenario drives the domain services on an in-memory ControlPlane through every
kind of event (volume lifecycle, conditions, replicas failing and rebuilding,
snapshots taken, removed, purged, reverted). After each command the volume's
history is folded from scratch with ``projections.volume_status.fold`` and
compared field by field with the Volume, its Replicas and its SnapshotChain.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from domain.application import ControlPlane
from domain.services import Nodes, Replicas, Snapshots, Volumes
from domain.values import GIB, Disk, ReplicaMode
from projections.status_json import status_to_dict
from projections.volume_status import apply, fold
from tests.fixtures.status_checks import REPLICAS, assert_matches_aggregates, history


def scenario(app: ControlPlane) -> list[Callable[[], object]]:
    nodes, volumes, replicas, snapshots = Nodes(app), Volumes(app), Replicas(app), Snapshots(app)
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    steps: list[Callable[[], object]] = [
        lambda: volumes.create("v", GIB, 3),
        lambda: volumes.set_condition("v", "Scheduled", False, "InsufficientNodes", "need 3 nodes"),
        lambda: volumes.finish_creating("v"),
    ]
    for i, r in enumerate(REPLICAS, start=1):
        steps.append(lambda i=i: nodes.add(f"n{i}", f"127.0.0.{i}", disks=[Disk(path="/d", capacity=10 * GIB)]))
        steps.append(lambda i=i, r=r: replicas.add("v", r, f"n{i}", "/d", address=f"127.0.0.{i}:900{i}"))
    steps += [
        lambda: volumes.set_condition("v", "Scheduled", True, "", "placed"),
        lambda: volumes.start_attach("v", "n1"),
        lambda: volumes.attached("v", "127.0.0.1:10809"),
        lambda: snapshots.take("v", "s1", created=at, labels={"app": "db"}),
        lambda: snapshots.take("v", "s2", created=at, user_created=False),
        lambda: replicas.fail("v", "r2", "timeout", at=at),
        lambda: replicas.rebuild_started("v", "r2", source="r1"),
        lambda: replicas.rebuild_progress("v", "r2", 10, 40),
        lambda: replicas.rebuild_completed("v", "r2"),
        lambda: replicas.rebuild_started("v", "r3", source="r1"),
        lambda: replicas.fail("v", "r3", "disk gone", at=at),
        lambda: replicas.set_address("v", "r1", "127.0.0.1:9911"),
        lambda: replicas.set_mode("v", "r1", ReplicaMode.ERR),
        lambda: replicas.set_mode("v", "r2", ReplicaMode.ERR),
        lambda: snapshots.measure("v", "s1", 4096, "ab" * 32),
        lambda: snapshots.revert("v", "s1"),
        lambda: snapshots.take("v", "s3", created=at),
        lambda: snapshots.revert("v", "s3"),
        lambda: snapshots.mark_removed("v", "s2"),
        lambda: snapshots.purged("v", removed=["s2"]),
        lambda: snapshots.mark_removed("v", "s1"),
        lambda: snapshots.purged("v", coalesced={"s1": "s3"}),
        lambda: volumes.expand("v", 2 * GIB),
        lambda: volumes.set_number_of_replicas("v", 2),
        lambda: volumes.start_detach("v"),
        lambda: volumes.detached("v"),
        lambda: volumes.delete("v"),
        lambda: replicas.remove("v", "r3"),
        lambda: replicas.remove("v", "r2"),
        lambda: replicas.remove("v", "r1"),
    ]
    return steps


def test_fold_matches_the_aggregates_after_every_command() -> None:
    app = ControlPlane()
    robustness_seen = set()
    for step in scenario(app):
        step()
        robustness_seen.add(assert_matches_aggregates(app, "v").robustness)
    assert {str(r) for r in robustness_seen} == {"unknown", "degraded", "healthy", "faulted"}
    final = assert_matches_aggregates(app, "v")
    assert final.state == "deleted" and final.replicas == ()
    assert [s.name for s in final.snapshots] == ["s3"] and final.snapshots[0].parent == ""


def test_a_partial_history_gives_the_status_at_that_point() -> None:
    app = ControlPlane()
    steps = scenario(app)
    for step in steps[:9]:  # created, conditions, three replicas
        step()
    events = history(app, "v")
    expanded_later = [*steps[9:]]
    for step in expanded_later:
        step()
    assert fold(history(app, "v")[: len(events)]) == fold(events)
    assert fold(events).robustness == "healthy"


def test_unknown_events_only_move_the_counters() -> None:
    app = ControlPlane()
    Volumes(app).create("v", GIB, 1)
    status = fold(history(app, "v"))

    class Unrelated:
        originator_version = 99
        timestamp = datetime(2030, 1, 1, tzinfo=UTC)

    after = apply(status, Unrelated())
    assert after.events == status.events + 1
    assert after.updated_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert (after.version, after.size, after.state) == (status.version, status.size, status.state)


def test_json_form_uses_plain_values() -> None:
    app = ControlPlane()
    for step in scenario(app)[:14]:
        step()
    data = status_to_dict(fold(history(app, "v")))
    assert data["state"] == "attached" and type(data["state"]) is str
    assert datetime.fromisoformat(data["updated_at"]).tzinfo is not None
    assert data["snapshots"][0]["labels"] == {"app": "db"}
    assert {r["name"]: r["mode"] for r in data["replicas"]} == {"r1": "RW", "r2": "RW", "r3": "RW"}
