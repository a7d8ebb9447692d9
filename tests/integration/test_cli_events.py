"""``pronghorn events`` filters, the cluster-wide stream, ``--follow``, human units; ``replay --diff`` order.

One small store per module (two nodes, two volumes, a few changes), read back
in-process; ``--follow`` runs the real executable and is fed by another command.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO

import pytest

from adapters.cli.errors import ExitCode
from tests.conftest import PRONGHORN
from tests.fixtures.pronghorn_cli import Cli

GI = 1024**3
READ_TIMEOUT_S = 30


@dataclass
class Store:
    cli: Cli
    local: Cli


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    home = tmp_path_factory.mktemp("home")
    local = Cli(home, in_process=True)
    for number in (1, 2):
        local.ok("node", "add", f"n{number}", "--address", f"127.0.0.{number}", "--disk", f"{home}/d{number}:100Gi")
    local.manage_nodes()
    local.ok("volume", "create", "vol", "--size", "1Gi", "--replicas", "2")
    local.ok("volume", "create", "other", "--size", "1Gi", "--replicas", "1")
    local.ok("volume", "expand", "vol", "--size", "2Gi")
    local.ok("volume", "expand", "vol", "--size", "3Gi")
    return Store(Cli(home), local)


def test_replay_diff_refuses_the_later_point_first(store: Store) -> None:
    line = store.local.fails(ExitCode.USAGE, "replay", "vol", "--diff", "5", "1")
    assert "give the earlier point first" in line
    forward = store.local.json("replay", "vol", "--diff", "1", "5")
    assert (forward["from"]["position"], forward["to"]["position"]) == (1, 5)
    assert "no events in between" in store.local.ok("replay", "vol", "--diff", "2", "2")


def test_filters_select_by_type_aggregate_time_and_count(store: Store) -> None:
    every = store.local.json("events", "vol")
    expanded = store.local.json("events", "vol", "--type", "Expanded")
    assert [e["data"]["size"] for e in expanded] == [2 * GI, 3 * GI]
    assert store.local.json("events", "vol", "--type", "Volume.Expanded") == expanded
    replicas = store.local.json("events", "vol", "--aggregate", "Replica")
    assert replicas and {e["aggregate"] for e in replicas} == {"Replica"}
    assert {e["aggregate_name"] for e in store.local.json("events", "vol", "--aggregate", "Replica/r1")} == {"r1"}
    assert store.local.json("events", "vol", "--limit", "2") == every[-2:]
    assert store.local.json("events", "vol", "--since", "-1h") == every
    assert store.local.json("events", "vol", "--until", "2000-01-01") == []
    assert store.local.ok("events", "vol", "--type", "NoSuchEvent").split() == [  # a volume's table: POS, always
        "POS", "TIME", "AGGREGATE", "VER", "EVENT", "DATA"]
    assert store.local.json("events", "vol", "--since", every[-1]["timestamp"]) == [
        e for e in every if e["timestamp"] >= every[-1]["timestamp"]]
    assert "invalid limit" in store.local.fails(ExitCode.USAGE, "events", "vol", "--limit", "0")
    assert "invalid time" in store.local.fails(ExitCode.USAGE, "events", "vol", "--since", "yesterday")
    store.local.fails(ExitCode.USAGE, "events", "vol", "--since", "-5m", "--until", "-1h")
    store.local.fails(ExitCode.NOT_FOUND, "events", "nope")


def test_without_a_volume_the_whole_cluster_streams(store: Store) -> None:
    every = store.local.json("events")
    kinds = {e["aggregate"] for e in every}
    assert {"Node", "Volume", "Replica"} <= kinds
    assert all("position" not in e for e in every)  # no per-volume position; the global one only
    assert [e["global_position"] for e in every] == sorted(e["global_position"] for e in every)
    nodes = store.local.json("events", "--aggregate", "Node", "--type", "Registered")
    assert [e["aggregate_name"] for e in nodes] == ["n1", "n2"]
    assert store.local.json("events", "--limit", "3") == every[-3:]
    table = store.local.ok("events", "--aggregate", "Node").splitlines()
    assert table[0].split()[:2] == ["TIME", "AGGREGATE"]


def test_one_position_for_people_the_global_one_in_json(store: Store) -> None:
    events = store.local.json("events", "vol")
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["global_position"] >= e["position"] for e in events)
    shown = store.local.ok("volume", "get", "vol")
    assert f"events: {len(events)}" in " ".join(shown.split())
    assert not any(line.startswith("position:") for line in shown.splitlines())
    assert store.local.json("volume", "get", "vol")["position"] == events[-1]["global_position"]


def test_tables_show_sizes_for_people_and_wide_shows_data_uncut(store: Store) -> None:
    table = store.local.ok("events", "vol", "--type", "Expanded")
    assert "size=2Gi" in table and "size=3Gi" in table and str(2 * GI) not in table
    created = store.local.ok("events", "vol", "--type", "Created", "--aggregate", "Volume").splitlines()[1]
    assert created.endswith("...") and "stale_replica_timeout=2d" not in created
    wide = store.local.ok("events", "vol", "--type", "Created", "--aggregate", "Volume", "--wide").splitlines()[1]
    assert "stale_replica_timeout=2d" in wide and "frontend=nbd" in wide and not wide.endswith("...")


class Lines:
    """The lines a process prints, read by a thread (a pipe's buffer hides lines from select)."""

    def __init__(self, stream: IO[str] | None) -> None:
        assert stream is not None
        self.queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.queue.put(line) for line in stream], daemon=True).start()

    def next(self) -> str:
        return self.queue.get(timeout=READ_TIMEOUT_S)


def test_follow_prints_new_events_as_they_are_stored(store: Store) -> None:
    before = store.local.json("events", "vol")
    follower = subprocess.Popen([PRONGHORN, "events", "vol", "--follow", "--json", "--limit", "1"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=store.cli.env)
    cluster = subprocess.Popen([PRONGHORN, "events", "--follow", "--json", "--type", "Expanded"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=store.cli.env)
    try:
        followed, streamed = Lines(follower.stdout), Lines(cluster.stdout)
        assert json.loads(followed.next()) == before[-1]  # the last one, then new ones
        seen = [json.loads(streamed.next()) for _ in range(2)]  # vol's two expansions so far
        assert [e["data"]["size"] for e in seen] == [2 * GI, 3 * GI]
        time.sleep(1)  # both are polling now
        store.local.ok("volume", "expand", "vol", "--size", "4Gi")
        new = json.loads(followed.next())
        assert (new["position"], new["type"], new["data"]["size"]) == (len(before) + 1, "Expanded", 4 * GI)
        assert json.loads(streamed.next())["global_position"] == new["global_position"]
        for process in (follower, cluster):
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=READ_TIMEOUT_S) == ExitCode.OK
            assert process.stderr is not None and process.stderr.read() == ""
    finally:
        for process in (follower, cluster):
            if process.poll() is None:
                process.kill()
                process.wait()
