"""The volume status projection over real stores: resume after restart, atomic batches.

Runs on memory, SQLite and PostgreSQL (``store_backend``). The view lives in the
same store as the events (``open_status_view(url)``). A runner is stopped midway
(after a few batches, or by a failure inside a commit); a new runner on the same
view finishes the job; the result must equal a view built from scratch in one go,
every volume's event counter must equal the number of events in its history (so
no event was applied twice or skipped), and it must agree with the aggregates.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from domain.ids import chain_id, replica_id, volume_id
from domain.services import Nodes, Replicas, Snapshots, Volumes
from domain.values import GIB, Disk, ReplicaMode
from projections.status_view_sql import SqlTables
from projections.status_views import InMemoryStatusView, SqlStatusView, VolumeStatusView, open_status_view
from projections.volume_status import VolumeStatus
from projections.volume_status_projection import VolumeStatusProjection
from tests.fixtures.store_backends import Backend

BATCH = 7


def make_history(app: Any, volumes: int = 6, rounds: int = 4) -> None:
    nodes, service, replicas, snapshots = Nodes(app), Volumes(app), Replicas(app), Snapshots(app)
    nodes.add("n1", "127.0.0.1", disks=[Disk(path="/d", capacity=1000 * GIB)])
    for i in range(volumes):
        service.create(f"vol-{i}", GIB, 1 + i % 3)
        service.finish_creating(f"vol-{i}")
        replicas.add(f"vol-{i}", "r1", "n1", "/d")
    for r in range(rounds):
        for i in range(volumes):
            name = f"vol-{i}"
            service.expand(name, (2 + r) * GIB)
            service.set_condition(name, "Scheduled", r % 2 == 0, "", f"round {r}")
            snapshots.take(name, f"s{r}")
            replicas.set_mode(name, "r1", ReplicaMode.WO if r % 2 == 0 else ReplicaMode.RW)
            if i % 2 and r % 2 == 0:
                service.start_attach(name, "n1")
                service.attached(name, f"127.0.0.1:{10000 + i}")
            elif i % 2:
                service.start_detach(name)
                service.detached(name)
        nodes.cordon("n1") if r % 2 == 0 else nodes.uncordon("n1")
    service.delete("vol-0")
    replicas.remove("vol-0", "r1")


def history_lengths(app: Any) -> Counter[str]:
    """Number of events in each volume's history (its Volume, Replica and SnapshotChain)."""
    names = {
        aggregate_id: f"vol-{i}"
        for i in range(6)
        for aggregate_id in (volume_id(f"vol-{i}"), chain_id(f"vol-{i}"), replica_id(f"vol-{i}", "r1"))
    }
    counts: Counter[str] = Counter()
    for n in app.recorder.select_notifications(start=1, limit=100_000):
        if n.originator_id in names:
            counts[names[n.originator_id]] += 1
    return counts


class BrokenTables(SqlTables):
    def upsert_status(self) -> str:
        return f"INSERT INTO no_such_table VALUES ({self.placeholder}, {self.placeholder})"


def reopen(backend: Backend, view: VolumeStatusView) -> VolumeStatusView:
    """A view object as a restarted process would get it (memory: the same object)."""
    if isinstance(view, InMemoryStatusView):
        return view
    view.close()
    return open_status_view(backend.url)


def from_scratch(app: Any) -> list[VolumeStatus]:
    view = InMemoryStatusView()
    VolumeStatusProjection(app, view, batch_size=1000).catch_up()
    return view.load_all()


def check_complete(app: Any, view: VolumeStatusView) -> None:
    statuses = view.load_all()
    assert statuses == from_scratch(app)
    lengths = history_lengths(app)
    assert {s.name: s.events for s in statuses} == dict(lengths)
    for status in statuses:
        volume = Volumes(app).get(status.name)
        assert (status.size, status.state, status.robustness) == (volume.size, volume.state, volume.robustness)
        assert (status.node, status.endpoint, status.version) == (volume.node, volume.endpoint, volume.version)
        assert {c.type: c.message for c in status.conditions} == {
            t: c.message for t, c in volume.conditions.items()
        }
        assert {r.name: r.mode for r in status.replicas} == {m.name: m.mode for m in volume.replicas.values()}
        assert [s.name for s in status.snapshots] == [s.name for s in Snapshots(app).list(status.name)]


