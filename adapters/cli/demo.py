"""``pronghorn demo``: a newcomer's first look, run by ``make run``.

On a throwaway SQLite store in a new temporary directory (or, when told, the one
in ``--home DIR`` or at ``--store URL``, never ``$PRONGHORN_HOME``'s) it registers
three fake nodes (reused when they exist), stands in for their managers (marks
them Ready and confirms their disks, as a node's manager does), creates a fresh
volume ``demo-N``, expands it, and shows ``volume get``, the event history, a
replay at the position right after creation (before the expansion) and the diff
from its first event to now — echoing each command so it can be typed again.
It refuses (exit 4) a store that a running manager uses: fake nodes there would
be given real replicas. Called by the dispatcher (adapters.cli.main); runs the
verbs in-process.
"""

from __future__ import annotations

import argparse
import os
import shlex
import tempfile
from pathlib import Path

from adapters.cli.command import STORE_HELP, make_parser, opened_store, run
from adapters.cli.errors import CommandError, ExitCode
from domain.errors import NotFound
from domain.services import Nodes, Volumes
from domain.store import HOME_ENV, STORE_ENV, parse_store_url
from projections.history import read_history

NODES = [("demo-node-1", "127.0.0.1", "zone-a"), ("demo-node-2", "127.0.0.2", "zone-b"), ("demo-node-3", "127.0.0.3", "zone-c")]
DISK_CAPACITY = "100Gi"


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = make_parser(prog, "Walk through Pronghorn's admin CLI on a throwaway event store.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--home", type=Path, metavar="DIR",
        help="use the SQLite store in DIR instead of a new temporary directory (not one a manager uses)",
    )
    where.add_argument("--store", metavar="URL", help="use this store instead (not one a manager uses); "
                       + STORE_HELP.split(" (default")[0])
    parser.epilog = "Exit codes: 0 ok, 2 bad arguments, 4 a running manager uses the store, 7 store unavailable."
    return parser


def main(argv: list[str] | None = None, prog: str = "pronghorn demo") -> int:
    args = build_parser(prog).parse_args(argv)
    return run(prog, lambda: _demo(args.home, args.store))


def _step(argv: list[str]) -> None:
    from adapters.cli.main import main as pronghorn

    print(f"\n$ pronghorn {shlex.join(argv)}", flush=True)
    code = pronghorn(argv)
    if code != ExitCode.OK:
        raise CommandError(f"step 'pronghorn {shlex.join(argv)}' failed with exit code {code}", ExitCode(code))


def _history_length(name: str) -> int:
    with opened_store(None) as app:
        return len(read_history(app.recorder, app.mapper, name))


def _demo(home: Path | None, store: str | None) -> int:
    throwaway = home is None and store is None
    if home is None:
        home = Path(tempfile.mkdtemp(prefix="pronghorn-demo-"))
    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    # the verbs run in-process and read the store from the environment: point it at the demo's
    os.environ[HOME_ENV] = str(home)
    if store is None:
        os.environ.pop(STORE_ENV, None)
    else:
        os.environ[STORE_ENV] = store
    _refuse_live_store()
    print(f"Pronghorn demo on {'a throwaway' if throwaway else 'the'} event store {parse_store_url(None).display}")
    disks_root = home / "disks"
    with opened_store(None) as app:
        existing_nodes = set(Nodes(app).names())
        volume = _fresh_volume_name(Volumes(app))
    for name, address, zone in NODES:
        if name in existing_nodes:
            print(f"\n(node {name} is already registered)")
            continue
        disk = disks_root / name
        disk.mkdir(parents=True, exist_ok=True)
        _step(["node", "add", name, "--address", address, "--zone", zone, "--disk", f"{disk}:{DISK_CAPACITY}"])
    _stand_in_for_managers()
    _step(["node", "ls"])
    _step(["volume", "create", volume, "--size", "1Gi", "--replicas", "3"])
    created = _history_length(volume)
    _step(["volume", "expand", volume, "--size", "2Gi"])
    _step(["volume", "get", volume])
    _step(["events", volume])
    _step(["replay", volume, "--at", str(created)])
    _step(["replay", volume, "--diff", "1", str(_history_length(volume))])
    if throwaway:
        print(f"\nThe demo's store stays in {home}: 'export {HOME_ENV}={home}' to look further.")
    print(
        "\nNext: 'pronghorn events VOLUME --json', 'pronghorn replay VOLUME --at ISO-TIME',\n"
        f"'pronghorn events export {volume} FILE' then 'pronghorn events import FILE --store URL'.\n"
        "Every verb has --help."
    )
    return ExitCode.OK


def _refuse_live_store() -> None:
    """Exit 4 if a running manager holds a node lease on the store: fake nodes would get real replicas."""
    from manager.node_lease import Holder, node_leases

    leases = node_leases(None, Holder.this_process(""))
    try:
        holders = leases.holders()
    finally:
        leases.release()
    if holders:
        who = ", ".join(f"{node} ({h.describe() if h else 'holder unknown'})" for node, h in sorted(holders.items()))
        raise CommandError(f"the event store {parse_store_url(None).display} is in use by running managers: {who}; "
                           "run the demo on a throwaway store (no --home/--store)", ExitCode.CONFLICT)


def _stand_in_for_managers() -> None:
    """Do what each node's manager does when it starts: mark the node Ready, confirm its disks
    (the directories the demo made for them)."""
    print("\n(the demo stands in for the fake nodes' managers: marks them Ready and confirms their disks)")
    with opened_store(None) as app:
        nodes = Nodes(app)
        for name, _address, _zone in NODES:
            nodes.mark_ready(name, "the demo stands in for this node's manager")
            for path in nodes.get(name).disks:
                nodes.confirm_disk(name, path)


def _fresh_volume_name(volumes: Volumes) -> str:
    for number in range(1, 10_000):
        name = f"demo-{number}"
        try:
            volumes.get(name)
        except NotFound:
            return name
    raise CommandError("no free demo-N volume name left; use --home with a new directory", ExitCode.CONFLICT)
