"""``pronghorn events``: event histories, filtered and followed; export one to a file, import it elsewhere.

    pronghorn events [VOLUME] [--type T] [--aggregate A] [--since TIME|-5m] [--until TIME]
                     [--limit N] [--follow] [--wide] [--json]
    pronghorn events export VOLUME FILE       write a volume's history to a self-describing JSON file
    pronghorn events import FILE              load such a file into this store

With a VOLUME: its history (the volume's, its replicas' and its snapshot chain's
events) read through the per-volume history index (``projections.read_models``,
caught up first, so no manager is needed). Without: the cluster-wide stream
(``projections.event_stream``: nodes, jobs, catalogs too). ``--follow`` then polls
for new events and prints them as they are stored (``--json``: one object per line)
until Ctrl-C. Called by the ``pronghorn`` dispatcher (adapters.cli.main); the file
format is :mod:`adapters.cli.history_file`.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from adapters.cli.command import add_json_option, add_store_option, make_parser, opened_store, run
from adapters.cli.errors import CommandError, ExitCode
from adapters.cli.history_file import export_history, import_history
from adapters.cli.history_filters import add_filter_options, filter_from
from adapters.cli.history_view import entry_document, render_entries
from projections import read_models
from projections.history import HistoryEntry

SUBVERBS = ("export", "import")
FOLLOW_POLL_S = 0.5
USAGE = """%(prog)s [VOLUME] [--type T] [--aggregate A] [--since TIME] [--until TIME] [--limit N]
                       [--follow] [--wide] [--json] [--store URL]
       %(prog)s export VOLUME FILE [--store URL]
       %(prog)s import FILE [--store URL]"""
EPILOG = """\
A volume's history holds the events of the volume, its replicas and its snapshot chain, in
the order they were stored. POS is the position 'pronghorn replay VOLUME --at POS' takes;
--json adds global_position, the event's place in the whole store. Without VOLUME: every
event of the cluster (nodes, jobs, ...). Sizes and durations are shown for people in the
table, as raw numbers in --json; --wide shows event data uncut.
(A volume named 'export' or 'import': pronghorn events -- export.)
Exit codes: 0 ok, 2 bad arguments, 3 unknown volume or missing file, 4 import would
overwrite existing aggregates, 7 store unavailable."""


def _history_parser(prog: str) -> argparse.ArgumentParser:
    parser = make_parser(prog, "Show a volume's event history, or the whole cluster's events.")
    parser.usage = USAGE
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("volume", metavar="VOLUME", nargs="?", help="volume name (none: every event)")
    add_filter_options(parser)
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new events as they are stored")
    parser.add_argument("--wide", action="store_true", help="show event data uncut")
    add_json_option(parser)
    add_store_option(parser)
    return parser


def _export_parser(prog: str) -> argparse.ArgumentParser:
    parser = make_parser(f"{prog} export", "Write every stored event of a volume's aggregates to a JSON file.")
    parser.add_argument("volume", metavar="VOLUME", help="volume name")
    parser.add_argument("file", metavar="FILE", type=Path, help="file to write (replaced if it exists)")
    add_store_option(parser)
    return parser


def _import_parser(prog: str) -> argparse.ArgumentParser:
    parser = make_parser(
        f"{prog} import",
        "Load an exported volume history into this store (refuses if any of its aggregates exist here).",
    )
    parser.add_argument("file", metavar="FILE", type=Path, help="file written by 'pronghorn events export'")
    add_store_option(parser)
    return parser


def main(argv: list[str] | None = None, prog: str = "pronghorn events") -> int:
    args_list = list(argv or [])
    if args_list and args_list[0] == "export":
        args = _export_parser(prog).parse_args(args_list[1:])
        return run(f"{prog} export", lambda: _export(args))
    if args_list and args_list[0] == "import":
        args = _import_parser(prog).parse_args(args_list[1:])
        return run(f"{prog} import", lambda: _import(args))
    args = _history_parser(prog).parse_args(args_list)
    return run(prog, lambda: _show(args))


def _show(args: argparse.Namespace) -> int:
    wanted = filter_from(args.type, args.aggregate, args.since, args.until, args.limit)
    with opened_store(args.store) as app:
        poll = read_models.volume_events(app, args.volume) if args.volume else read_models.cluster_events(app)
        entries = poll(wanted)
        if not args.follow:
            # The documents are plain data already: no second conversion pass (10k events: ~0.2 s).
            print(json.dumps([entry_document(e) for e in entries], indent=2)) if args.json else print(
                render_entries(entries, wide=args.wide, positions=bool(args.volume)))
            return ExitCode.OK
        _print_followed(entries, args, header=True)
        try:
            while True:
                time.sleep(FOLLOW_POLL_S)
                _print_followed(poll(replace(wanted, limit=None)), args, header=False)
        except KeyboardInterrupt:
            return ExitCode.OK


def _print_followed(entries: list[HistoryEntry], args: argparse.Namespace, header: bool) -> None:
    if args.json:
        for entry in entries:
            print(json.dumps(entry_document(entry)), flush=True)
    elif entries or header:
        print(render_entries(entries, wide=args.wide, header=header, positions=bool(args.volume)), flush=True)


def _export(args: argparse.Namespace) -> int:
    from domain.store import parse_store_url

    target: Path = args.file
    if target.is_dir():
        raise CommandError(f"{target} is a directory; name a file to write", ExitCode.USAGE)
    if not target.parent.is_dir():
        raise CommandError(f"directory {target.parent} does not exist", ExitCode.NOT_FOUND)
    with opened_store(args.store) as app:
        history = read_models.history(app, args.volume)
        count = export_history(app, history, target, parse_store_url(args.store).display)
    print(f"exported {count} events of volume {args.volume!r} to {target}")
    return ExitCode.OK


def _import(args: argparse.Namespace) -> int:
    source: Path = args.file
    if not source.is_file():
        raise CommandError(f"no such file: {source}", ExitCode.NOT_FOUND)
    with opened_store(args.store) as app:
        volume, count = import_history(app, source)
    print(f"imported {count} events of volume {volume!r}")
    return ExitCode.OK
