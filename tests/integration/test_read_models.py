"""The read side over real stores: the persisted status view and history index answer what a replay answers.

Runs on memory, SQLite and PostgreSQL (``store_backend``). ``volume get`` / ``ls`` now
read the status view (``adapters.cli.volumes.current_status`` / ``list_summaries``)
and ``events`` / ``replay`` the history index; these tests compare them with what
the CLI printed before (a fold of the full-scan history, the Volume aggregates),
also when several readers (processes) advance one view in turn with no manager.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from adapters.cli.history_view import status_document
from adapters.cli.volumes import current_status, list_summaries
from domain.services import Nodes, Snapshots, Volumes
from domain.values import GIB, Disk
from manager.background import background_services
from projections import read_models
from projections.history import read_history
from projections.status_views import status_view_of
from tests.fixtures.store_backends import Backend
from tests.integration.test_volume_status_projection import make_history

NAMES = [f"vol-{i}" for i in range(6)]
WAIT_S = 30


def replayed(app: Any, name: str) -> dict[str, Any]:
    """What ``volume get --json`` printed before the view: the full history, folded."""
    history = read_history(app.recorder, app.mapper, name)
    return status_document(history, len(history))


def summary_from_aggregate(app: Any, name: str) -> dict[str, Any]:
    """What ``volume ls --json`` printed before the view: fields of the Volume aggregate."""
    volume = Volumes(app).get(name)
    return {"name": volume.name, "size": volume.size, "number_of_replicas": volume.number_of_replicas,
            "state": volume.state, "robustness": volume.robustness, "data_locality": volume.data_locality,
            "frontend": volume.frontend, "version": volume.version}


def test_volume_get_and_ls_from_the_view_equal_the_replay(store_backend: Backend) -> None:
    app = store_backend.open()
    make_history(app)
    Volumes(app).create("local", GIB, 1, data_locality="best-effort")
    for name in [*NAMES, "local"]:
        assert current_status(app, name) == replayed(app, name), name
    listed = list_summaries(app)
    assert [s["name"] for s in listed] == [n for n in sorted([*NAMES, "local"]) if n != "vol-0"]  # vol-0 deleted
    assert listed == [summary_from_aggregate(app, s["name"]) for s in listed]
    assert listed[0]["data_locality"] == "best-effort"


def test_readers_take_turns_without_a_manager(store_backend: Backend) -> None:
    """Two processes read and write one store in turn: each reader catches the shared view up
    first, also after the other moved it, and its answer equals the replay's."""
    first, second = store_backend.open(), store_backend.open()
    Nodes(first).add("n1", "127.0.0.1", disks=[Disk(path="/d", capacity=100 * GIB)])
    Volumes(first).create("v", GIB, 1)
    assert current_status(first, "v") == replayed(first, "v")
    for round_ in range(3):
        Volumes(second).expand("v", (2 + round_) * GIB)
        assert current_status(second, "v") == replayed(second, "v")
        Snapshots(first).take("v", f"s{round_}")
        assert current_status(first, "v") == replayed(first, "v")  # the view moved under first's reader
        history = read_models.history(first, "v")
        assert list(history) == list(read_history(first.recorder, first.mapper, "v"))
    assert current_status(second, "v")["size"] == 4 * GIB


def test_the_manager_keeps_the_view_current(store_backend: Backend) -> None:
    """With a manager's background services running, the view follows new events without any reader."""
    if store_backend.name == "memory":
        pytest.skip("an in-memory view lives in one application: no other process could look at it")
    manager, writer = store_backend.open(), store_backend.open()
    Nodes(writer).add("n1", "127.0.0.1", disks=[Disk(path="/d", capacity=100 * GIB)])
    with background_services(manager, api=None, jobs=False):
        Volumes(writer).create("v", GIB, 1)
        Volumes(writer).expand("v", 2 * GIB)
        view = status_view_of(writer)  # what another process sees, without catching up itself
        last = writer.recorder.max_notification_id()
        deadline = time.monotonic() + WAIT_S
        while (view.max_tracking_id(manager.name) or 0) < last and time.monotonic() < deadline:
            time.sleep(0.1)
        assert view.max_tracking_id(manager.name) == last
        found = view.get("v")
        assert found is not None and found.size == 2 * GIB


def test_a_view_left_by_an_earlier_build_is_projected_again(tmp_path: Any) -> None:
    """A store whose status view predates the history index (statuses and a position, no index
    tables) gets its view rebuilt from the first event, so no volume's history misses its start."""
    import sqlite3

    from domain.store import open_control_plane

    url = f"sqlite://{tmp_path}/events.sqlite"
    app = open_control_plane(url)
    Nodes(app).add("n1", "127.0.0.1", disks=[Disk(path="/d", capacity=100 * GIB)])
    Volumes(app).create("old", GIB, 1)
    Volumes(app).expand("old", 2 * GIB)
    expected = replayed(app, "old")
    current_status(app, "old")  # the view and index are made and current
    app.close()
    with sqlite3.connect(tmp_path / "events.sqlite") as db:  # what the earlier build had: no index tables
        for table in ("volume_history", "volume_history_aggregates", "volume_status_checkpoints"):
            db.execute(f"DROP TABLE {table}")
    app = open_control_plane(url)
    try:
        assert current_status(app, "old") == expected
        assert list(read_models.history(app, "old")) == list(read_history(app.recorder, app.mapper, "old"))
    finally:
        app.close()
