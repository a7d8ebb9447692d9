"""The per-node launcher (a zygote): imports the replica and engine code once, then forks
one child per instance on request, so an instance starts without an interpreter start
and ~0.7 s of imports (grpc, protobuf, pydantic).

Started by manager/launcher.py as ``python -P -m manager.launcher_process --fd N``; fd N
is its end of a ``SOCK_SEQPACKET`` socket pair with the manager (no path: nobody else
can ask it for processes, and end-of-file there means the manager is gone, so the
launcher exits with it). Messages are JSON:

- launcher -> manager, once: ``{"ready": PID}`` after the imports and a self-test that
  this kernel lets a child set its command line (else ``{"error": ...}`` and exit 1);
- manager -> launcher: ``{"cmdline": [...], "args": [...]}`` with three file
  descriptors attached (the child's stdin, stdout, stderr);
- launcher -> manager: ``{"pid": N}`` once the child runs under its own command line,
  or ``{"error": "..."}``.

The child ``setsid()``s (it outlives the launcher and the manager, exactly like a
spawned process), takes the three descriptors as 0/1/2, restores default signal
handling, sets /proc/PID/cmdline to ``cmdline`` (manager/process_title.py: the
supervisor adopts and matches processes by it), confirms, then runs the ``pronghorn``
dispatcher (adapters/cli/main.py) on ``args`` and exits with its code through
``os._exit`` (after flushing stdio and logging; the replica and engine close their
files before ``main`` returns), never unwinding into the launcher's code. The launcher
stays single-threaded and creates no gRPC object: forking a process whose gRPC core
runs is unsafe, but gRPC only initialises its core (and threads) with the first
channel or server, which each child creates for itself, so no fork support
(``GRPC_ENABLE_FORK_SUPPORT``) is needed; the launcher checks it has one thread
before it serves. It reaps its children on SIGCHLD.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import logging
import os
import select
import signal
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

from manager.process_title import set_cmdline

# what `pronghorn replica serve` and `pronghorn engine serve` import, loaded once here (the grpc
# modules are imported lazily by grpc.server() and the first channel)
PRELOAD = ("adapters.cli.main", "adapters.cli.replicas", "replica.cli", "engine.cli", "engine.serve",
           "concurrent.futures.thread", "grpc._server", "grpc._channel", "grpc._interceptor",
           "grpc._simple_stubs", "grpc.experimental")
MAX_MESSAGE = 1 << 16
CONFIRM_TIMEOUT_S = 10.0
STDIO = 3


EXIT_FILES: dict[int, str] = {}  # pid -> where its wait status is written when it ends (for the manager)


def _reap(*_: Any) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        path = EXIT_FILES.pop(pid, "")
        if path:
            try:
                Path(path).write_text(f"{status}\n")
            except OSError:
                pass  # the manager then says it does not know how the process ended


def _child(cmdline: list[str], args: list[str], stdio: list[int], confirm: int, channel: socket.socket) -> None:
    """Runs in the forked child; never returns."""
    code = 1
    try:
        os.setsid()
        channel.close()
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        for fd in stdio:
            if fd > 2:
                os.close(fd)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        set_cmdline(cmdline, Path(cmdline[min(1, len(cmdline) - 1)]).name)
        os.write(confirm, b"ok")
        os.close(confirm)
        confirm = -1
        sys.argv = cmdline[1:]
        logging.root.handlers.clear()
        from adapters.cli.main import main

        code = main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # noqa: BLE001 - report it, then exit like a crashed process would
        if confirm >= 0:
            os.write(confirm, f"{exc.__class__.__name__}: {exc}".encode()[:1000])
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        logging.shutdown()
        os._exit(code)


def fork_instance(request: dict[str, Any], stdio: list[int], channel: socket.socket) -> dict[str, Any]:
    """Fork the child of one request; the reply for the manager."""
    cmdline, args = list(request["cmdline"]), list(request["args"])
    if len(stdio) != STDIO or not cmdline or not args:
        return {"error": "a request needs cmdline, args and three file descriptors"}
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})  # not reaped before its exit file is known
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(cmdline, args, stdio, write_end, channel)
    EXIT_FILES[pid] = str(request.get("exit_file", ""))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], CONFIRM_TIMEOUT_S)
        status = os.read(read_end, 1000) if ready else b""
    finally:
        os.close(read_end)
    if status == b"ok":
        return {"pid": pid}
    if not ready:
        os.kill(pid, signal.SIGKILL)
    return {"error": f"instance did not start: {status.decode(errors='replace') or 'no confirmation'}"}


def serve(channel: socket.socket) -> int:
    for module in PRELOAD:
        importlib.import_module(module)
    threads = len(os.listdir("/proc/self/task"))
    try:
        if threads != 1:
            raise OSError(f"the launcher runs {threads} threads after its imports: forking is unsafe")
        set_cmdline(Path("/proc/self/cmdline").read_bytes().decode().split("\0")[:-1], Path(sys.executable).name)
    except OSError as exc:
        channel.send(json.dumps({"error": str(exc)}).encode())
        print(f"launcher: {exc}", file=sys.stderr, flush=True)
        return 1
    signal.signal(signal.SIGCHLD, _reap)
    gc.freeze()  # imported objects stay out of the collector: fewer copy-on-write pages in children
    channel.send(json.dumps({"ready": os.getpid()}).encode())
    while True:
        message, fds, _flags, _addr = socket.recv_fds(channel, MAX_MESSAGE, STDIO)
        if not message:
            return 0  # the manager is gone
        try:
            reply = fork_instance(json.loads(message), fds, channel)
        except (ValueError, KeyError, TypeError) as exc:
            reply = {"error": f"bad request: {exc}"}
        except OSError as exc:  # fork or pipe refused (e.g. EAGAIN at the process limit)
            reply = {"error": f"cannot fork: {exc}"}
        finally:
            for fd in fds:
                os.close(fd)
        channel.send(json.dumps(reply).encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m manager.launcher_process", description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="this end of the socket pair with the manager")
    args = parser.parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    with socket.socket(fileno=args.fd) as channel:
        try:
            return serve(channel)
        except (BrokenPipeError, ConnectionResetError):
            return 0  # the manager is gone


if __name__ == "__main__":
    sys.exit(main())
