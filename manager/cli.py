"""``pronghorn up`` / ``pronghorn manager`` / ``pronghorn down``: run or stop the control plane.

    pronghorn up [--home DIR] [--nodes 3] [--api [HOST:PORT]]   a whole local cluster in one process
                 [--netns NODE=NAMESPACE ...] [--node-address NODE=IP ...]
    pronghorn manager --node NAME --address IP --store URL [--home DIR] [--api ...]
                                                 one node's manager (shared store)
    pronghorn down [--home DIR]                  stop every replica/engine process

``up`` registers nodes node1..nodeN (directories under ``DIR/nodes``, addresses
127.0.1.N unless ``--node-address`` says otherwise; a node given ``--netns`` runs its
processes in that network namespace), keeps events in ``DIR/events.sqlite`` and reconciles until SIGTERM or
Ctrl-C. Stopping the manager leaves the volumes' engine and replica processes
running (attached volumes keep serving); the next ``up`` re-adopts them. ``down``
stops them. With ``manager`` on PostgreSQL, each node's manager runs its own node's
processes and the one holding the advisory lock (``manager.leadership``) also makes
the cluster-wide decisions. Before touching a node, a manager takes its lease on the store
(``manager.node_lease``): a second manager of the node exits 4 naming the first; while it
runs, ``manager.node_presence`` heartbeats and keeps its nodes Ready and their disks checked.
Dispatched from adapters/cli/main.py (verbs ``up``, ``manager``, ``down``).
"""

from __future__ import annotations

import argparse
import fcntl
import ipaddress
import logging
import os
import signal
import sys
from pathlib import Path
from typing import IO

from adapters.cli.command import add_store_option, make_parser, opened_store, run
from adapters.cli.errors import CommandError, ExitCode
from adapters.cli.volumes import size_argument
from adapters.rest.cli import TOKEN_HELP, api_token, listen_address
from adapters.rest.server import DEFAULT_HOST, DEFAULT_PORT
from domain.application import ControlPlane
from domain.store import DEFAULT_HOME, HOME_ENV
from manager.background import background_services
from manager.leadership import Leadership
from manager.local_cluster import NodeLayout, local_cluster, node_name, node_setup, store_url
from manager.loop import DEFAULT_INTERVAL_S, ControlLoop
from manager.netns import NamespaceError, NetworkNamespace
from manager.node_lease import Holder, LeaseHeld, NodeLeases, node_leases
from manager.node_presence import DEFAULT_NODE_TIMEOUT_S, NodePresence
from manager.replenishment import DEFAULT_REPLENISHMENT_WAIT_S, ReplicaPolicy
from manager.supervisor import Supervisor

MAX_NODES = 50
LOCK_FILE = "manager.lock"


