"""``pronghorn events``: a volume's event history; export it to a file, import it elsewhere.

    pronghorn events VOLUME [--json]          the history, in global order
    pronghorn events export VOLUME FILE       write it to a self-describing JSON file
    pronghorn events import FILE              load such a file into this store

Called by the ``pronghorn`` dispatcher (adapters.cli.main). The history comes
from :mod:`projections.history`; the file format from
:mod:`adapters.cli.history_file`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from adapters.cli.command import add_json_option, add_store_option, make_parser, opened_store, run
from adapters.cli.errors import CommandError, ExitCode
from adapters.cli.history_file import export_history, import_history
from adapters.cli.history_view import entry_document, render_entries
from adapters.cli.output import print_json
from projections.history import read_history

SUBVERBS = ("export", "import")
USAGE = """%(prog)s VOLUME [--json] [--store URL]
       %(prog)s export VOLUME FILE [--store URL]
       %(prog)s import FILE [--store URL]"""
EPILOG = """\
The history holds the events of the volume, its replicas and its snapshot chain, in
the order they were stored. POS is the position 'pronghorn replay VOLUME --at POS' takes.
(A volume named 'export' or 'import': pronghorn events -- export.)
Exit codes: 0 ok, 2 bad arguments, 3 unknown volume or missing file, 4 import would
overwrite existing aggregates, 7 store unavailable."""


def _history_parser(prog: str) -> argparse.ArgumentParser:
    parser = make_parser(prog, "Show a volume's event history (its own, its replicas' and its snapshot chain's).")
    parser.usage = USAGE
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("volume", metavar="VOLUME", help="volume name")
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
    with opened_store(args.store) as app:
        history = read_history(app.recorder, app.mapper, args.volume)
    if args.json:
        print_json([entry_document(entry) for entry in history])
    else:
        print(render_entries(history))
    return ExitCode.OK


def _export(args: argparse.Namespace) -> int:
    from domain.store import parse_store_url

    target: Path = args.file
    if target.is_dir():
        raise CommandError(f"{target} is a directory; name a file to write", ExitCode.USAGE)
    if not target.parent.is_dir():
        raise CommandError(f"directory {target.parent} does not exist", ExitCode.NOT_FOUND)
    with opened_store(args.store) as app:
        history = read_history(app.recorder, app.mapper, args.volume)
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
