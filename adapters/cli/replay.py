"""``pronghorn replay``: a volume's status as it was at a past point, or what changed between two.

    pronghorn replay VOLUME --at POSITION|ISO-TIME [--json]
    pronghorn replay VOLUME --diff A B [--json]
    pronghorn replay VOLUME --explain [--at POINT] [--json]

A point is a position in ``pronghorn events VOLUME`` (1-based) or an ISO 8601
time (naive times are UTC): the last event at or before it. The status comes
from folding the history with the volume status projection's fold
(:mod:`projections.history`), read through the per-volume history index from the
nearest stored checkpoint (``projections.read_models``). ``--diff A B`` needs A at
or before B (an A after B is refused, exit 2). Called by the dispatcher
(adapters.cli.main). ``--explain`` says why the volume is as it is at the point (default: now),
walking back from each fact to the events that produced it (``adapters.cli.explain``).
"""

from __future__ import annotations

import argparse
from datetime import datetime

from adapters.cli import explain
from adapters.cli.command import add_json_option, add_store_option, make_parser, opened_store, run
from adapters.cli.errors import CommandError, ExitCode
from adapters.cli.history_view import (
    change_document,
    entry_document,
    render_changes,
    render_entries,
    render_status,
    status_document,
)
from adapters.cli.output import print_json
from projections import read_models
from projections.history import Timeline, diff

EPILOG = """\
POINT is a position from 'pronghorn events VOLUME' (1 = after the first event) or an ISO
8601 time such as 2026-11-25T21:50:00Z (the last event at or before that time).
--diff A B shows what changed from A to the later point B (A after B is refused).
--explain says why the volume is as it is (at --at POINT, default the last event): each
fact (state, a replica not RW, a condition that says something is wrong, a node it waits on) with the events
that produced it, who acted and what caused it.
Exit codes: 0 ok, 2 bad arguments or a point outside the history, 3 unknown volume,
7 store unavailable."""


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = make_parser(prog, "Replay a volume's history: its status at a past point, or a diff of two points.")
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("volume", metavar="VOLUME", help="volume name")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--at", metavar="POINT", help="show the status after this position or time")
    when.add_argument("--diff", nargs=2, metavar=("A", "B"), help="show what changed from point A to point B")
    parser.add_argument("--explain", action="store_true",
                        help="say why the volume is as it is at --at POINT (default: now)")
    add_json_option(parser)
    add_store_option(parser)
    return parser


def main(argv: list[str] | None = None, prog: str = "pronghorn replay") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.explain and args.diff:
        parser.error("--explain explains one point: use it with --at, not --diff")
    if not (args.explain or args.at or args.diff):
        parser.error("one of the arguments --at --diff --explain is required")
    return run(prog, lambda: _replay(args))


def resolve_point(history: Timeline, text: str) -> int:
    """A position (digits) or an ISO time -> a position in ``history``."""
    text = text.strip()
    if text.isdigit():
        return history.check_position(int(text))
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            f"invalid point {text!r}: expected a position (e.g. 3) or an ISO time (e.g. 2026-11-25T21:50:00Z)",
            ExitCode.USAGE,
        ) from None
    return history.position_at(when)


def _replay(args: argparse.Namespace) -> int:
    with opened_store(args.store) as app:
        history = read_models.history(app, args.volume)
        if args.explain:
            position = resolve_point(history, args.at) if args.at is not None else history.length
            found = explain.explanation_at(app, history, position)
            print_json(explain.document(found)) if args.json else print(explain.render(found))
            return ExitCode.OK
        if args.at is not None:
            document = status_document(history, resolve_point(history, args.at))
            print_json(document) if args.json else print(render_status(document))
            return ExitCode.OK
        a, b = (resolve_point(history, point) for point in args.diff)
        if a > b:
            raise CommandError(
                f"--diff {args.diff[0]} {args.diff[1]}: the first point (position {a}) is after the second "
                f"(position {b}); give the earlier point first", ExitCode.USAGE)
        changes = diff(history.status_at(a), history.status_at(b))
        between = history.between(a, b)
        first, last = history.entry(a), history.entry(b)
    if args.json:
        print_json(
            {
                "volume": args.volume,
                "from": {"position": a, "timestamp": first.timestamp},
                "to": {"position": b, "timestamp": last.timestamp},
                "changes": [change_document(c) for c in changes],
                "events": [entry_document(e) for e in between],
            }
        )
        return ExitCode.OK
    print(f"volume {args.volume!r}: position {a} -> {b}")
    print(render_changes(changes))
    print()
    print(f"events after {a} up to {b}:" if between else "no events in between")
    if between:
        print(render_entries(between))
    return ExitCode.OK
