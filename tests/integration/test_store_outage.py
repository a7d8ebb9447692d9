"""The event store goes away and comes back: nothing exits, nothing is lost or recorded twice.

A real PostgreSQL of the test's own (``pg_ctl stop -m fast`` cuts every connection,
``start_server`` brings it back on the same port) and, for SQLite, a file whose write
lock another connection holds past the store's lock timeout. While the store is down
every store call fails at once with ``StoreDown`` (``domain.store_health``), the REST
API answers 503 with ``Retry-After``, and the manager's loop and jobs wait; when it is
back, work resumes. The 60 s scenario runs a real ``pronghorn manager`` under load.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.rest.server import start_api
from domain.application import ControlPlane
from domain.jobs import RecurringJob
from domain.services import Nodes
from domain.store import StoreDown, open_control_plane, persistence_env
from domain.store_guard import guard_store
from domain.values import Disk
from manager.jobs import JobScheduler
from manager.loop import ControlLoop
from tests.conftest import PRONGHORN
from tests.fixtures.local_cluster import wait_for
from tests.fixtures.nbd_client import NbdClient
from tests.fixtures.pgcluster import PgCluster, running_cluster, start_server, stop_server
from tests.fixtures.store_outage import (
    Load,
    Writer,
    attached,
    check_log,
    request,
    start_manager,
    stop_manager,
)

OUTAGE_S = 60


@pytest.fixture
def own_postgres() -> Iterator[PgCluster]:
    """A cluster of this test's own: it is stopped and started again, which the shared one must not be."""
    with running_cluster() as cluster:
        yield cluster