def _home(text: str | None) -> Path:
    home = Path(text or os.environ.get(HOME_ENV, "").strip() or DEFAULT_HOME).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def build_parser(prog: str, verb: str) -> argparse.ArgumentParser:
    descriptions = {
        "up": "Run a local cluster (nodes = directories + loopback addresses) in one process.",
        "manager": "Run one node's manager against a shared event store.",
        "down": "Stop every engine and replica process of a local cluster's nodes.",
    }
    parser = make_parser(prog, descriptions[verb])
    parser.add_argument("--home", metavar="DIR", help=f"cluster directory (default: ${HOME_ENV}, else {DEFAULT_HOME})")
    if verb != "down":
        parser.add_argument("--api", nargs="?", const=(DEFAULT_HOST, DEFAULT_PORT), type=listen_address,
                            metavar="HOST:PORT", help="also serve the REST API (default address 127.0.0.1:9500; port 0 = any free one)")
        parser.add_argument("--api-token-file", metavar="FILE", help=TOKEN_HELP)
    if verb == "up":
        parser.add_argument("--nodes", type=int, default=3, metavar="N", help="number of nodes (default 3)")
        parser.add_argument("--netns", action="append", default=[], type=_node_setting, metavar="NODE=NAMESPACE",
                            help="run NODE's replica and engine processes in an existing network namespace "
                            "('ip netns exec NAMESPACE'); NODE listens on the namespace's first IPv4 address "
                            "unless --node-address gives one. The other nodes must listen on addresses routed "
                            "into the namespace (--node-address), not 127.0.1.N. Repeatable")
        parser.add_argument("--node-address", action="append", default=[], type=_node_setting, metavar="NODE=IP",
                            help="address NODE's processes listen on (default 127.0.1.N). Repeatable")
    if verb == "manager":
        parser.add_argument("--node", required=True, metavar="NAME", help="this node's name")
        parser.add_argument("--address", default="127.0.0.1", metavar="IP", help="address its processes listen on")
        add_store_option(parser)
    if verb != "down":
        parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_S, metavar="SECONDS",
                            help="seconds between full reconcile passes (default 2)")
        parser.add_argument("--launcher", action=argparse.BooleanOptionalAction, default=True,
                            help="fork replica and engine processes from a per-node launcher that has their "
                            "code loaded (default); --no-launcher starts each as a new `pronghorn` process")
        parser.add_argument("--rebuilds-per-node", type=int, default=5, metavar="N",
                            help="concurrent replica rebuilds per node (default 5)")
        parser.add_argument("--rebuild-rate-limit", type=size_argument, default=0, metavar="BYTES",
                            help="cap the bytes/s a rebuild pulls over the network into each replica it "
                                 "started, e.g. 100Mi (default: no cap)")
        parser.add_argument("--replica-timeout", type=float, default=None, metavar="SECONDS",
                            help="engines started here turn a replica that stays silent this long ERR "
                            "(default: the engine's, 8)")
        parser.add_argument("--no-local-io", dest="local_io", action="store_false",
                            help="engines started here never read or write a same-machine replica's files "
                                 "directly (all I/O through the replicas' sockets, where a hung disk is timed "
                                 "out; slower)")
        parser.add_argument("--node-timeout", type=float, default=DEFAULT_NODE_TIMEOUT_S, metavar="SECONDS",
                            help="the leader marks a node NotReady (and places no replica there) when its "
                            f"manager has not heartbeated this long (default {DEFAULT_NODE_TIMEOUT_S:.0f}); "
                            "at once when that manager stopped")
        parser.add_argument("--replica-replenishment-wait", type=float, default=DEFAULT_REPLENISHMENT_WAIT_S,
                            metavar="SECONDS", help="how long a failed replica may take to come back before a "
                            f"new one is placed elsewhere (default {DEFAULT_REPLENISHMENT_WAIT_S:.0f})")
    parser.epilog = ("Exit codes: 0 ok, 2 bad arguments (--api outside loopback without --api-token-file), "
                     "4 a manager already runs on DIR or for one of the nodes on this store (or lost a node to "
                     "another one), 7 store unavailable.")
    return parser


def main(argv: list[str] | None = None, prog: str = "pronghorn up") -> int:
    verb = prog.rsplit(" ", 1)[-1]
    args = build_parser(prog, verb).parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s manager[%(process)d] %(levelname)s %(name)s: %(message)s")
    return run(prog, lambda: _run(verb, args))


def _node_setting(text: str) -> tuple[str, str]:
    node, sep, value = text.partition("=")
    if not sep or not node or not value:
        raise argparse.ArgumentTypeError(f"expected NODE=VALUE, got {text!r}")
    return node, value


def _layout(args: argparse.Namespace) -> NodeLayout:
    """The nodes' addresses and namespaces from ``--node-address`` and ``--netns``, checked."""
    names = {node_name(i) for i in range(1, args.nodes + 1)}
    for option, settings in (("--netns", args.netns), ("--node-address", args.node_address)):
        for node, _ in settings:
            if node not in names:
                raise CommandError(f"{option}: no node {node!r} (the nodes are node1..node{args.nodes})",
                                   ExitCode.USAGE)
    for _node, address in args.node_address:
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            raise CommandError(f"--node-address: {address!r} is not an IPv4 address", ExitCode.USAGE) from None
    namespaces = {node: NetworkNamespace(name) for node, name in args.netns}
    layout = NodeLayout(dict(args.node_address), namespaces, args.replica_timeout)
    try:
        for netns in namespaces.values():
            netns.check()
        for i in range(1, args.nodes + 1):
            layout.address(i)
    except NamespaceError as exc:
        raise CommandError(f"--netns: {exc}", ExitCode.USAGE) from None
    return layout


def _lock(home: Path) -> IO[bytes]:
    """Hold ``home/manager.lock`` for the process's life: one manager (or ``down``) per directory.
    The file names its holder, for the refusal."""
    handle = open(home / LOCK_FILE, "a+b")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = Holder.parse(handle.read().decode(errors="replace"))
        handle.close()
        who = f" ({holder.describe()})" if holder else ""
        raise CommandError(f"a manager is already running on {home}{who}; stop it first", ExitCode.CONFLICT) from None
    handle.truncate(0)
    handle.write(Holder.this_process(home).dump().encode())
    handle.flush()
    return handle


