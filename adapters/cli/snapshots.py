"""``pronghorn snapshot``: request, list, remove and revert a volume's snapshots.

    pronghorn snapshot create VOLUME [NAME] [--label K=V ...] [--wait]
    pronghorn snapshot ls VOLUME [--json]       SIZE: bytes the snapshot's layer holds
    pronghorn snapshot rm VOLUME NAME
    pronghorn snapshot revert VOLUME NAME [--force] [--wait]

``create`` and ``revert`` record intents on the volume's ``SnapshotChain``; the
manager carries them out through the engine while the volume is attached (a
revert stops and restarts the frontend itself) and records the outcome; ``--wait``
polls the store until it did. A revert rewrites data under the frontend: it is
refused at once (exit 5) while the volume is mounted through ``pronghorn volume
mount`` on this host or its engine has NBD clients (``adapters.cli.frontend_use``),
and the manager refuses it too if clients connected meanwhile (``--wait`` then
exits 5); ``--force`` overrides. ``rm`` marks the snapshot removed; the manager
purges it from the replicas. Dispatched from adapters/cli/main.py.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from adapters.cli.command import add_json_option, add_store_option, add_verbs, make_parser, opened_store, run
from adapters.cli.errors import CommandError, ExitCode
from adapters.cli.output import print_json, render_table
from adapters.cli.sizes import format_usage
from adapters.cli.waiting import add_wait_options, wait_until
from domain.frontend_use import IDLE
from domain.services import Snapshots, Volumes

EPILOG = ("Exit codes: 0 ok, 1 the manager could not do it, 2 bad arguments, 3 unknown volume or snapshot, "
          "4 snapshot exists, 5 not allowed in the volume's state (revert: in use; --force overrides), "
          "7 store unavailable, 8 timed out waiting.")
COLUMNS = ("name", "parent", "created", "user_created", "removed", "size", "labels")


def label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"invalid label {text!r} (expected KEY=VALUE)")
    return key, value


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = make_parser(prog, "Request, list, remove and revert snapshots of a volume.")
    verbs = add_verbs(parser)
    create = verbs.add_parser("create", help="request a snapshot (taken by the manager while attached)")
    create.add_argument("volume", metavar="VOLUME")
    create.add_argument("name", metavar="NAME", nargs="?", default="", help="default: snap-<UTC time>")
    create.add_argument("--label", action="append", type=label, default=[], metavar="K=V")
    ls = verbs.add_parser("ls", help="list a volume's snapshots")
    ls.add_argument("volume", metavar="VOLUME")
    add_json_option(ls)
    rm = verbs.add_parser("rm", help="remove a snapshot (the manager purges it from the replicas)")
    revert = verbs.add_parser("revert", help="revert the volume's data to a snapshot")
    for sub in (rm, revert):
        sub.add_argument("volume", metavar="VOLUME")
        sub.add_argument("name", metavar="NAME")
    revert.add_argument("--force", action="store_true",
                        help="revert even while the volume is mounted or has NBD clients (they see the data change)")
    for sub in (create, revert):
        add_wait_options(sub, "the manager has done it")
    for sub in (create, ls, rm, revert):
        add_store_option(sub)
        sub.epilog = EPILOG
    return parser


def main(argv: list[str] | None = None, prog: str = "pronghorn snapshot") -> int:
    args = build_parser(prog).parse_args(argv)
    return run(f"{prog} {args.verb}", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    with opened_store(args.store) as app:
        snapshots = Snapshots(app)
        volume = Volumes(app).get(args.volume)  # VolumeNotFound for an unknown name
        if args.verb == "ls":
            rows = [{**{c: getattr(s, c) for c in COLUMNS}, "created": s.created.isoformat()}
                    for s in snapshots.list(args.volume)]
            if args.json:
                print_json(rows)  # size in bytes
            else:
                shown = [{**r, "size": format_usage(r["size"])} for r in rows]
                print(render_table([c.upper() for c in COLUMNS], [[r[c] for c in COLUMNS] for r in shown]))
            return ExitCode.OK
        if args.verb == "create":
            name = args.name or "snap-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            snapshots.request(args.volume, name, dict(args.label))
            done = lambda: name in snapshots.chain(args.volume).snapshots  # noqa: E731
            failed = lambda: name not in snapshots.chain(args.volume).requests  # noqa: E731
        elif args.verb == "rm":
            snapshots.mark_removed(args.volume, args.name)
            name = args.name
            done = failed = lambda: True  # noqa: E731
        else:
            from adapters.cli.frontend_use import frontend_use  # loads gRPC: only here

            use = IDLE if args.force else frontend_use(volume)
            snapshots.request_revert(args.volume, args.name, use, args.force)
            name = args.name
            done = lambda: not snapshots.chain(args.volume).revert_request  # noqa: E731
            failed = lambda: False  # noqa: E731
        if getattr(args, "wait", False):
            def finished() -> bool:
                if done():
                    return True
                if failed():
                    raise CommandError(f"the manager could not {args.verb} snapshot {name!r} "
                                       f"(see 'pronghorn events {args.volume}')")
                return False

            wait_until(finished, args.timeout, lambda: f"snapshot {name!r}: not done after {args.timeout:g}s "
                                                        "(is the volume attached and the manager running?)")
            refusal = snapshots.chain(args.volume).revert_refusal if args.verb == "revert" else ""
            if refusal:
                raise CommandError(refusal, ExitCode.INVALID_STATE)
        print(name)
    return ExitCode.OK