@pytest.mark.slow
@pytest.mark.postgres
def test_manager_rides_out_a_60s_postgres_outage_under_load(own_postgres: PgCluster, tmp_path: Path) -> None:
    store = own_postgres.url(own_postgres.create_database())
    home = tmp_path / "home"
    proc, api, log = start_manager(home, store)
    load: Load | None = None
    writer: Writer | None = None
    try:
        assert request(api, "POST", "/v1/volumes", {"name": "steady", "size": "4Mi", "number_of_replicas": 1}
                       ).status == 201
        assert request(api, "POST", "/v1/volumes/steady/attach", {"node": "node1"}).status == 202
        writer = Writer(wait_for("steady attached", lambda: attached(api, "steady")))
        writer.start()
        assert request(api, "POST", "/v1/jobs", {"name": "minutely", "cron": "* * * * *", "retain": 5,
                                                 "volumes": ["steady"]}).status == 201
        outage = threading.Event()
        load = Load(api, store, outage).start()
        time.sleep(3)
        # start the outage early in a minute, so it holds one minute's start and the store is back
        # well before the next (the scheduler, every 10 s, then fires the missed one, not a later one)
        while datetime.now(UTC).second > 20:
            time.sleep(0.5)
        assert request(api, "POST", "/v1/volumes", {"name": "pending", "size": "4Mi", "number_of_replicas": 1}
                       ).status == 201
        assert request(api, "POST", "/v1/volumes/pending/attach", {"node": "node1"}).status == 202
        stop_server(own_postgres)
        outage.set()  # requests sent from now until the server starts again must all be refused
        down_at, down_wall = time.monotonic(), datetime.now(UTC)
        while time.monotonic() - down_at < OUTAGE_S:
            assert proc.poll() is None, log.read_text()[-3000:]  # the manager never exits
            time.sleep(1)
        outage.clear()
        up_wall = datetime.now(UTC)
        start_server(own_postgres)
        wait_for("the API to answer from the store again", lambda: request(api, "GET", "/v1/volumes").status == 200)
        time.sleep(3)
        load.finish()
        assert proc.poll() is None

        # every request was answered: a success before and after, 503 at once during the outage
        assert not [a for a in load.answers if a.status == 0], "requests not answered (listener gone, or hung)"
        assert not [a for a in load.answers if a.status not in (200, 201, 202, 503)]
        refused = [a for a in load.answers if a.status == 503]
        assert len([a for a in refused if a.during_outage]) >= 20  # the load went on during the outage
        for answer in refused:
            assert answer.retry_after is not None and int(answer.retry_after) >= 1
            assert answer.document["error"]["code"] == "StoreUnavailable"
            assert "\n" not in answer.document["error"]["message"]
        assert not [a for a in load.answers if a.during_outage and a.status != 503]
        assert {code for _, code, _ in load.cli} <= {0, 7} and 7 in {code for _, code, _ in load.cli}
        assert [err for _, code, err in load.cli if code == 7 and len(err.strip().splitlines()) != 1] == []

        # pending work completes: the attach asked for before the outage, the refused commands retried
        # (each is done now, or was recorded before its connection went: a no-op or AlreadyExists)
        for answer in refused:
            if answer.method == "POST":
                again = request(api, answer.method, answer.path, answer.body)
                assert again.status in (201, 202, 409), again
                if again.status == 409:
                    assert again.document["error"]["code"] == "AlreadyExists"
        endpoint = wait_for("pending attached after the outage", lambda: attached(api, "pending"))
        with NbdClient(endpoint) as nbd:
            nbd.write(0, b"\xab" * 4096)
            nbd.flush()
            assert nbd.read(0, 4096) == b"\xab" * 4096
        assert request(api, "POST", "/v1/volumes", {"name": "after", "size": "4Mi", "number_of_replicas": 1}
                       ).status == 201
        assert request(api, "POST", "/v1/volumes/after/attach", {"node": "node1"}).status == 202
        wait_for("a volume asked for after the outage attached (passes run again)", lambda: attached(api, "after"))
        writer.stop.set()
        writer.join(timeout=30)
        assert writer.error is None and len(writer.written) > 100
        with NbdClient(writer.endpoint) as nbd:
            assert all(nbd.read(offset, 4096) == block for offset, block in writer.written.items())

        # leadership (an advisory lock on a connection the restart cut) is taken again
        wait_for("leadership taken again", lambda: log.read_text().count("is the cluster's leader") == 2)
        # one warning when the store went away, one when it was back; none per retry
        text = log.read_text()
        assert text.count("pronghorn.store: event store") == 2, text[-3000:]
        assert "unavailable:" in text and "is back after" in text
        assert "Traceback" not in text, text[-3000:]  # no pass, job run, rebuild or request died of it

        # nothing lost or twice: each aggregate's versions are contiguous; every command that succeeded
        # has its events; the job fired each of its fire times once
        with open_control_plane(store) as app:
            def fired_now() -> list[Any]:
                return [e for e in app.events.get(RecurringJob.create_id("minutely")) if type(e).__name__ == "Fired"]

            # the scheduler runs every 10 s: let it fire the missed time before the log is read
            wait_for("the fire time missed during the outage", lambda: any(
                down_wall <= e.at <= up_wall for e in fired_now()), timeout=60)
            events = check_log(app)
            volumes = json.loads(subprocess.run([PRONGHORN, "volume", "ls", "--json", "--store", store],
                                                capture_output=True, text=True, check=True).stdout)
            fired = fired_now()  # read after the log: the job may have fired once more meanwhile
        names = {v["name"] for v in volumes}
        succeeded = {a.body["name"] for a in load.answers if a.path == "/v1/volumes" and a.status == 201}
        assert succeeded <= names
        assert {name for name, code, _ in load.cli if code == 0} <= names
        for answer in load.answers:
            if answer.path.endswith("/attach") and answer.status == 202:
                state = request(api, "GET", answer.path.rsplit("/", 1)[0]).document["state"]
                assert state in ("attaching", "attached")
        times = [e.at for e in fired]
        assert times == sorted(set(times))  # no fire time twice
        missed = [e for e in fired if down_wall <= e.at <= up_wall]  # 60 s hold a whole minute's start
        assert len(missed) == 1 and missed[0].timestamp >= up_wall  # skipped while down, fired once after
        logged_fires = len(events[str(RecurringJob.create_id("minutely"))]) - 1  # all but its Created
        assert logged_fires <= len(fired) <= logged_fires + 1  # read later, it may have fired once more
    finally:
        if load is not None:
            load.finish()
        if writer is not None:
            writer.stop.set()
        stop_manager(proc, home)


