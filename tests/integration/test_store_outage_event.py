"""An event store outage the manager rode out is one event when the store is back: when it went,
for how long and why. SQLite's write lock held past the store's lock timeout (as in
test_store_outage.py) makes the outage; a real control loop in a thread lives through it."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.application import ControlPlane
from domain.causation import actor_of
from domain.ids import manager_id
from domain.services import Nodes
from domain.store import StoreDown, persistence_env
from domain.store_guard import guard_store
from domain.values import Disk
from manager.loop import ControlLoop
from tests.fixtures.local_cluster import wait_for


def types(app: ControlPlane) -> list[str]:
    try:
        return [type(e).__name__ for e in app.events.get(manager_id(""))]
    except StoreDown:  # still down: this read is refused too
        return []


def test_a_store_outage_is_one_event_with_its_length_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    url = f"sqlite://{path}"
    app = ControlPlane(env={**persistence_env(url), "SQLITE_LOCK_TIMEOUT": "1"})
    app.health = guard_store(app, url)
    loop = ControlLoop(app, {}, interval=0.2)  # a manager of no nodes: its run is named ""
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        wait_for("a reconcile pass", lambda: loop.passes > 0)
        assert types(app) == ["Created", "Started"]
        before = datetime.now(UTC)
        holder.execute("BEGIN IMMEDIATE")  # another process's write lock, held for long
        with pytest.raises(StoreDown):  # a write waits past the lock timeout: the store is marked down
            Nodes(app).add("n1", "127.0.0.1", disks=[Disk("/d", 1 << 30)])
        assert app.health.down
        passes = loop.passes
        wait_for("the loop to wait for the store", lambda: loop.passes == passes)
        holder.execute("ROLLBACK")
        wait_for("the outage to be recorded", lambda: "StoreWasUnreachable" in types(app), 60)
        outage: Any = list(app.events.get(manager_id("")))[-1]
        assert outage.since >= before.replace(microsecond=0) and outage.seconds > 0
        assert outage.reason.code == "StoreUnreachable"
        assert outage.reason.message.startswith("the event store did not answer for ")
        assert actor_of(outage) == "manager:"
        assert types(app).count("StoreWasUnreachable") == 1
    finally:
        holder.close()
        loop.stop_by("the test")
        thread.join(timeout=30)
    stopped: Any = list(app.events.get(manager_id("")))[-1]
    assert stopped.reason.message == "asked to stop by the test"
    app.close()
