"""``pronghorn replica ls VOLUME``: a volume's replicas, read from the event store.

Reached through ``adapters.cli.replicas`` (the ``replica`` verb), which keeps the
replica process's start free of the event store's imports.
"""

from __future__ import annotations

import argparse
from typing import Any

from adapters.cli.command import add_json_option, add_store_option, add_verbs, make_parser, opened_store, run
from adapters.cli.errors import ExitCode
from adapters.cli.history_view import rebuild_cell
from adapters.cli.output import print_json, render_table
from domain.services import Replicas, Volumes

EPILOG = "Exit codes: 0 ok, 2 bad arguments, 3 unknown volume, 7 store unavailable."
COLUMNS = ("name", "node", "mode", "address", "data_dir", "rebuild", "failures", "last_failure")
"""Columns of the table; ``--json`` adds ``rebuild_bytes_done`` and ``rebuild_bytes_total``."""


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = make_parser(prog, "List a volume's replicas (serve/info: run or inspect a replica process).")
    verbs = add_verbs(parser)
    ls = verbs.add_parser("ls", help="list a volume's replicas", description="List a volume's replicas.")
    ls.add_argument("volume", metavar="VOLUME")
    add_json_option(ls)
    add_store_option(ls)
    ls.epilog = EPILOG
    verbs.add_parser("serve", help="run a replica process (see 'serve --help')", add_help=False)
    verbs.add_parser("info", help="show a running replica (see 'info --help')", add_help=False)
    return parser


def main(argv: list[str] | None = None, prog: str = "pronghorn replica") -> int:
    args = build_parser(prog).parse_args(argv)
    return run(f"{prog} ls", lambda: _ls(args))


def _ls(args: argparse.Namespace) -> int:
    with opened_store(args.store) as app:
        Volumes(app).get(args.volume)  # VolumeNotFound for an unknown name
        rows: list[dict[str, Any]] = [
            {"name": r.name, "node": r.node, "mode": r.mode, "address": r.address, "data_dir": r.data_dir,
             "rebuild": r.rebuild, "failures": len(r.failures),
             "last_failure": r.last_failure.reason if r.last_failure else "",
             "rebuild_bytes_done": r.rebuild_done, "rebuild_bytes_total": r.rebuild_total}
            for r in Replicas(app).list_for(args.volume)
        ]
    if args.json:
        print_json(rows)
    else:
        shown = [{**row, "rebuild": rebuild_cell(row["rebuild"], row["rebuild_bytes_done"], row["rebuild_bytes_total"])}
                 for row in rows]
        print(render_table([c.upper() for c in COLUMNS], [[row[c] for c in COLUMNS] for row in shown]))
    return ExitCode.OK
