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
import os
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
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

OUTAGE_S = 60
ANSWER_TIMEOUT_S = 10.0  # a request not answered in this long counts as hanging (it took 37 s before)
BANNER = "REST API on "
MiB = 1 << 20


@dataclass
class Answer:
    """One REST request's outcome (status 0: no answer: refused, reset or timed out)."""

    method: str
    path: str
    body: Any
    status: int
    document: Any
    retry_after: str | None = None
    during_outage: bool = False


def request(api: str, method: str, path: str, body: Any = None) -> Answer:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(api + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=ANSWER_TIMEOUT_S) as reply:
            return Answer(method, path, body, reply.status, json.loads(reply.read()))
    except urllib.error.HTTPError as error:
        return Answer(method, path, body, error.code, json.loads(error.read()), error.headers.get("Retry-After"))
    except OSError as exc:  # refused, reset, timed out
        return Answer(method, path, body, 0, repr(exc))


@pytest.fixture
def own_postgres() -> Iterator[PgCluster]:
    """A cluster of this test's own: it is stopped and started again, which the shared one must not be."""
    with running_cluster() as cluster:
        yield cluster


@dataclass
class Load:
    """REST and CLI commands in a loop, every answer kept, until ``stop``."""

    api: str
    store: str
    outage: threading.Event
    stop: threading.Event = field(default_factory=threading.Event)
    answers: list[Answer] = field(default_factory=list)
    cli: list[tuple[str, int, str]] = field(default_factory=list)  # (volume, exit code, stderr)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        for target in (self._rest_writer, self._rest_reader, self._cli_writer):
            self.threads.append(threading.Thread(target=target, daemon=True))
            self.threads[-1].start()
        return self

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def call(self, method: str, path: str, body: Any = None) -> Answer:
        during = self.outage.is_set()
        answer = request(self.api, method, path, body)
        answer.during_outage = during and self.outage.is_set()  # down from before it was sent until answered
        self.answers.append(answer)
        return answer

    def _rest_writer(self) -> None:
        i, pause = 0, 0.3
        while not self.stop.wait(pause):
            i += 1
            created = self.call("POST", "/v1/volumes", {"name": f"load{i}", "size": "4Mi", "number_of_replicas": 1})
            if created.status == 201 and i % 2:
                self.call("POST", f"/v1/volumes/load{i}/attach", {"node": "node1"})
            pause = float(created.retry_after or 0.3)  # a polite client: each refused create is retried later

    def _rest_reader(self) -> None:
        while not self.stop.wait(0.2):
            self.call("GET", "/v1/volumes")
            self.call("GET", "/v1/volumes/steady/events")

    def _cli_writer(self) -> None:
        i = 0
        while not self.stop.wait(0.5):
            i += 1
            done = subprocess.run([PRONGHORN, "volume", "create", f"cli{i}", "--size", "4Mi", "--replicas", "1",
                                   "--store", self.store], capture_output=True, text=True, timeout=120)
            self.cli.append((f"cli{i}", done.returncode, done.stderr))


class Writer(threading.Thread):
    """Writes and reads back blocks of an attached volume over NBD: the data plane needs no store."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.stop = threading.Event()
        self.written: dict[int, bytes] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with NbdClient(self.endpoint) as nbd:
                n = 0
                while not self.stop.wait(0.05):
                    offset = (n % 1024) * 4096
                    block = os.urandom(4096)
                    nbd.write(offset, block)
                    nbd.flush()
                    self.written[offset] = block
                    n += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def start_manager(home: Path, store: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    home.mkdir()
    out, log = home / "manager.out", home / "manager.log"
    with open(out, "wb") as stdout, open(log, "wb") as stderr:
        proc = subprocess.Popen([PRONGHORN, "manager", "--store", store, "--node", "node1", "--address", "127.0.1.1",
                                 "--home", str(home), "--interval", "0.5", "--api", "127.0.0.1:0"],
                                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True)
    line = wait_for("the REST API banner", lambda: next(
        (text for text in out.read_text().splitlines() if text.startswith(BANNER)), None)
        or (proc.poll() is not None and "exited"), 60)
    assert line != "exited", log.read_text()[-3000:]
    return proc, line[len(BANNER):].split()[0], log


def stop_manager(proc: subprocess.Popen[bytes], home: Path) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    subprocess.run([PRONGHORN, "down", "--home", str(home)], capture_output=True, timeout=120)


def attached(api: str, name: str) -> str:
    answer = request(api, "GET", f"/v1/volumes/{name}")
    return str(answer.document["endpoint"]) if answer.status == 200 and answer.document["state"] == "attached" else ""


def check_log(app: ControlPlane) -> dict[str, list[tuple[int, str]]]:
    """Every aggregate's events (version, topic) from the notification log, which must be in
    order; each aggregate's versions must run 1, 2, 3... (nothing lost, nothing twice)."""
    ids: list[int] = []
    events: dict[str, list[tuple[int, str]]] = defaultdict(list)
    start = 1
    while batch := app.recorder.select_notifications(start=start, limit=500):  # type: ignore[attr-defined]
        for n in batch:
            ids.append(n.id)
            events[str(n.originator_id)].append((n.originator_version, n.topic))
        start = batch[-1].id + 1
    assert ids == sorted(set(ids))
    for aggregate, versions in events.items():
        assert [v for v, _ in versions] == list(range(1, len(versions) + 1)), aggregate
    return events


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
        assert all(len(err.strip().splitlines()) == 1 for _, code, err in load.cli if code == 7)

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

        # nothing lost or twice: each aggregate's versions are contiguous; every command that succeeded
        # has its events; the job fired each of its fire times once
        with open_control_plane(store) as app:
            events = check_log(app)
            volumes = json.loads(subprocess.run([PRONGHORN, "volume", "ls", "--json", "--store", store],
                                                capture_output=True, text=True, check=True).stdout)
            fired: list[Any] = [e for e in app.events.get(RecurringJob.create_id("minutely"))
                                if type(e).__name__ == "Fired"]
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
        assert len(events[str(RecurringJob.create_id("minutely"))]) == 1 + len(fired)
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
