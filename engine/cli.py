"""``pronghorn engine``: run a volume's engine, or talk to a running one.

``serve`` runs the engine process (engine/serve.py); the other verbs call its
gRPC control API (engine/client.py) and print the reply (``--json`` for
machines). Dispatched from adapters/cli/main.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from replica.cli_args import parse_address, parse_size

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
def replica_address(text: str) -> str:
    host, port = parse_address(text)
    return f"{host}:{port}"


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Run a Pronghorn engine or talk to one.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    serve = verbs.add_parser("serve", help="run a volume's engine (NBD frontend + gRPC control)")
    serve.add_argument("--volume", required=True, help="volume name (the NBD export name)")
    serve.add_argument("--size", required=True, type=parse_size, help="volume size in bytes (suffixes K/M/G/T)")
    serve.add_argument("--replica", required=True, action="append", type=replica_address,
                       help="a replica's control address tcp://HOST:PORT (repeat per replica)")
    serve.add_argument("--nbd", default="127.0.0.1:0", type=parse_address, help="NBD HOST:PORT (0 = free port)")
    serve.add_argument("--nbd-socket", help="also serve NBD on this unix socket")
    serve.add_argument("--listen", default="127.0.0.1:0", type=parse_address,
                       help="gRPC control HOST:PORT (default 127.0.0.1:0 = free port)")
    serve.add_argument("--replica-timeout", default=8.0, type=float, help="seconds before a silent replica is ERR")
    serve.add_argument("--no-local-io", dest="local_io", action="store_false",
                       help="never read or write a same-machine replica's files directly: all I/O goes through "
                            "the replicas' sockets, where a hung disk is timed out (slower; see README)")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    def client_verb(name: str, help_text: str) -> argparse.ArgumentParser:
        p = verbs.add_parser(name, help=help_text)
        p.add_argument("--engine", required=True, type=replica_address, help="engine control HOST:PORT")
        p.add_argument("--json", action="store_true", help="print JSON")
        return p

    client_verb("status", "replicas, modes, size, revision, I/O counters")
    client_verb("snapshot", "take a snapshot on every replica").add_argument("name", nargs="?", default="")
    client_verb("snapshots", "list snapshots")
    client_verb("revert", "revert to a snapshot (frontend stopped)").add_argument("name")
    client_verb("rm-snapshot", "delete a snapshot (mark removed + purge)").add_argument("name")
    client_verb("expand", "grow the volume").add_argument("size", type=parse_size)
    client_verb("add-replica", "add a replica and rebuild it").add_argument("address", type=replica_address)
    client_verb("rm-replica", "remove a replica").add_argument("address", type=replica_address)
    client_verb("frontend-start", "start serving NBD")
    client_verb("frontend-stop", "stop serving NBD (disconnects clients)")
    return parser


def main(argv: list[str] | None = None, prog: str = "pronghorn engine") -> int:
    try:
        args = build_parser(prog).parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    if args.verb == "serve":
        return _serve(args, prog)
    return _client(args, prog)


def _serve(args: argparse.Namespace, prog: str) -> int:
    logging.basicConfig(stream=sys.stderr, level=args.log_level,
                        format="%(asctime)s engine[%(process)d] %(levelname)s %(name)s: %(message)s")
    from engine.errors import EngineError
    from engine.serve import EngineConfig, serve

    config = EngineConfig(args.volume, args.size, args.replica, args.nbd, args.nbd_socket, args.listen,
                          args.replica_timeout, args.local_io)
    try:
        serve(config)
    except (EngineError, OSError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _client(args: argparse.Namespace, prog: str) -> int:
    from engine.client import EngineClient, as_dict
    from engine.errors import EngineError

    calls: dict[str, Callable[[EngineClient], Any]] = {
        "status": lambda c: c.status(),
        "snapshot": lambda c: c.snapshot(args.name),
        "snapshots": lambda c: {"snapshots": [as_dict(s) for s in c.snapshots()]},
        "revert": lambda c: c.revert(args.name),
        "rm-snapshot": lambda c: c.delete_snapshot(args.name),
        "expand": lambda c: c.expand(args.size),
        "add-replica": lambda c: c.add_replica(args.address),
        "rm-replica": lambda c: c.remove_replica(args.address),
        "frontend-start": lambda c: c.frontend_start(),
        "frontend-stop": lambda c: c.frontend_stop(),
    }
    try:
        with EngineClient(args.engine) as client:
            reply = calls[args.verb](client)
    except EngineError as exc:
        print(f"{prog} {args.verb}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    data = reply if isinstance(reply, dict) else as_dict(reply)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        _print_human(args.verb, data)
    return EXIT_OK


def _print_human(verb: str, data: dict[str, Any]) -> None:
    if verb == "snapshots":
        for s in data["snapshots"]:
            flags = ("removed " if s["removed"] else "") + ("user" if s["user_created"] else "system")
            print(f"{s['name']}\tparent={s['parent'] or '-'}\t{flags}\t{s['created']}\tallocated={s['allocated']}")
        return
    if "replicas" in data:
        print(f"volume {data['volume']}: {data['state']}, {data['size']} bytes, revision {data['revision']}, "
              f"frontend {'on ' + data['nbd'] if data['frontend'] else 'off'}, {data.get('nbd_clients', 0)} NBD clients")
        for r in data["replicas"]:
            total = r["rebuild_bytes_total"]
            progress = f" {100 * r['rebuild_bytes_done'] // total}%" if total else ""
            print(f"  {r['address']}\t{r['mode']}{progress}\t{r['data_address']}\t{r['error']}")
        io = data["io"]
        print(f"  io: {io['reads']} reads ({io.get('direct_reads', 0)} direct), {io['writes']} writes "
              f"({io.get('direct_writes', 0)} direct, {io.get('overlapped_batches', 0)} batches overlapped), "
              f"{io['others']} other, {io['errors']} errors, "
              f"mean latency {io['mean_latency_us']:.1f} us")
        return
    for key, value in data.items():
        print(f"{key}: {value}")
