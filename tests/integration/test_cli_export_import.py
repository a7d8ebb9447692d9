"""``events export`` from SQLite, ``events import`` into PostgreSQL: the history replays identically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.cli.errors import ExitCode
from tests.fixtures.pronghorn_cli import Cli


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, Path]:
    tmp_path = tmp_path_factory.mktemp("export")
    cli = Cli(tmp_path / "source")
    for number in (1, 2):
        cli.ok("node", "add", f"n{number}", "--address", f"127.0.0.{number}", "--disk", f"/srv/disk{number}:50Gi")
    cli.manage_nodes()
    cli.ok("volume", "create", "other", "--size", "1Gi", "--replicas", "1")  # not exported
    cli.ok("volume", "create", "vol", "--size", "1Gi", "--replicas", "2")
    cli.ok("volume", "expand", "vol", "--size", "4Gi")
    cli.ok("volume", "expand", "other", "--size", "2Gi")
    cli.ok("volume", "expand", "vol", "--size", "8Gi")
    target = tmp_path / "vol-history.json"
    assert "exported" in cli.ok("events", "export", "vol", str(target))
    return cli, target


def portable(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``events --json`` without the global positions (notification ids are per store)."""
    return [{k: v for k, v in e.items() if k != "global_position"} for e in events]


@pytest.mark.postgres
def test_export_sqlite_import_postgres_replays_identically(exported: tuple[Cli, Path], postgres_url: str) -> None:
    source, file = exported
    document = json.loads(file.read_text())
    assert document["format"] == "pronghorn.volume-history" and document["volume"] == "vol"
    assert {(a["kind"], a["name"]) for a in document["aggregates"]} == {("Volume", "vol"), ("Replica", "r1"), ("Replica", "r2")}
    assert all({"aggregate_id", "version", "topic", "state"} <= e.keys() for e in document["events"])

    assert "imported" in source.ok("events", "import", str(file), "--store", postgres_url)
    history = source.json("events", "vol")
    assert portable(source.json("events", "vol", "--store", postgres_url)) == portable(history)
    local = source.local()
    for position in range(1, len(history) + 1):
        here = local.json("replay", "vol", "--at", str(position))
        there = local.json("replay", "vol", "--at", str(position), "--store", postgres_url)
        here.pop("position"), there.pop("position")  # notification ids are per store
        assert here == there
    assert source.json("replay", "vol", "--at", str(len(history)), "--store", postgres_url)["size"] == 8 * 1024**3

    line = source.fails(ExitCode.CONFLICT, "events", "import", str(file), "--store", postgres_url)
    assert "refusing to import 'vol'" in line
    assert portable(source.json("events", "vol", "--store", postgres_url)) == portable(history)  # nothing added twice
    source.fails(ExitCode.NOT_FOUND, "events", "other", "--store", postgres_url)


def test_import_into_a_fresh_sqlite_store_and_bad_files(exported: tuple[Cli, Path], tmp_path: Path) -> None:
    source, file = exported
    target = Cli(tmp_path / "target")
    busy = target.local()  # the target already holds other events: positions must not shift
    busy.ok("node", "add", "m1", "--address", "127.0.0.9", "--disk", "/srv/m1:10Gi")
    busy.manage_nodes()
    busy.ok("volume", "create", "resident", "--size", "1Gi", "--replicas", "1")
    target.ok("events", "import", str(file))
    assert portable(target.json("events", "vol")) == portable(source.json("events", "vol"))
    assert target.fails(ExitCode.CONFLICT, "events", "import", str(file)).startswith("pronghorn events import: ")

    target = target.local()
    assert target.json("volume", "get", "resident")["name"] == "resident"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert "not a JSON file" in target.fails(ExitCode.USAGE, "events", "import", str(bad))
    bad.write_text(json.dumps({"format": "something-else"}))
    assert "not a pronghorn volume history file" in target.fails(ExitCode.USAGE, "events", "import", str(bad))
    tampered = json.loads(file.read_text())
    tampered["events"][0]["topic"] = "domain.volume:NoSuchEvent"
    bad.write_text(json.dumps(tampered))
    fresh = Cli(tmp_path / "fresh", in_process=True)
    assert "event 1 is not valid" in fresh.fails(ExitCode.USAGE, "events", "import", str(bad))
    fresh.fails(ExitCode.NOT_FOUND, "events", "vol")  # nothing half-imported
    truncated = json.loads(file.read_text())
    del truncated["events"][1]
    bad.write_text(json.dumps(truncated))
    assert "incomplete or reordered" in fresh.fails(ExitCode.USAGE, "events", "import", str(bad))
    renamed = json.loads(file.read_text())
    renamed["volume"] = "someone-else"
    bad.write_text(json.dumps(renamed))
    assert "another volume" in fresh.fails(ExitCode.USAGE, "events", "import", str(bad))
    fresh.fails(ExitCode.NOT_FOUND, "events", "vol")
    fresh.fails(ExitCode.NOT_FOUND, "events", "import", str(tmp_path / "missing.json"))
    source.local().fails(ExitCode.NOT_FOUND, "events", "export", "nope", str(tmp_path / "x.json"))
    assert not (tmp_path / "x.json").exists()
