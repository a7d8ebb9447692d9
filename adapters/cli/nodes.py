"""``pronghorn node``: register storage nodes and look at them.

    pronghorn node add NAME --address HOST --zone Z --disk PATH:CAPACITY [--disk ...] [--tag T]
    pronghorn node ls [--json]
    pronghorn node get NAME [--json]
    pronghorn node rm NAME              refused while replicas live there or volumes are attached there

Called by the dispatcher (adapters.cli.main); commands go through
``domain.services.Nodes`` on the store named by ``--store``.
"""

from __future__ import annotations

import argparse
from typing import Any

from adapters.cli.command import add_json_option, add_store_option, add_verbs, make_parser, opened_store, run
from adapters.cli.errors import ExitCode
from adapters.cli.output import print_json, render_fields, render_table
from adapters.cli.sizes import SizeError, format_size, parse_size
from domain.node import Node
from domain.services import Nodes
from domain.values import Disk

EPILOG = ("Exit codes: 0 ok, 2 bad arguments or values, 3 unknown node, 4 node exists, "
          "5 replicas live there or volumes are attached there (rm), 7 store unavailable.")


def parse_disk(text: str) -> Disk:
    """``/var/lib/pronghorn:100Gi`` -> Disk(path, capacity); argparse turns ValueError into a usage error."""
    path, sep, capacity = text.rpartition(":")
    if not sep or not path or not capacity:
        raise argparse.ArgumentTypeError(f"invalid disk {text!r} (expected PATH:CAPACITY, e.g. /data:100Gi)")
    try:
        return Disk(path=path, capacity=parse_size(capacity))
    except SizeError as exc:
        raise argparse.ArgumentTypeError(f"invalid disk {text!r}: {exc}") from None


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = make_parser(prog, "Register and list storage nodes.")
    parser.epilog = EPILOG
    verbs = add_verbs(parser)

    add = verbs.add_parser("add", help="register a node with its disks", description="Register a storage node.")
    add.add_argument("name", metavar="NAME", help="node name (lower-case letters, digits, '-')")
    add.add_argument("--address", required=True, metavar="IP",
                     help="IP address replicas on this node listen on (not a host name)")
    add.add_argument("--zone", default="", metavar="Z", help="failure zone (for zone anti-affinity)")
    add.add_argument(
        "--disk", action="append", type=parse_disk, default=[], metavar="PATH:CAPACITY",
        help="a disk: absolute directory (not / nor a system directory such as /etc or /usr) and capacity, "
             "e.g. /data:100Gi (repeatable)",
    )
    add.add_argument("--tag", action="append", default=[], metavar="T", help="node tag (repeatable)")
    add_json_option(add)
    add_store_option(add)
    add.epilog = EPILOG

    ls = verbs.add_parser("ls", help="list nodes", description="List registered nodes.")
    add_json_option(ls)
    add_store_option(ls)
    ls.epilog = EPILOG

    get = verbs.add_parser("get", help="show one node", description="Show one node and its disks.")
    rm = verbs.add_parser("rm", help="unregister a node", description="Unregister a node (refused while "
                          "replicas live there or volumes are attached there; 'node add' brings it back).")
    for sub in (get, rm):
        sub.add_argument("name", metavar="NAME", help="node name")
        add_json_option(sub)
        add_store_option(sub)
        sub.epilog = EPILOG
    return parser


def main(argv: list[str] | None = None, prog: str = "pronghorn node") -> int:
    args = build_parser(prog).parse_args(argv)
    return run(f"{prog} {args.verb}", lambda: _run(args))


def node_document(node: Node) -> dict[str, Any]:
    return {
        "name": node.name,
        "address": node.address,
        "zone": node.zone,
        "tags": list(node.tags),
        "schedulable": node.schedulable,
        "ready": node.ready,
        "ready_reason": str(node.ready_reason),
        "ready_message": node.ready_message,
        "disks": [
            {
                "path": disk.path,
                "capacity": disk.capacity,
                "reserved": disk.reserved,
                "scheduled": node.scheduled_bytes(path),
                "tags": list(disk.tags),
                "schedulable": disk.schedulable,
                "confirmed": node.disk_confirmed(path),
                "problem": dict(node.disk_problems).get(path, ""),
            }
            for path, disk in sorted(node.disks.items())
        ],
        "unknown_directories": list(node.unknown_directories),  # under replicas/, left alone by the manager
        "version": node.version,
    }


def _run(args: argparse.Namespace) -> int:
    with opened_store(args.store) as app:
        nodes = Nodes(app)
        if args.verb == "add":
            documents = [node_document(nodes.add(args.name, args.address, args.zone, args.tag, args.disk))]
        elif args.verb == "get":
            documents = [node_document(nodes.get(args.name))]
        elif args.verb == "rm":
            nodes.remove(args.name)
            documents = [{"name": args.name, "deleted": True}]
        else:
            documents = [node_document(node) for node in nodes.list()]
    if args.json:
        print_json(documents if args.verb == "ls" else documents[0])
    elif args.verb == "ls":
        print(render_table(["NAME", "ADDRESS", "ZONE", "READY", "SCHEDULABLE", "DISKS", "CAPACITY", "SCHEDULED", "TAGS"],
                           [_row(d) for d in documents]))
    else:
        print(render_fields(documents[0]))
    return ExitCode.OK


def _row(document: dict[str, Any]) -> tuple[Any, ...]:
    disks = document["disks"]
    return (
        document["name"], document["address"], document["zone"] or None, document["ready"],
        document["schedulable"], len(disks),
        format_size(sum(d["capacity"] for d in disks)), format_size(sum(d["scheduled"] for d in disks)),
        document["tags"],
    )
