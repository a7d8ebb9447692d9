"""``pronghorn volume``: create, list, inspect, expand and delete volumes.

    pronghorn volume create NAME --size 1Gi --replicas 3 [--data-locality ...]
    pronghorn volume ls [--json]
    pronghorn volume get NAME [--json]
    pronghorn volume expand NAME --size 2Gi [--wait [--timeout S]]
    pronghorn volume delete NAME [--wait [--timeout S]] [--force]
    pronghorn volume attach|detach|mount|umount ...  (adapters.cli.attachments)

Called by the dispatcher (adapters.cli.main). Commands go through
``domain.services``: ``create`` is ``Volumes.provision`` (volume, placed
replicas and their disk bookings in one transaction; nothing is written when
no placement exists); ``delete`` records the deletion started (``deleting``; a
volume without replicas is deleted at once): each node's manager stops its
replicas, removes their directories and records them removed, the last one
finishing the deletion (``manager.deletion``); ``--wait`` polls until then.
``--force`` records every replica removed at once (a node whose manager is gone
for good; its leftovers are collected if it comes back). ``get`` and ``ls`` read the persisted volume status view
(``projections.read_models``, caught up first): the same document ``pronghorn replay VOLUME --at N`` prints for a
past position.
"""

from __future__ import annotations

import argparse
from typing import Any

from adapters.cli import attachments, expansion
from adapters.cli.command import add_json_option, add_store_option, add_verbs, make_parser, opened_store, run
from adapters.cli.errors import CommandError, ExitCode
from adapters.cli.history_view import render_status, status_document_of
from adapters.cli.output import print_json, render_table
from adapters.cli.sizes import SizeError, format_size, parse_size
from adapters.cli.waiting import add_wait_options, wait_until
from domain.application import ControlPlane
from domain.services import Replicas, Volumes
from domain.values import DataLocality, Frontend, VolumeState
from projections import read_models
from projections.volume_status import VolumeStatus

EPILOG = (
    "Exit codes: 0 ok, 2 bad arguments or values, 3 unknown volume, 4 volume exists (or existed: names of "
    "deleted volumes are not reused), 5 not allowed in the volume's state (or a mounted filesystem could not "
    "grow with it), 6 replicas could not be placed or grown, 7 store unavailable, 8 timed out waiting."
)


def size_argument(text: str) -> int:
    try:
        return parse_size(text)
    except SizeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _sub(verbs: Any, name: str, help_text: str, *, json: bool = True) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = verbs.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
    parser.epilog = EPILOG
    if name != "ls":
        parser.add_argument("name", metavar="NAME", help="volume name")
    if json:
        add_json_option(parser)
    add_store_option(parser)
    return parser


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = make_parser(prog, "Create, list, inspect, expand and delete volumes.")
    parser.epilog = EPILOG
    verbs = add_verbs(parser)

    create = _sub(verbs, "create", "create a volume and place its replicas")
    create.add_argument("--size", required=True, type=size_argument, help="size, e.g. 1Gi, 512Mi, 4096 (multiple of 4096)")
    create.add_argument("--replicas", type=int, default=3, metavar="N", help="number of replicas, 1..10 (default 3)")
    create.add_argument("--data-locality", choices=[d.value for d in DataLocality], default=DataLocality.DISABLED.value)
    create.add_argument("--frontend", choices=[f.value for f in Frontend], default=Frontend.NBD.value)
    create.add_argument("--stale-replica-timeout", type=int, metavar="SECONDS", help="seconds before an ERR replica is cleaned up")
    create.add_argument("--node-selector", action="append", default=[], metavar="TAG", help="only nodes with this tag (repeatable)")
    create.add_argument("--disk-selector", action="append", default=[], metavar="TAG", help="only disks with this tag (repeatable)")

    _sub(verbs, "ls", "list volumes (not deleted)")
    _sub(verbs, "get", "show a volume's status")
    expand = _sub(verbs, "expand", "grow a volume")
    expand.add_argument("--size", required=True, type=size_argument, help="new size (larger than the current one)")
    add_wait_options(expand, "the engine serves the new size, then grow the ext4/xfs filesystems mounted "
                             "from it here with 'volume mount'")
    delete = _sub(verbs, "delete", "delete a volume (the managers stop its replicas and remove their data)")
    add_wait_options(delete, "the volume is deleted, then print it")
    delete.add_argument("--force", action="store_true",
                        help="record the replicas removed now, without waiting for their nodes' managers "
                             "(for nodes gone for good)")
    for name, text in (("attach", "serve a volume on a node (see 'attach --help')"),
                       ("detach", "stop serving a volume"), ("mount", "mount an attached volume"),
                       ("umount", "unmount a volume")):
        verbs.add_parser(name, help=text, add_help=False)
    return parser