@pytest.mark.postgres
def test_store_calls_fail_at_once_while_postgres_is_down(own_postgres: PgCluster,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """The first call that meets the outage and every later one raise ``StoreDown`` (they used to
    wait 37 s in the library's retries, then raise ``OperationalError``); the store's health comes
    back by itself, with a fresh pool, and calls work again; a restart between two calls (stale
    pooled connections) goes unnoticed."""
    caplog.set_level(logging.WARNING, logger="pronghorn.store")
    with open_control_plane(own_postgres.url(own_postgres.create_database())) as app:
        Nodes(app).add("n1", "127.0.0.1", disks=[Disk("/d", 1 << 30)])
        stop_server(own_postgres)
        for _ in range(3):
            with pytest.raises(StoreDown) as refused:
                Nodes(app).list()
            assert refused.value.retry_after >= 0 and "\n" not in str(refused.value)
        assert app.health.down
        start_server(own_postgres)
        wait_for("the store's health to come back", lambda: not app.health.down, 30)
        assert [n.name for n in Nodes(app).list()] == ["n1"]
        Nodes(app).add("n2", "127.0.0.2", disks=[Disk("/d", 1 << 30)])
        stop_server(own_postgres)
        start_server(own_postgres)
        assert sorted(n.name for n in Nodes(app).list()) == ["n1", "n2"]
        assert not app.health.down
    messages = [r.getMessage() for r in caplog.records if r.name == "pronghorn.store"]
    assert len(messages) == 2 and "unavailable" in messages[0] and "is back" in messages[1]


def test_a_sqlite_store_locked_past_its_timeout_is_waited_for(tmp_path: Path) -> None:
    """SQLite takes the same path: a write lock held past the store's lock timeout (1 s here,
    30 s in the manager) marks the store down; the loop, the jobs and the API stay up (503 with
    Retry-After meanwhile) and resume when the lock is released."""
    path = tmp_path / "events.sqlite"
    url = f"sqlite://{path}"
    app = ControlPlane(env={**persistence_env(url), "SQLITE_LOCK_TIMEOUT": "1"})
    app.health = guard_store(app, url)  # as open_control_plane does
    loop = ControlLoop(app, {}, interval=0.2)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    scheduler = JobScheduler(app, interval=0.2).start()
    handle = start_api(app, "127.0.0.1", 0)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        wait_for("a reconcile pass", lambda: loop.passes > 0)
        holder.execute("BEGIN IMMEDIATE")  # another process's write lock, held for long
        node = {"name": "n1", "address": "127.0.0.1", "disks": [{"path": "/d", "capacity": "1Gi"}]}
        first = request(handle.url, "POST", "/v1/nodes", node)
        assert (first.status, first.document["error"]["code"]) == (503, "StoreUnavailable")
        assert first.retry_after is not None and app.health.down
        during = request(handle.url, "GET", "/v1/volumes")
        assert during.status == 503 and during.retry_after is not None
        passes = loop.passes
        time.sleep(1)
        assert thread.is_alive() and loop.passes == passes  # waiting for the store, not failing passes
        holder.execute("ROLLBACK")
        wait_for("the store's health to come back", lambda: not app.health.down, 30)
        assert request(handle.url, "POST", "/v1/nodes", node).status == 201
        wait_for("passes again", lambda: loop.passes > passes)
        assert thread.is_alive()
    finally:
        holder.close()
        handle.stop()
        scheduler.stop()
        loop.stop.set()
        thread.join(timeout=30)
        app.close()


CLI_VERB = """
import sys
from adapters.cli.command import run
from domain.services import Nodes
from domain.store import open_control_plane
app = open_control_plane(sys.argv[1])
print("open", flush=True)
sys.stdin.readline()  # the test stops the server meanwhile
sys.exit(run("pronghorn node ls", lambda: Nodes(app).list() and None))
"""


@pytest.mark.postgres
def test_a_cli_verb_whose_store_goes_away_says_so_in_one_line(own_postgres: PgCluster) -> None:
    """The store's health warns in the manager's log; in a CLI process (no logging configured)
    the error stays exactly one line on stderr, with exit code 7."""
    verb = subprocess.Popen([sys.executable, "-c", CLI_VERB, own_postgres.url()], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert verb.stdout is not None and verb.stdout.readline() == "open\n"
    stop_server(own_postgres)
    _, err = verb.communicate("go\n", timeout=60)
    assert verb.returncode == 7 and len(err.splitlines()) == 1, err
    assert err.startswith("pronghorn node ls: event store postgresql://postgres@127.0.0.1:")
