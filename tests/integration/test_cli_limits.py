"""Every ``pronghorn`` verb at and past its limits, with its target in each state: one row per try.

A row is (argv, exit code, a fragment of the output: stderr's one line on failure, stdout
on success). The store, a target in each state (tests/fixtures/limits_store.py), is
copied for each row. Calls are in-process (tests/fixtures/pronghorn_cli.py checks the CLI contract on each:
one stderr line, nothing on stdout, no traceback). No manager runs, so ``--wait`` always
times out (exit 8). ``replica serve|info`` and ``engine`` talk to processes and are not here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from adapters.cli.errors import ExitCode
from tests.fixtures.limits_store import STORE_FILE, build_limits_store
from tests.fixtures.pronghorn_cli import Cli

OK, USAGE, NOT_FOUND, CONFLICT = ExitCode.OK, ExitCode.USAGE, ExitCode.NOT_FOUND, ExitCode.CONFLICT
STATE, SCHEDULING, TIMEOUT = ExitCode.INVALID_STATE, ExitCode.SCHEDULING, ExitCode.TIMEOUT
NAME63 = "a" * 63
WAIT = ("--wait", "--timeout", "0.2")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_limits_store(tmp_path_factory.mktemp("limits"))


@pytest.fixture
def cli(template: Path, tmp_path: Path) -> Cli:
    shutil.copy(template, tmp_path / STORE_FILE)
    return Cli(tmp_path, in_process=True)


ROWS: list[tuple[list[str], int, str]] = [
    # -- pronghorn ---------------------------------------------------------------------------------
    ([], OK, "usage: pronghorn VERB"),
    (["frobnicate"], USAGE, "unknown verb 'frobnicate'"),
    (["volume"], USAGE, "required: VERB"),
    (["volume", "ls", "--store", "bogus://x"], USAGE, "invalid store URL 'bogus://x'"),
    (["volume", "ls", "--store", "sqlite:///no/such/dir/x.sqlite"], USAGE, "does not exist"),
    (["volume", "ls", "--store", "postgresql://127.0.0.1:1/db"], USAGE, "needs a user"),
    (["node", "ls", "--store", "memory:"], OK, "NAME"),
    # -- node add: name, address, disk path and capacity, zone, tags ------------------------------------
    (["node", "add", NAME63, "--address", "127.0.0.9"], OK, NAME63),
    (["node", "add", NAME63 + "a", "--address", "127.0.0.9"], USAGE, "invalid node name"),
    (["node", "add", "n9", "--address", "notanip"], USAGE, "must be an IP address"),
    (["node", "add", "n9", "--address", "node9.example"], USAGE, "must be an IP address"),
    (["node", "add", "n9", "--address", ""], USAGE, "must be an IP address"),
    (["node", "add", "n9", "--address", "0.0.0.0"], USAGE, "not unspecified"),
    (["node", "add", "n9", "--address", "::"], USAGE, "not unspecified"),
    (["node", "add", "n9", "--address", "224.0.0.1"], USAGE, "multicast"),
    (["node", "add", "n9", "--address", "256.0.0.1"], USAGE, "must be an IP address"),
    (["node", "add", "n9", "--address", "fd00::9"], OK, "fd00::9"),
    (["node", "add", "n9", "--address", "FD00:0::9"], OK, "fd00::9"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/:1Gi"], USAGE, "root directory"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "//:1Gi"], USAGE, "root directory"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/etc:1Gi"], USAGE, "operating system's /etc"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/etc/pronghorn:1Gi"], USAGE, "system's /etc"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/proc:1Gi"], USAGE, "system's /proc"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/sys:1Gi"], USAGE, "system's /sys"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/dev/sda:1Gi"], USAGE, "system's /dev"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/boot:1Gi"], USAGE, "system's /boot"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/usr/local/x:1Gi"], USAGE, "system's /usr"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/bin:1Gi"], USAGE, "system's /bin"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/sbin:1Gi"], USAGE, "system's /sbin"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/lib:1Gi"], USAGE, "system's /lib"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/srv/../etc:1Gi"], USAGE, "normalised"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/srv/./d:1Gi"], USAGE, "normalised"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "relative:1Gi"], USAGE, "absolute"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/nocapacity"], USAGE, "PATH:CAPACITY"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/srv/d:0"], USAGE, "greater than zero"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/srv/d:1"], OK, "capacity=1,"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "//srv//d/:1Gi"], OK, "path=/srv/d,"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/libexec-data:1Gi"], OK, "path=/libexec-data,"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--disk", "/srv/d:1Gi", "--disk", "/srv/d/:1Gi"], CONFLICT,
     "disk '/srv/d' already exists"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--zone", "Zone_A"], USAGE, "invalid zone"),
    (["node", "add", "n9", "--address", "127.0.0.9", "--tag", "a b"], USAGE, "invalid node tags"),
    (["node", "add", "n9", "--address", "127.0.0.9", *[a for i in range(64) for a in ("--tag", f"t{i}")]], OK, "t63"),
    (["node", "add", "n9", "--address", "127.0.0.9", *[a for i in range(65) for a in ("--tag", f"t{i}")]], USAGE,
     "at most 64 tags"),
    (["node", "add", "n1", "--address", "127.0.0.1"], CONFLICT, "node 'n1' already exists"),
    # -- node get / rm ----------------------------------------------------------------------------------
    (["node", "get", "nope"], NOT_FOUND, "node 'nope' not found"),
    (["node", "rm", "nope"], NOT_FOUND, "node 'nope' not found"),
    (["node", "rm", "n3"], STATE, "replicas live there: solo/r1 (delete their volumes first)"),
    (["node", "rm", "n2"], STATE, "volumes attached there: detaching"),
    (["node", "rm", "n1", "--json"], STATE, "volumes attached there: attaching"),
    (["node", "rm", "empty", "--json"], OK, '"deleted": true'),
    (["node", "rm", "cordoned"], OK, "deleted: yes"),
    (["node", "rm", "removed"], NOT_FOUND, "node 'removed' not found"),
    (["node", "get", "removed"], NOT_FOUND, "node 'removed' not found"),
    (["node", "get", "cordoned", "--json"], OK, '"schedulable": false'),
    (["node", "add", "removed", "--address", "127.0.0.7"], OK, "127.0.0.7"),
    (["node", "add", "cordoned", "--address", "127.0.0.5"], CONFLICT, "node 'cordoned' already exists"),
    # -- volume create: name, size, replicas, timeouts, selectors ---------------------------------------
    (["volume", "create", NAME63, "--size", "4096", "--replicas", "1"], OK, NAME63),
    (["volume", "create", NAME63 + "a", "--size", "4096"], USAGE, "invalid volume name"),
    (["volume", "create", "", "--size", "4096"], USAGE, "invalid volume name"),
    (["volume", "create", "Bad_Name", "--size", "4096"], USAGE, "invalid volume name"),
    (["volume", "create", "v9", "--size", "0"], USAGE, "greater than zero"),
    (["volume", "create", "v9", "--size", "-4096"], USAGE, "invalid size '-4096'"),
    (["volume", "create", "v9", "--size", "4095"], USAGE, "multiple of 4096"),
    (["volume", "create", "v9", "--size", "1.5Ki"], USAGE, "multiple of 4096"),
    (["volume", "create", "v9", "--size", "1e3"], USAGE, "invalid size '1e3'"),
    (["volume", "create", "v9", "--size", "lots"], USAGE, "invalid size 'lots'"),
    (["volume", "create", "v9", "--size", "1Pi", "--replicas", "1"], SCHEDULING, "DiskPressure"),
    (["volume", "create", "v9", "--size", "1025Ti"], USAGE, "at most 1125899906842624"),
    (["volume", "create", "v9", "--size", "8Ei"], USAGE, "at most"),
    (["volume", "create", "v9", "--size", "4096", "--replicas", "0"], USAGE, "must be 1..10"),
    (["volume", "create", "v9", "--size", "4096", "--replicas", "11"], USAGE, "must be 1..10"),
    (["volume", "create", "v9", "--size", "4096", "--replicas", "x"], USAGE, "invalid int value"),
    (["volume", "create", "v9", "--size", "4096", "--replicas", "2"], OK, "detached"),
    (["volume", "create", "v9", "--size", "4096", "--replicas", "4"], SCHEDULING, "InsufficientNodes"),
    (["volume", "create", "v9", "--size", "4096", "--replicas", "1", "--stale-replica-timeout", "-1"], USAGE,
     "stale replica timeout -1"),
    (["volume", "create", "v9", "--size", "4096", "--replicas", "1", "--stale-replica-timeout", "31536000"], OK,
     "detached"),
    (["volume", "create", "v9", "--size", "4096", "--stale-replica-timeout", "31536001"], USAGE, "must be 0..31536000"),
    (["volume", "create", "v9", "--size", "4096", "--node-selector", "a b"], USAGE, "invalid node selector"),
    (["volume", "create", "v9", "--size", "4096", "--disk-selector", ""], USAGE, "invalid disk selector"),
    (["volume", "create", "v9", "--size", "4096", "--replicas", "1", "--node-selector", "gpu"], SCHEDULING,
     "NoMatchingNodes"),
    (["volume", "create", "v9", "--size", "4096", "--data-locality", "far"], USAGE, "invalid choice: 'far'"),
    (["volume", "create", "detached", "--size", "4096"], CONFLICT, "volume 'detached' already exists"),
    (["volume", "create", "deleting", "--size", "4096"], CONFLICT, "deleting; a deleted volume's name is not reused"),
    (["volume", "create", "deleted", "--size", "4096"], CONFLICT, "'pronghorn events deleted'"),
    # -- volume get / ls / expand -----------------------------------------------------------------------
    (["volume", "get", "nope"], NOT_FOUND, "volume 'nope' not found"),
    (["volume", "get", "../x"], NOT_FOUND, "volume '../x' not found"),
    (["volume", "get", "deleted"], OK, "state:              deleted"),
    (["volume", "ls"], OK, "attaching"),
    (["volume", "expand", "detached", "--size", "1Gi"], OK, "1Gi"),
    (["volume", "expand", "detached", "--size", "1023Mi"], USAGE, "volumes only grow"),
    (["volume", "expand", "detached", "--size", "1Pi"], SCHEDULING, "OverProvisioned"),  # checked as a placement
    (["volume", "expand", "detached", "--size", "1025Ti"], USAGE, "at most"),
    (["volume", "expand", "attaching", "--size", "2Gi"], STATE, "while it is attaching"),
    (["volume", "expand", "detaching", "--size", "2Gi"], STATE, "while it is detaching"),
    (["volume", "expand", "deleting", "--size", "2Gi"], STATE, "while it is deleting"),
    (["volume", "expand", "deleted", "--size", "2Gi"], STATE, "while it is deleted"),
    (["volume", "expand", "nope", "--size", "2Gi"], NOT_FOUND, "volume 'nope' not found"),
    # -- volume attach / detach, --wait and --timeout ----------------------------------------------------
    (["volume", "attach", "detached", "--node", "nope"], NOT_FOUND, "node 'nope' not found"),
    (["volume", "attach", "detached", "--node", "Bad_Node"], USAGE, "invalid node name"),
    (["volume", "attach", "detached", "--node", "removed"], NOT_FOUND, "node 'removed' not found"),
    (["volume", "attach", "detached", "--node", "cordoned"], OK, "detached: attaching"),
    (["volume", "attach", "nope", "--node", "n1"], NOT_FOUND, "volume 'nope' not found"),
    (["volume", "attach", "detached", "--node", "n1"], OK, "detached: attaching"),
    (["volume", "attach", "detached", "--node", "n1", *WAIT], TIMEOUT, "still attaching on node 'n1' after 0.2s"),
    (["volume", "attach", "detached", "--node", "n1", "--wait", "--timeout", "0"], USAGE, "invalid timeout '0'"),
    (["volume", "attach", "detached", "--node", "n1", "--wait", "--timeout", "-1"], USAGE, "invalid timeout"),
    (["volume", "attach", "detached", "--node", "n1", "--wait", "--timeout", "nan"], USAGE, "invalid timeout"),
    (["volume", "attach", "detached", "--node", "n1", "--wait", "--timeout", "inf"], USAGE, "invalid timeout"),
    (["volume", "attach", "detached", "--node", "n1", "--wait", "--timeout", "604801"], USAGE, "at most 604800"),
    (["volume", "attach", "attaching", "--node", "n1"], OK, "attaching"),
    (["volume", "attach", "attaching", "--node", "n2"], STATE, "cannot attach volume 'attaching'"),
    (["volume", "attach", "detaching", "--node", "n2"], STATE, "while it is detaching"),
    (["volume", "attach", "deleting", "--node", "n1"], STATE, "while it is deleting"),
    (["volume", "attach", "deleted", "--node", "n1"], STATE, "while it is deleted"),
    (["volume", "detach", "detached"], OK, "detached: detached"),
    (["volume", "detach", "attaching"], OK, "attaching: detaching"),
    (["volume", "detach", "attaching", *WAIT], TIMEOUT, "'pronghorn volume detach attaching --force' gives up"),
    (["volume", "detach", "attaching", "--force"], OK, "attaching: detached"),
    (["volume", "detach", "detaching", "--force", *WAIT], OK, "detaching: detached"),
    (["volume", "detach", "detached", "--force"], OK, "detached: detached"),
    (["volume", "detach", "deleting", "--force"], STATE, "cannot force detach volume 'deleting'"),
    (["volume", "detach", "deleted"], STATE, "cannot detach volume 'deleted' while it is deleted"),
    (["volume", "detach", "nope", "--force"], NOT_FOUND, "volume 'nope' not found"),
    # -- volume delete ----------------------------------------------------------------------------------
    (["volume", "delete", "attaching"], STATE, "detach it first"),
    (["volume", "delete", "detaching"], STATE, "detach it first"),
    (["volume", "delete", "detached", *WAIT], TIMEOUT, "still deleting after 0.2s"),
    (["volume", "delete", "deleting", "--force", *WAIT], OK, "state:              deleted"),
    (["volume", "delete", "deleted"], OK, "deleted"),
    (["volume", "delete", "nope"], NOT_FOUND, "volume 'nope' not found"),
    # -- volume mount / umount (no manager: never attached) ---------------------------------------------
    (["volume", "mount", "detached", "/mnt"], STATE, "is detached, not attached"),
    (["volume", "mount", "attaching", "/mnt"], STATE, "is attaching, not attached"),
    (["volume", "mount", "nope", "/mnt"], NOT_FOUND, "volume 'nope' not found"),
    (["volume", "mount", "detached", "/mnt", "--fs", "ntfs"], USAGE, "invalid choice: 'ntfs'"),
    (["volume", "umount", "/no/such/dir"], NOT_FOUND, "no such directory"),
    # -- snapshot ---------------------------------------------------------------------------------------
    (["snapshot", "create", "detached", NAME63], OK, NAME63),
    (["snapshot", "create", "detached", NAME63 + "a"], USAGE, "invalid snapshot name"),
    (["snapshot", "create", "detached", "Bad Name"], USAGE, "invalid snapshot name"),
    (["snapshot", "create", "detached", "s1"], CONFLICT, "snapshot 's1' already exists"),
    (["snapshot", "create", "detached", "s2", "--label", "=v"], USAGE, "expected KEY=VALUE"),
    (["snapshot", "create", "detached", "s2", "--label", "k" * 64 + "=v"], USAGE, "label key"),
    (["snapshot", "create", "detached", "s2", "--label", "k=" + "v" * 256], USAGE, "label value"),
    (["snapshot", "create", "detached", "s2", *WAIT], TIMEOUT, "snapshot 's2': not done after 0.2s"),
    (["snapshot", "create", "deleted", "s2"], STATE, "deleted"),
    (["snapshot", "create", "nope", "s2"], NOT_FOUND, "volume 'nope' not found"),
    (["snapshot", "ls", "detached"], OK, "s1"),
    (["snapshot", "ls", "nope"], NOT_FOUND, "volume 'nope' not found"),
    (["snapshot", "rm", "detached", "nope"], NOT_FOUND, "snapshot 'nope' of volume 'detached' not found"),
    (["snapshot", "rm", "detached", "s1"], OK, "s1"),
    (["snapshot", "revert", "detached", "nope"], NOT_FOUND, "snapshot 'nope'"),
    (["snapshot", "revert", "detached", "s1", *WAIT], TIMEOUT, "not done after 0.2s"),
    # -- job --------------------------------------------------------------------------------------------
    (["job", "create", "j2", "--cron", "* * * * *", "--retain", "1", "--volumes", "detached"], OK, "j2"),
    (["job", "create", "j2", "--cron", "* * * * *", "--retain", "1", "--volumes", "nope"], NOT_FOUND,
     "volume 'nope' not found"),
    (["job", "create", "j2", "--cron", "* * * * *", "--retain", "1", "--volumes", "deleted"], NOT_FOUND,
     "volume 'deleted' is deleted"),
    (["job", "create", "j2", "--cron", "* * * * *", "--retain", "1", "--volumes", "deleting"], NOT_FOUND,
     "volume 'deleting' is deleted"),
    (["job", "create", "j2", "--cron", "* * * * *", "--retain", "1", "--task", "backup", "--volumes", "detached"],
     USAGE, "backups are not built yet"),
    (["job", "create", "j2", "--cron", "* * * * *", "--retain", "1", "--task", "copy"], USAGE, "invalid choice"),
    (["job", "create", "j2", "--cron", "* * * * *", "--retain", "0"], USAGE, "must be 1..100"),
    (["job", "create", "j2", "--cron", "* * * * *", "--retain", "100"], OK, "retain:     100"),
    (["job", "create", "j2", "--cron", "* * * * *", "--retain", "101"], USAGE, "must be 1..100"),
    (["job", "create", "j2", "--cron", "* * * * * *", "--retain", "1"], USAGE, "must have 5 fields"),
    (["job", "create", "j2", "--cron", "", "--retain", "1"], USAGE, "must have 5 fields"),
    (["job", "create", "j2", "--cron", "0 25 * * *", "--retain", "1"], USAGE, "hour: 25 is outside 0-23"),
    (["job", "create", "j2", "--cron", "* * * * *", "--retain", "1", "--label", "=v"], USAGE, "expected KEY=VALUE"),
    (["job", "create", "daily", "--cron", "* * * * *", "--retain", "1"], CONFLICT, "'daily' already exists"),
    (["job", "get", "nope"], NOT_FOUND, "recurring job 'nope' not found"),
    (["job", "rm", "daily"], OK, "deleted: yes"),
    (["job", "rm", "nope"], NOT_FOUND, "recurring job 'nope' not found"),
    # -- replica ----------------------------------------------------------------------------------------
    (["replica", "ls", "detached"], OK, "r1"),
    (["replica", "ls", "deleted"], OK, "NAME"),
    (["replica", "ls", "nope"], NOT_FOUND, "volume 'nope' not found"),
    # -- events / replay: an unknown volume -------------------------------------------------------------
    (["events", "nope"], NOT_FOUND, "'nope' has no events"),
    (["replay", "nope", "--at", "1"], NOT_FOUND, "'nope' has no events"),
    # -- api / up / manager: where the REST API may listen, how many nodes -------------------------------
    (["api", "--listen", "0.0.0.0:0"], USAGE, "without a token"),
    (["api", "--listen", "[::]:0"], USAGE, "without a token"),
    (["api", "--listen", "10.1.2.3:9500"], USAGE, "without a token"),
    (["api", "--listen", "127.0.0.1:65536"], USAGE, "invalid address"),
    (["api", "--listen", "127.0.0.1"], USAGE, "invalid address"),
    (["api", "--listen", "127.0.0.1:0", "--api-token-file", "/no/such/token"], USAGE, "cannot read --api-token-file"),
    (["up", "--nodes", "0"], USAGE, "--nodes must be between 1 and 50"),
    (["up", "--nodes", "51"], USAGE, "--nodes must be between 1 and 50"),
    (["up", "--api", "0.0.0.0:0"], USAGE, "refusing to serve the REST API on 0.0.0.0 without a token"),
    (["manager", "--node", "n1", "--api", "0.0.0.0:0"], USAGE, "without a token"),
]


def _id(row: tuple[list[str], int, str]) -> str:
    argv, code, _ = row
    return f"{code}:" + " ".join(a if len(a) < 20 else a[:17] + "..." for a in argv)[:80]


@pytest.mark.parametrize(("argv", "code", "fragment"), ROWS, ids=[_id(r) for r in ROWS])
def test_cli_limits(cli: Cli, argv: list[str], code: int, fragment: str) -> None:
    proc = cli.run(*argv)
    assert proc.returncode == code, proc.stderr or proc.stdout
    assert fragment in (proc.stderr if code else proc.stdout)