def _run(verb: str, args: argparse.Namespace) -> int:
    token = api_token(args.api, args.api_token_file) if verb != "down" else None
    home = _home(args.home)
    lock = _lock(home)
    try:
        return _run_locked(verb, args, home, token)
    finally:
        lock.close()


def _run_locked(verb: str, args: argparse.Namespace, home: Path, token: bytes | None) -> int:
    if verb == "down":
        for directory in sorted((home / "nodes").glob("*")):
            if (directory / "instances.json").exists():
                Supervisor(directory.name, directory, "127.0.0.1").stop_all()
        return ExitCode.OK
    if verb == "up" and not 1 <= args.nodes <= MAX_NODES:
        raise CommandError(f"--nodes must be between 1 and {MAX_NODES}", ExitCode.USAGE)
    if args.interval <= 0 or args.rebuilds_per_node < 1 or args.replica_replenishment_wait < 0 \
            or (args.replica_timeout is not None and args.replica_timeout <= 0) or args.node_timeout <= 0:
        raise CommandError("--interval, --rebuilds-per-node, --replica-timeout and --node-timeout must be "
                           "positive, --replica-replenishment-wait not negative", ExitCode.USAGE)
    layout = _layout(args) if verb == "up" else None
    url = store_url(home) if verb == "up" else args.store
    names = [node_name(i) for i in range(1, args.nodes + 1)] if verb == "up" else [args.node]
    holder = Holder.this_process(home)
    leases = node_leases(url, holder)
    with opened_store(url) as app:
        try:
            leases.acquire(names)  # one manager per node per store, before touching the nodes
        except LeaseHeld as exc:
            raise CommandError(str(exc), ExitCode.CONFLICT) from None
        try:
            return _serve(verb, args, home, layout, app, leases, holder, token)
        finally:
            leases.release()


def _serve(verb: str, args: argparse.Namespace, home: Path, layout: NodeLayout | None, app: ControlPlane,
           leases: NodeLeases, holder: Holder, token: bytes | None) -> int:
    url = store_url(home) if verb == "up" else args.store
    if layout is not None:
        supervisors = local_cluster(app, home, args.nodes, layout, args.launcher)
    else:
        supervisors = {args.node: node_setup(app, home, args.node, args.address,
                                             replica_timeout=args.replica_timeout, launcher=args.launcher)}
    for sup in supervisors.values():
        sup.sync_rate_limit = args.rebuild_rate_limit
        sup.local_io = args.local_io
    policy = ReplicaPolicy(replenishment_wait=args.replica_replenishment_wait)
    leadership = Leadership.for_store(url, sorted(supervisors)[0])
    loop = ControlLoop(app, supervisors, args.interval, args.rebuilds_per_node, policy, leadership)
    presence = NodePresence(app, leases, sorted(supervisors), holder, leadership, args.node_timeout,
                            on_lost=lambda _: loop.stop.set())
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _: loop.stop_by(signal.Signals(signum).name))
    presence.start()  # this manager's nodes are Ready, their disks checked
    if verb == "up":
        print(_next_steps(home, sorted(supervisors)), flush=True)
    # Jobs run on every manager: a fire time is recorded once (the job aggregate's version
    # serialises racing schedulers), so no leader is needed for them.
    with background_services(app, args.api, jobs=True, token=token) as api_url:
        if api_url:
            print(f"REST API on {api_url} (OpenAPI: {api_url}/openapi.json)", flush=True)
        try:
            loop.run()
        finally:
            presence.close()
            for supervisor in supervisors.values():
                supervisor.close()
    if presence.lost is not None:
        raise CommandError(f"stopped: {presence.lost}", ExitCode.CONFLICT)
    return ExitCode.OK


def _next_steps(home: Path, nodes: list[str]) -> str:
    return "\n".join([
        f"pronghorn: local cluster up: nodes {', '.join(nodes)}; events in {home / 'events.sqlite'}",
        "In another terminal:",
        f"  export {HOME_ENV}={home}",
        "  pronghorn volume create vol1 --size 1Gi --replicas 3",
        f"  pronghorn volume attach vol1 --node {nodes[0]} --wait",
        "  pronghorn volume get vol1 --json        # endpoint: nbd://...",
        "Ctrl-C stops the manager; volumes keep serving. 'pronghorn down' stops their processes.",
    ])