def test_resumes_after_a_restart_without_reapplying(store_backend: Backend) -> None:
    app = store_backend.open()
    make_history(app)
    view = open_status_view(store_backend.url)
    first = VolumeStatusProjection(app, view, batch_size=BATCH)
    assert first.catch_up(max_batches=3) == 3 * BATCH
    stopped_at = first.position
    assert stopped_at > 0
    assert app.recorder.max_notification_id() > stopped_at

    Volumes(app).expand("vol-1", 9 * GIB)  # events keep coming while it is down
    view = reopen(store_backend, view)
    second = VolumeStatusProjection(store_backend.open(), view, batch_size=BATCH)
    assert second.position == stopped_at
    second.catch_up()
    assert second.position == app.recorder.max_notification_id()
    check_complete(app, view)
    assert view.get("vol-1") is not None and view.get("vol-1").size == 9 * GIB  # type: ignore[union-attr]
    assert second.catch_up() == 0
    view.close()


def test_a_failed_commit_leaves_nothing_behind(store_backend: Backend) -> None:
    if store_backend.name == "memory":
        pytest.skip("the in-memory view commits under one lock; nothing can fail midway")
    app = store_backend.open()
    make_history(app)
    view = open_status_view(store_backend.url)
    assert isinstance(view, SqlStatusView)
    VolumeStatusProjection(app, view, batch_size=BATCH).catch_up(max_batches=2)
    before = (view.max_tracking_id(app.name), view.load_all(), view.load_owners())

    # Break the statuses' upsert: the position was already advanced in the same transaction.
    good_tables = view.tables
    view.tables = BrokenTables(placeholder=good_tables.placeholder, prefix=good_tables.prefix)
    crashing = VolumeStatusProjection(app, view, batch_size=50)
    with pytest.raises(Exception, match="no_such_table"):
        crashing.catch_up()
    assert (view.max_tracking_id(app.name), view.load_all(), view.load_owners()) == before

    view.tables = good_tables
    view = reopen(store_backend, view)
    VolumeStatusProjection(store_backend.open(), view, batch_size=BATCH).catch_up()
    check_complete(app, view)
    view.close()


def test_a_position_is_never_committed_twice(store_backend: Backend) -> None:
    app = store_backend.open()
    make_history(app, volumes=2, rounds=1)
    view = open_status_view(store_backend.url)
    VolumeStatusProjection(app, view, batch_size=BATCH).catch_up(max_batches=1)
    position = view.max_tracking_id(app.name)
    assert position is not None
    with pytest.raises(IntegrityError):
        view.commit({"x": VolumeStatus(name="x")}, {}, Tracking(app.name, position))
    assert view.get("x") is None
    view.close()


def test_follow_keeps_the_view_current_until_stopped(store_backend: Backend) -> None:
    app = store_backend.open()
    view = open_status_view(store_backend.url)
    projection = VolumeStatusProjection(store_backend.open(), view, batch_size=BATCH)
    stop = threading.Event()
    follower = threading.Thread(target=projection.follow, args=(stop, 0.01), daemon=True)
    follower.start()
    try:
        for size in (1, 2, 3):
            if size == 1:
                Volumes(app).create("followed", GIB, 1)
            else:
                Volumes(app).expand("followed", size * GIB)
            wanted = app.recorder.max_notification_id()
            deadline = time.monotonic() + 60  # a hang guard, not a speed requirement
            while projection.position < wanted and time.monotonic() < deadline:
                time.sleep(0.01)
            status = view.get("followed")
            assert status is not None and status.size == size * GIB
    finally:
        stop.set()
        follower.join(timeout=60)
    assert not follower.is_alive()
    view.close()
