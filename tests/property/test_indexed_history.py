"""Property: a volume's history read through the index equals the one found by scanning the log.

Hypothesis draws interleaved command sequences on two volumes (one created midway),
with node events in between, and catches the status view up at random points, with
a random batch size and checkpoint spacing (so the index is built in pieces, resumed
from its recorded position, and replays start from checkpoints). Then, for each
volume, the index-based history (``projections.indexed_history``) must hold exactly
the entries of the full scan (``projections.history.read_history``): same events,
positions, notification ids, aggregates and names; the same status at every
position, the same position for every event's time, and the same filtered selection.
Runs in memory and on SQLite.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import ControlPlane
from domain.errors import DomainError
from domain.services import Nodes, Replicas, Snapshots, Volumes
from domain.store import open_control_plane
from domain.values import GIB, Disk, ReplicaMode
from projections.event_filter import EventFilter
from projections.history import read_history
from projections.indexed_history import indexed_history
from projections.status_views import InMemoryStatusView, VolumeStatusView, status_view_of
from projections.volume_status_projection import VolumeStatusProjection

Command = Callable[[ControlPlane, str, int], object]
VOLUMES = ("v", "w")
REPLICAS = ("r1", "r2", "r3")

COMMANDS: list[Command] = [
    lambda app, v, i: Volumes(app).create(v, GIB, 1 + i % 3),
    lambda app, v, i: Volumes(app).finish_creating(v),
    lambda app, v, i: Volumes(app).start_attach(v, f"n{i % 2 + 1}"),
    lambda app, v, i: Volumes(app).attached(v, f"127.0.0.1:{10000 + i}"),
    lambda app, v, i: Volumes(app).start_detach(v),
    lambda app, v, i: Volumes(app).detached(v),
    lambda app, v, i: Volumes(app).expand(v, (2 + i) * GIB),
    lambda app, v, i: Volumes(app).set_condition(v, "Scheduled", i % 2 == 0, "", f"try {i}"),
    lambda app, v, i: Replicas(app).add(v, REPLICAS[i % 3], f"n{i % 2 + 1}", "/d"),
    lambda app, v, i: Replicas(app).set_mode(v, REPLICAS[i % 3], list(ReplicaMode)[i % 3]),
    lambda app, v, i: Replicas(app).fail(v, REPLICAS[i % 3], f"error {i}"),
    lambda app, v, i: Replicas(app).remove(v, REPLICAS[i % 3]),
    lambda app, v, i: Snapshots(app).take(v, f"s{i}"),
    lambda app, v, i: Snapshots(app).mark_removed(v, f"s{i}"),
    lambda app, v, i: Nodes(app).cordon("n2") if i % 2 else Nodes(app).uncordon("n2"),
]

STEPS = st.lists(
    st.tuples(st.sampled_from(VOLUMES), st.integers(0, len(COMMANDS) - 1), st.integers(0, 5), st.booleans()),
    max_size=40,
)


def check(app: ControlPlane, view: VolumeStatusView, steps: list[tuple[str, int, int, bool]], batch: int,
          every: int) -> None:
    for n in (1, 2):
        Nodes(app).add(f"n{n}", f"127.0.0.{n}", disks=[Disk(path="/d", capacity=100 * GIB)])
    Volumes(app).create("v", GIB, 2)
    for volume, command, arg, catch_up in steps:
        try:
            COMMANDS[command](app, volume, arg)
        except DomainError:
            continue
        if catch_up:  # a reader came by: the index is built up to here, the rest later
            VolumeStatusProjection(app, view, batch, every).catch_up()
    VolumeStatusProjection(app, view, batch, every).catch_up()
    for volume in VOLUMES:
        if not _exists(app, volume):
            continue
        full = read_history(app.recorder, app.mapper, volume)
        indexed = indexed_history(app, view, volume)
        assert len(indexed) == len(full)
        assert list(indexed) == list(full)
        for position in range(1, len(full) + 1):
            assert indexed.status_at(position) == full.status_at(position), position
        for entry in full:
            assert indexed.position_at(entry.timestamp) == full.position_at(entry.timestamp)
        assert indexed.select(EventFilter(limit=3)) == list(full)[-3:]
        assert list(indexed_history(app, view, volume, after=len(full) // 2).select(EventFilter())) == list(
            full)[len(full) // 2 :]
        wanted = EventFilter(types=frozenset({"Created", "Failed"}), aggregate="Replica", limit=2)
        assert indexed.select(wanted) == [
            e for e in full if e.aggregate == "Replica" and e.type in ("Created", "Failed")][-2:]


def _exists(app: ControlPlane, volume: str) -> bool:
    try:
        Volumes(app).get(volume)
    except DomainError:
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(STEPS, st.integers(1, 7), st.integers(1, 5))
def test_indexed_history_equals_full_scan_in_memory(steps: list[tuple[str, int, int, bool]], batch: int,
                                                    every: int) -> None:
    check(ControlPlane(), InMemoryStatusView(), steps, batch, every)


@settings(max_examples=15, deadline=None)
@given(STEPS, st.integers(1, 7), st.integers(1, 5))
def test_indexed_history_equals_full_scan_on_sqlite(steps: list[tuple[str, int, int, bool]], batch: int,
                                                    every: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        app = open_control_plane(f"sqlite://{Path(directory) / 'events.sqlite'}")
        try:
            check(app, status_view_of(app), steps, batch, every)
        finally:
            app.close()
