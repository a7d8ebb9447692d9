"""``pronghorn demo``: a newcomer's first look, run by ``make run``.

Against the default SQLite store (or the one in ``--home DIR``) it registers
three nodes (reused when they exist), creates a fresh volume ``demo-N``,
expands it, and shows ``volume get``, the event history, a replay at the
position right after creation (before the expansion) and the diff from its
first event to now — echoing each
command so it can be typed again. Running it twice leaves both volumes.
Called by the dispatcher (adapters.cli.main); runs the verbs in-process.
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from adapters.cli.command import make_parser, opened_store, run
from adapters.cli.errors import CommandError, ExitCode
from domain.errors import NotFound
from domain.services import Nodes, Volumes
from projections.history import read_history

NODES = [("demo-node-1", "127.0.0.1", "zone-a"), ("demo-node-2", "127.0.0.2", "zone-b"), ("demo-node-3", "127.0.0.3", "zone-c")]
DISK_CAPACITY = "100Gi"


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = make_parser(prog, "Walk through Pronghorn's admin CLI on the default SQLite store.")
    parser.add_argument(
        "--home", type=Path, metavar="DIR",
        help="use the SQLite store in DIR (sets PRONGHORN_HOME; default: $PRONGHORN_HOME or ~/.local/share/pronghorn)",
    )
    return parser


def main(argv: list[str] | None = None, prog: str = "pronghorn demo") -> int:
    args = build_parser(prog).parse_args(argv)
    return run(prog, lambda: _demo(args.home))


def _step(argv: list[str]) -> None:
    from adapters.cli.main import main as pronghorn

    print(f"\n$ pronghorn {shlex.join(argv)}", flush=True)
    code = pronghorn(argv)
    if code != ExitCode.OK:
        raise CommandError(f"step 'pronghorn {shlex.join(argv)}' failed with exit code {code}", ExitCode(code))


def _history_length(name: str) -> int:
    with opened_store(None) as app:
        return len(read_history(app.recorder, app.mapper, name))


def _demo(home: Path | None) -> int:
    if home is not None:
        home = home.expanduser().resolve()
        home.mkdir(parents=True, exist_ok=True)
        os.environ["PRONGHORN_HOME"] = str(home)
        os.environ.pop("PRONGHORN_STORE", None)
    from domain.store import parse_store_url

    print(f"Pronghorn demo on the event store {parse_store_url(None).display}")
    disks_root = Path(os.environ.get("PRONGHORN_HOME") or "~/.local/share/pronghorn").expanduser().resolve() / "disks"
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
    _step(["node", "ls"])
    _step(["volume", "create", volume, "--size", "1Gi", "--replicas", "3"])
    created = _history_length(volume)
    _step(["volume", "expand", volume, "--size", "2Gi"])
    _step(["volume", "get", volume])
    _step(["events", volume])
    _step(["replay", volume, "--at", str(created)])
    _step(["replay", volume, "--diff", "1", str(_history_length(volume))])
    print(
        "\nNext: 'pronghorn events VOLUME --json', 'pronghorn replay VOLUME --at ISO-TIME',\n"
        f"'pronghorn events export {volume} FILE' then 'pronghorn events import FILE --store URL'.\n"
        "Every verb has --help."
    )
    return ExitCode.OK


def _fresh_volume_name(volumes: Volumes) -> str:
    for number in range(1, 10_000):
        name = f"demo-{number}"
        try:
            volumes.get(name)
        except NotFound:
            return name
    raise CommandError("no free demo-N volume name left; use --home with a new directory", ExitCode.CONFLICT)
