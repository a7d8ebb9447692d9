"""The admin CLI end to end: the real ``pronghorn`` executable on a SQLite store.

One scenario per module (nodes, two volumes with interleaved events) is built
once; the tests read it back through ``events``, ``replay`` and ``volume``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.cli.errors import ExitCode
from tests.fixtures.pronghorn_cli import Cli

GI = 1024**3


@dataclass
class Scenario:
    cli: Cli  # the real executable
    local: Cli  # the same commands in-process (read-back checks)
    home: Path
    nodes: list[Any] = field(default_factory=list)
    # position in vol-a's history -> what `volume get vol-a --json` printed right then
    seen: dict[int, dict[str, Any]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    home = tmp_path_factory.mktemp("home")
    cli = Cli(home)
    s = Scenario(cli, cli.local(), home)
    for number, zone in ((1, "zone-a"), (2, "zone-b"), (3, "zone-c")):
        disk = home / f"disk-{number}"
        s.nodes.append(
            cli.json("node", "add", f"n{number}", "--address", f"127.0.0.{number}", "--zone", zone,
                     "--disk", f"{disk}:100Gi", "--tag", "ssd")
        )
    cli.manage_nodes()

    def snapshot() -> None:
        status = cli.json("volume", "get", "vol-a")
        s.seen[status["events"]] = status

    cli.json("volume", "create", "vol-a", "--size", "1Gi", "--replicas", "3")
    snapshot()
    cli.json("volume", "create", "vol-b", "--size", "512Mi", "--replicas", "1")  # interleaves the log
    cli.json("volume", "expand", "vol-a", "--size", "2Gi")
    snapshot()
    cli.json("volume", "expand", "vol-a", "--size", "3Gi")
    snapshot()
    return s


def test_node_add_prints_the_node_and_ls_get_agree(scenario: Scenario) -> None:
    first = scenario.nodes[0]
    assert first["name"] == "n1" and first["zone"] == "zone-a" and first["tags"] == ["ssd"]
    assert first["disks"][0]["capacity"] == 100 * GI and first["disks"][0]["path"].endswith("disk-1")
    listed = scenario.local.json("node", "ls")
    assert [n["name"] for n in listed] == ["n1", "n2", "n3"]
    assert scenario.local.json("node", "get", "n2") == listed[1]
    table = scenario.local.ok("node", "ls").splitlines()
    assert table[0].split()[:3] == ["NAME", "ADDRESS", "ZONE"] and len(table) == 4


def test_volume_ls_and_get(scenario: Scenario) -> None:
    volumes = {v["name"]: v for v in scenario.local.json("volume", "ls")}
    assert volumes["vol-a"]["size"] == 3 * GI and volumes["vol-a"]["number_of_replicas"] == 3
    assert volumes["vol-b"]["size"] == 512 * 1024**2
    status = scenario.local.json("volume", "get", "vol-a")
    for key in ("name", "size", "state", "robustness", "version"):
        assert key in status
    assert status["name"] == "vol-a" and status["size"] == 3 * GI
    assert "3Gi" in scenario.local.ok("volume", "get", "vol-a")


def test_create_places_replicas_on_distinct_nodes_and_books_disks(scenario: Scenario) -> None:
    status = scenario.local.json("volume", "get", "vol-a")
    assert status["state"] == "detached" and status["robustness"] == "healthy"
    assert sorted(r["node"] for r in status["replicas"]) == ["n1", "n2", "n3"]
    assert all(r["mode"] == "RW" for r in status["replicas"])
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [("Scheduled", True)]
    booked = {n["name"]: n["disks"][0]["scheduled"] for n in scenario.local.json("node", "ls")}
    assert all(booked[name] >= GI for name in ("n1", "n2", "n3"))


def test_scheduling_failure_writes_nothing(scenario: Scenario) -> None:
    before = scenario.local.json("events", "vol-a")
    line = scenario.local.fails(ExitCode.SCHEDULING, "volume", "create", "wide", "--size", "1Gi", "--replicas", "4")
    assert "InsufficientNodes" in line
    line = scenario.local.fails(ExitCode.SCHEDULING, "volume", "create", "picky", "--size", "1Gi", "--node-selector", "nvme")
    assert "NoMatchingNodes" in line
    scenario.local.fails(ExitCode.NOT_FOUND, "volume", "get", "wide")
    scenario.local.fails(ExitCode.NOT_FOUND, "events", "picky")
    assert scenario.local.json("events", "vol-a") == before


def test_events_json_is_the_volume_history_in_order(scenario: Scenario) -> None:
    events = scenario.local.json("events", "vol-a")
    assert {e["aggregate"] for e in events} == {"Volume", "Replica"}
    assert sorted(e["aggregate_name"] for e in events if e["aggregate"] == "Replica" and e["type"] == "Created") == [
        "r1", "r2", "r3"]
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    for entry in events:
        assert {"aggregate", "version", "timestamp", "type", "data"} <= entry.keys()
        datetime.fromisoformat(entry["timestamp"])
    volume_events = [e for e in events if e["aggregate"] == "Volume"]
    assert all(e["aggregate_name"] == "vol-a" for e in volume_events)  # none of vol-b's
    assert [e["version"] for e in volume_events] == list(range(1, len(volume_events) + 1))
    assert volume_events[0]["type"] == "Created" and volume_events[0]["data"]["size"] == GI
    assert [e["data"]["size"] for e in events if e["type"] == "Expanded"] == [2 * GI, 3 * GI]
    table = scenario.local.ok("events", "vol-a").splitlines()
    assert table[0].split()[:2] == ["POS", "TIME"] and len(table) == len(events) + 1


def test_replay_at_each_position_equals_volume_get_at_that_time(scenario: Scenario) -> None:
    assert len(scenario.seen) == 3
    for position, seen in scenario.seen.items():
        assert scenario.local.json("replay", "vol-a", "--at", str(position)) == seen


def test_replay_at_a_time_stops_before_the_first_later_event(scenario: Scenario) -> None:
    events = scenario.local.json("events", "vol-a")
    stamps = [datetime.fromisoformat(e["timestamp"]) for e in events]
    # clean boundaries: every event up to p happened before every event after p
    boundaries = [p for p in range(1, len(stamps)) if max(stamps[:p]) < min(stamps[p:])] + [len(stamps)]
    assert len(boundaries) >= 3  # provision | expand | expand
    for position in boundaries:
        status = scenario.local.json("replay", "vol-a", "--at", max(stamps[:position]).isoformat())
        assert status["events"] == position
    assert scenario.local.json("replay", "vol-a", "--at", "2999-01-01")["events"] == len(events)


def test_diff_lists_changed_fields_and_the_events_between(scenario: Scenario) -> None:
    first, last = min(scenario.seen), max(scenario.seen)
    result = scenario.local.json("replay", "vol-a", "--diff", str(first), str(last))
    changes = {c["field"]: (c["before"], c["after"]) for c in result["changes"]}
    assert changes["size"] == (GI, 3 * GI)
    assert "name" not in changes
    assert [e["position"] for e in result["events"]] == list(range(first + 1, last + 1))
    text = scenario.local.ok("replay", "vol-a", "--diff", str(first), str(last))
    assert "size" in text and "Expanded" in text


def test_delete_then_get_shows_deleted_and_ls_drops_it(scenario: Scenario) -> None:
    # No manager runs here: a plain delete only starts it (the managers finish it) ...
    deleting = scenario.cli.json("volume", "delete", "vol-b")
    assert deleting["state"] == "deleting" and len(deleting["replicas"]) == 1
    assert "vol-b" in [v["name"] for v in scenario.local.json("volume", "ls")]
    timed_out = scenario.local.fails(ExitCode.TIMEOUT, "volume", "delete", "vol-b", "--wait", "--timeout", "0.3")
    assert "still deleting" in timed_out and "r1" in timed_out
    # ... and --force records the replicas removed at once.
    deleted = scenario.cli.json("volume", "delete", "vol-b", "--force")
    assert deleted["state"] == "deleted" and deleted["replicas"] == []
    history = scenario.local.json("events", "vol-b")
    assert history[-1]["type"] == "Deleted"
    assert ("Replica", "Removed") in [(e["aggregate"], e["type"]) for e in history]
    assert scenario.local.json("volume", "get", "vol-b")["state"] == "deleted"
    assert "vol-b" not in [v["name"] for v in scenario.local.json("volume", "ls")]
    scenario.local.fails(ExitCode.CONFLICT, "volume", "create", "vol-b", "--size", "1Gi")


# These run through the real executable; the others in-process (same dispatcher, same checks).
EXECUTABLE_CASES = [["volume", "get"], ["replay", "vol-a"], ["node", "add"]]


@pytest.mark.parametrize(
    ("code", "argv", "needle"),
    [
        (ExitCode.NOT_FOUND, ["volume", "get", "nope"], "'nope' not found"),
        (ExitCode.NOT_FOUND, ["node", "get", "nope"], "'nope' not found"),
        (ExitCode.NOT_FOUND, ["events", "nope"], "'nope'"),
        (ExitCode.NOT_FOUND, ["replay", "nope", "--at", "1"], "'nope'"),
        (ExitCode.NOT_FOUND, ["volume", "expand", "nope", "--size", "2Gi"], "'nope' not found"),
        (ExitCode.CONFLICT, ["volume", "create", "vol-a", "--size", "1Gi"], "already exists"),
        (ExitCode.CONFLICT, ["node", "add", "n1", "--address", "127.0.0.1"], "already exists"),
        (ExitCode.USAGE, ["volume", "create", "v9", "--size", "1.5Ki"], "multiple of 4096"),
        (ExitCode.USAGE, ["volume", "create", "v9", "--size", "lots"], "invalid size 'lots'"),
        (ExitCode.USAGE, ["volume", "create", "v9", "--size", "1Gi", "--replicas", "11"], "replicas"),
        (ExitCode.USAGE, ["volume", "create", "v9", "--size", "1Gi", "--data-locality", "far"], "far"),
        (ExitCode.USAGE, ["volume", "create", "Bad_Name!", "--size", "1Gi"], "Bad_Name!"),
        (ExitCode.USAGE, ["volume", "expand", "vol-a", "--size", "1Gi"], "grow"),
        (ExitCode.USAGE, ["node", "add", "n9", "--address", "h", "--disk", "relative:1Gi"], "absolute"),
        (ExitCode.USAGE, ["node", "add", "n9", "--address", "h", "--disk", "/nocapacity"], "PATH:CAPACITY"),
        (ExitCode.USAGE, ["replay", "vol-a", "--at", "999"], "outside"),
        (ExitCode.USAGE, ["replay", "vol-a", "--at", "2001-01-01T00:00:00"], "no events at"),
        (ExitCode.USAGE, ["replay", "vol-a", "--at", "soon"], "invalid point 'soon'"),
        (ExitCode.USAGE, ["replay", "vol-a"], "required"),
        (ExitCode.USAGE, ["volume", "frobnicate"], "frobnicate"),
        (ExitCode.USAGE, ["volume", "ls", "--store", "mysql://x"], "invalid store URL"),
    ],
)
def test_bad_input_is_one_line_and_a_named_exit_code(scenario: Scenario, code: int, argv: list[str], needle: str) -> None:
    cli = scenario.cli if argv[:2] in EXECUTABLE_CASES else scenario.local
    line = cli.fails(code, *argv)
    assert needle in line


def test_help_from_the_executable(scenario: Scenario) -> None:
    out = scenario.cli.ok("replay", "--help")
    assert "--at" in out and "--diff" in out and "Exit codes" in out


def test_demo_runs_twice_with_fresh_volumes(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "elsewhere")
    first = cli.ok("demo", "--home", str(tmp_path / "demo"))
    assert "$ pronghorn volume create demo-1" in first and "$ pronghorn replay demo-1 --at" in first
    second = cli.ok("demo", "--home", str(tmp_path / "demo"))
    assert "demo-node-1 is already registered" in second and "volume create demo-2" in second
    assert (tmp_path / "demo" / "events.sqlite").is_file()