def main(argv: list[str] | None = None, prog: str = "pronghorn volume") -> int:
    if argv and argv[0] in attachments.VERBS:
        return attachments.main(argv, prog)
    args = build_parser(prog).parse_args(argv)
    return run(f"{prog} {args.verb}", lambda: _run(args))


def volume_summary(volume: VolumeStatus) -> dict[str, Any]:
    """One row of ``volume ls`` (and ``GET /v1/volumes``), from the volume's status."""
    return {
        "name": volume.name,
        "size": volume.size,
        "number_of_replicas": volume.number_of_replicas,
        "state": volume.state,
        "robustness": volume.robustness,
        "data_locality": volume.data_locality,
        "frontend": volume.frontend,
        "version": volume.version,
    }


def _run(args: argparse.Namespace) -> int:
    with opened_store(args.store) as app:
        volumes = Volumes(app)
        if args.verb == "ls":
            summaries = list_summaries(app)
            if args.json:
                print_json(summaries)
            else:
                rows = [
                    (s["name"], format_size(s["size"]), s["number_of_replicas"], s["state"], s["robustness"],
                     s["data_locality"], s["frontend"])
                    for s in summaries
                ]
                print(render_table(["NAME", "SIZE", "REPLICAS", "STATE", "ROBUSTNESS", "LOCALITY", "FRONTEND"], rows))
            return ExitCode.OK
        if args.verb == "create":
            spec: dict[str, Any] = {
                "data_locality": args.data_locality,
                "frontend": args.frontend,
                "node_selector": args.node_selector,
                "disk_selector": args.disk_selector,
            }
            if args.stale_replica_timeout is not None:
                spec["stale_replica_timeout"] = args.stale_replica_timeout
            volumes.provision(args.name, args.size, args.replicas, **spec)
        elif args.verb == "expand":
            for growth in expansion.expand(volumes, args.name, args.size, args.timeout if args.wait else None):
                if not args.json:
                    print(expansion.describe(growth))
        elif args.verb == "delete":
            _delete(app, args.name, args.force, args.timeout if args.wait else None)
        _print_status(app, args.name, args.json)
    return ExitCode.OK


def list_summaries(app: ControlPlane) -> list[dict[str, Any]]:
    """Summaries of the volumes not deleted (the catalog's names), sorted by name."""
    found = read_models.statuses(app, Volumes(app).names())
    return [volume_summary(found[name]) for name in sorted(found) if found[name].state != VolumeState.DELETED]


def current_status(app: ControlPlane, name: str) -> dict[str, Any]:
    """The volume's status document now, from the status view (VolumeNotFound for an unknown name)."""
    found = read_models.statuses(app, [name]).get(name)
    if found is None:
        Volumes(app).get(name)  # VolumeNotFound; a volume without a status yet cannot be, but say so if it is
        raise CommandError(f"volume {name!r} has no status yet")
    return status_document_of(found)


def _delete(app: ControlPlane, name: str, force: bool, wait: float | None) -> None:
    volume = Volumes(app).delete(name)
    if force:
        for replica in sorted(volume.replicas):
            Replicas(app).remove(name, replica)
    if wait is not None:
        wait_until(lambda: Volumes(app).get(name).state == VolumeState.DELETED, wait,
                   lambda: f"volume {name!r} still deleting after {wait:g}s, replicas left: "
                           f"{', '.join(sorted(Volumes(app).get(name).replicas))} (are their nodes' managers "
                           f"running? 'pronghorn volume delete {name} --force' gives up on them)")


def _print_status(app: ControlPlane, name: str, as_json: bool) -> None:
    document = current_status(app, name)
    print_json(document) if as_json else print(render_status(document))
