"""``pronghorn replica``: run a replica process (gRPC control + binary data server).

``pronghorn replica info --replica HOST:PORT [--json]`` shows a running replica.
``pronghorn replica serve --dir DIR --size BYTES --listen HOST:PORT`` opens (or
creates) the chain in DIR, serves data on PORT+1 (or ``--data-listen`` /
``--data-socket``) and control on PORT, prints one JSON ready line on stdout
and logs to stderr. SIGTERM/SIGINT: clean shutdown (flush, revision counter).
The process holds ``DIR/replica.lock`` (flock) while it runs: a second replica process
on the same directory exits with code 4 and names the first one's pid.
Dispatched from adapters/cli/main.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import logging
import os
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path
from typing import IO

import grpc

from proto import replica_pb2_grpc as pb_grpc
from replica.chain import SparseFileChain
from replica.cli_args import parse_address, parse_size
from replica.control_client import ControlClient
from replica.control_service import ReplicaControlService
from replica.data_server import DataServer
from replica.errors import ReplicaError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFLICT = 4
LOCK_FILE = "replica.lock"
MAX_MESSAGE = 64 * 1024 * 1024
GRPC_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE), ("grpc.max_receive_message_length", MAX_MESSAGE)]

log = logging.getLogger("pronghorn.replica")


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Run a Pronghorn replica process.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    serve = verbs.add_parser("serve", help="serve a replica directory (data + gRPC control)")
    serve.add_argument("--dir", required=True, type=Path, help="replica directory (created if missing)")
    serve.add_argument("--size", required=True, type=parse_size, help="volume size in bytes (suffixes K/M/G/T)")
    serve.add_argument("--listen", default="127.0.0.1:0", type=parse_address,
                       help="gRPC control HOST:PORT (default 127.0.0.1:0 = free port)")
    serve.add_argument("--data-listen", type=parse_address,
                       help="data server HOST:PORT (default: control PORT+1, or a free port if PORT is 0)")
    serve.add_argument("--data-socket", type=Path, help="also serve data on this unix socket")
    serve.add_argument("--sync-rate-limit", type=parse_size, default=None, metavar="BYTES",
                       help="cap the network rate of a rebuild pulling into this replica, bytes/s (e.g. 100M)")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    info = verbs.add_parser("info", help="show a running replica's size, revision and snapshot chain")
    info.add_argument("--replica", required=True, metavar="HOST:PORT", help="the replica's gRPC control address")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def main(argv: list[str] | None = None, prog: str = "pronghorn replica") -> int:
    try:
        args = build_parser(prog).parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    if args.verb == "info":
        return show_info(args.replica, args.json, prog)
    logging.basicConfig(stream=sys.stderr, level=args.log_level,
                        format="%(asctime)s replica[%(process)d] %(levelname)s %(name)s: %(message)s")
    try:
        return serve(args)
    except DirectoryInUse as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_CONFLICT
    except (ValueError, OSError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def show_info(address: str, as_json: bool, prog: str) -> int:
    try:
        with ControlClient(address, timeout=10) as client:
            info = client.get_info()
    except ReplicaError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if as_json:
        print(json.dumps(dataclasses.asdict(info), indent=1))
        return EXIT_OK
    print(f"size {info.size}  revision {info.revision_counter}  data {info.data_address or info.data_socket}"
          f"{'  REBUILDING' if info.rebuilding else ''}")
    print(f"head {info.head}")
    for name in reversed(info.chain):
        snap = info.snapshot(name)
        if snap is not None:
            flags = ("user" if snap.user_created else "system") + (", removed" if snap.removed else "")
            print(f"  <- {name}  ({snap.created}, {flags})")
    others = [s.name for s in info.snapshots if s.name not in info.chain]
    if others:
        print(f"other snapshots: {', '.join(others)}")
    return EXIT_OK


class DirectoryInUse(Exception):
    """Another live replica process serves the directory."""


def lock_directory(directory: Path) -> IO[bytes]:
    """Hold ``directory/replica.lock`` for this process's life, or raise ``DirectoryInUse``."""
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / LOCK_FILE, "a+b")  # noqa: SIM115 - held until the process stops
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().decode(errors="replace").strip() or "unknown"
        handle.close()
        raise DirectoryInUse(f"{directory} is already served by another replica process (pid {holder})") from None
    handle.truncate(0)
    handle.write(str(os.getpid()).encode())
    handle.flush()
    return handle


def open_chain(directory: Path, size: int) -> SparseFileChain:
    chain = SparseFileChain.open_or_create(directory, size)
    if chain.size != size:
        chain.close()
        raise ValueError(f"{directory} holds a volume of {chain.size} bytes, not {size} (use Expand to grow it)")
    return chain


def serve(args: argparse.Namespace) -> int:
    lock = lock_directory(args.dir)
    try:
        return _serve_locked(args)
    finally:
        lock.close()


def _serve_locked(args: argparse.Namespace) -> int:
    chain = open_chain(args.dir, args.size)
    host, port = args.listen
    data_tcp = args.data_listen or (host, port + 1 if port else 0)
    try:
        data_server = DataServer(chain, data_tcp, args.data_socket)
    except OSError as exc:
        chain.close()
        raise OSError(f"cannot serve data on {data_tcp[0]}:{data_tcp[1]}: {exc.strerror or exc}") from None
    # no SO_REUSEPORT: a second replica must not silently share this port with a live one
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[*GRPC_OPTIONS, ("grpc.so_reuseport", 0)])
    try:
        control_port = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # grpc raises on a port in use
        control_port = 0
    if control_port == 0:
        data_server.stop()
        chain.close()
        raise OSError(f"cannot listen on {host}:{port} (address in use?)")
    data_address = data_server.tcp_address or ""
    data_socket = os.fspath(args.data_socket) if args.data_socket else ""
    pb_grpc.add_ReplicaControlServicer_to_server(
        ReplicaControlService(chain, data_address, data_socket, args.sync_rate_limit or 0, host), server)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    data_server.start()
    server.start()
    ready = {"event": "ready", "control": f"{host}:{control_port}", "data": data_address, "pid": os.getpid()}
    if data_socket:
        ready["data_socket"] = data_socket
    print(json.dumps(ready), flush=True)
    log.info("serving %s (size %d, revision %d)", args.dir, chain.size, chain.revision)
    while not stop.wait(0.5):  # a timed wait: the main thread runs Python signal handlers even when
        pass  # the kernel delivered SIGTERM to another thread (seen after SIGSTOP/SIGCONT)
    log.info("shutting down")
    server.stop(grace=1).wait()
    data_server.stop()
    chain.close()
    log.info("stopped; revision %d persisted", chain.revision)
    return EXIT_OK
