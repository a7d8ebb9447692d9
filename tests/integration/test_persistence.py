"""One persistence suite, run on the in-memory store, a SQLite file and PostgreSQL.

Everything goes through the domain services on ``ControlPlane`` applications
opened on the store (``tests/fixtures/store_backends.py``): state survives
reopening, the notification log keeps command order, optimistic-concurrency
conflicts between two applications are retried and not lost, and aggregate
snapshots are taken and used for long histories without changing the state.
"""

from __future__ import annotations

from typing import Any

from domain.application import SNAPSHOT_INTERVAL
from domain.ids import volume_id
from domain.services import Nodes, Volumes
from domain.values import GIB, Disk, VolumeState
from tests.fixtures.store_backends import Backend


def volume_topics(app: Any, name: str) -> list[str]:
    """Event class names of one volume's events, in notification-log order."""
    vid = volume_id(name)
    notifications = app.recorder.select_notifications(start=1, limit=10_000)
    ids = [n.id for n in notifications]
    assert ids == sorted(set(ids)), "notification ids must increase strictly"
    return [n.topic.rsplit(".", 1)[-1] for n in notifications if n.originator_id == vid]


def replay(app: Any, aggregate_id: Any) -> Any:
    """The aggregate rebuilt from ALL its stored events (no snapshot)."""
    aggregate = None
    for domain_event in app.events.get(aggregate_id):
        aggregate = domain_event.mutate(aggregate)
    return aggregate


def test_state_survives_reopening(store_backend: Backend) -> None:
    app = store_backend.open()
    nodes, volumes = Nodes(app), Volumes(app)
    nodes.add("n1", "127.0.0.1", zone="z1", disks=[Disk(path="/data/d1", capacity=100 * GIB)])
    nodes.add("n2", "127.0.0.2", zone="z2")
    nodes.add_disk("n2", "/data/d2", 50 * GIB)
    volumes.create("keep", GIB, 3)
    volumes.finish_creating("keep")
    volumes.expand("keep", 2 * GIB)
    volumes.create("drop", GIB, 1)
    volumes.delete("drop")
    expected_keep = volumes.get("keep")
    app.close()

    again = store_backend.open()
    nodes, volumes = Nodes(again), Volumes(again)
    assert volumes.names() == ["keep"]
    assert volumes.get("keep") == expected_keep
    assert (volumes.get("keep").size, volumes.get("keep").state) == (2 * GIB, VolumeState.DETACHED)
    assert volumes.get("drop").state == VolumeState.DELETED
    assert nodes.names() == ["n1", "n2"]
    assert set(nodes.get("n2").disks) == {"/data/d2"}
    assert nodes.get("n1").disks["/data/d1"].capacity == 100 * GIB


def test_notification_log_keeps_command_order(store_backend: Backend) -> None:
    app = store_backend.open()
    volumes = Volumes(app)
    volumes.create("v", GIB, 2)
    volumes.create("other", GIB, 2)
    volumes.finish_creating("v")
    volumes.expand("v", 2 * GIB)
    volumes.set_condition("v", "Scheduled", False, "InsufficientNodes", "no nodes")
    volumes.expand("v", 3 * GIB)
    volumes.delete("v")
    expected = ["Created", "CreationFinished", "Expanded", "ConditionChanged", "Expanded",
                "DeletionStarted", "Deleted"]
    assert volume_topics(app, "v") == expected
    assert volume_topics(store_backend.open(), "v") == expected


def test_concurrent_writers_on_one_store_lose_nothing(store_backend: Backend) -> None:
    first, second = store_backend.open(), store_backend.open()
    Volumes(first).create("v", GIB, 3)
    Volumes(first).finish_creating("v")

    # Make `first` lose a race: right before its first save, `second` saves a change.
    original_save = first.save
    raced = []

    def save_after_a_rival(*aggregates: Any, **kwargs: Any) -> Any:
        if not raced:
            raced.append(True)
            Volumes(second).set_condition("v", "Scheduled", True, "", "placed")
        return original_save(*aggregates, **kwargs)

    first.save = save_after_a_rival  # type: ignore[method-assign]
    Volumes(first).expand("v", 4 * GIB)

    assert raced
    final = Volumes(store_backend.open()).get("v")
    assert final.size == 4 * GIB  # the retried command
    assert final.conditions["Scheduled"].message == "placed"  # the rival's command
    assert volume_topics(first, "v")[-2:] == ["ConditionChanged", "Expanded"]


def test_long_histories_load_from_a_snapshot(store_backend: Backend) -> None:
    app = store_backend.open()
    volumes = Volumes(app)
    volumes.create("long", GIB, 3)
    commands = 2 * SNAPSHOT_INTERVAL + 7
    for i in range(commands):
        volumes.set_condition("long", "Scheduled", i % 2 == 0, "", f"round {i}")
    vid = volume_id("long")
    version = volumes.get("long").version
    assert version == commands + 1

    reopened = store_backend.open()
    assert reopened.snapshots is not None
    snapshots = list(reopened.snapshots.get(vid))
    assert [s.originator_version for s in snapshots] == [SNAPSHOT_INTERVAL, 2 * SNAPSHOT_INTERVAL]

    # Spy on the event store: loading must start after the newest snapshot.
    event_store = reopened.repository.event_store
    original_get, asked_from = event_store.get, []

    def spy_get(*args: Any, **kwargs: Any) -> Any:
        asked_from.append(kwargs.get("gt"))
        return original_get(*args, **kwargs)

    event_store.get = spy_get  # type: ignore[method-assign]
    loaded = Volumes(reopened).get("long")
    assert asked_from == [2 * SNAPSHOT_INTERVAL]
    event_store.get = original_get  # type: ignore[method-assign]

    full = replay(reopened, vid)
    assert loaded == full
    assert loaded.version == full.version == version
    assert loaded.conditions["Scheduled"].message == f"round {commands - 1}"
