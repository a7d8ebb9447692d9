"""``pronghorn job`` end to end (the real executable on a SQLite store): create, ls, get, rm, bad input."""

from __future__ import annotations

from pathlib import Path

from adapters.cli.errors import ExitCode
from tests.fixtures.pronghorn_cli import Cli


def test_job_verbs(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    cli.local().ok("node", "add", "n1", "--address", "127.0.0.1", "--disk", "/data:100Gi")
    cli.manage_nodes()
    for volume in ("v1", "v2"):
        cli.local().ok("volume", "create", volume, "--size", "1Gi", "--replicas", "1")
    created = cli.json("job", "create", "five", "--task", "snapshot", "--cron", "*/5 * * * *", "--retain", "3",
                       "--volumes", "v2,v1", "--label", "tier=gold")
    assert (created["cron"], created["retain"], created["volumes"], created["labels"]) == (
        "*/5 * * * *", 3, ["v1", "v2"], {"tier": "gold"})
    assert created["next_fire"].endswith(("0:00+00:00", "5:00+00:00"))
    assert [j["name"] for j in cli.json("job", "ls")] == ["five"]
    assert "*/5 * * * *" in cli.ok("job", "ls")
    assert cli.json("job", "get", "five")["last_fired"] is None
    assert "already exists" in cli.fails(ExitCode.CONFLICT, "job", "create", "five", "--cron", "* * * * *",
                                         "--retain", "1")
    assert "hour: 25 is outside 0-23" in cli.fails(ExitCode.USAGE, "job", "create", "bad", "--cron",
                                                   "0 25 * * *", "--retain", "1")
    assert "retain" in cli.fails(ExitCode.USAGE, "job", "create", "bad", "--cron", "* * * * *", "--retain", "0")
    cli.fails(ExitCode.USAGE, "job", "create", "bad", "--cron", "* * * * *", "--retain", "1", "--task", "copy")
    assert cli.json("job", "rm", "five") == {"name": "five", "deleted": True}
    assert "not found" in cli.fails(ExitCode.NOT_FOUND, "job", "get", "five")
    assert cli.json("job", "ls") == []
