"""Run an engine process: open replicas, serve NBD and the gRPC control API.

Called by `pronghorn engine serve` (engine/cli.py). Prints one JSON ready line
on stdout once both servers listen; logs go to stderr. SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from concurrent import futures
from dataclasses import dataclass

import grpc

from engine.control_service import EngineControlService
from engine.controller import Controller
from engine.nbd.server import NbdServer
from engine.startup import open_replicas
from engine.volume import Volume
from proto import engine_pb2_grpc as pb_grpc

log = logging.getLogger("pronghorn.engine")


@dataclass(frozen=True)
class EngineConfig:
    volume: str
    size: int
    replicas: list[str]
    nbd: tuple[str, int]
    nbd_socket: str | None
    listen: tuple[str, int]
    replica_timeout: float
    local_io: bool = True  # engine/local_replica.py


def serve(config: EngineConfig) -> None:
    """Serve until SIGTERM/SIGINT. Raises StartupRefused / OSError before the ready line."""
    replica_set, revision = open_replicas(config.replicas, config.size, config.replica_timeout)
    volume = Volume(config.volume, config.size, replica_set, config.replica_timeout, config.local_io)
    nbd = NbdServer(volume, config.nbd[0], config.nbd[1], config.nbd_socket)
    controller = Controller(volume, nbd)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[("grpc.so_reuseport", 0)])
    host, port = config.listen
    try:
        control_port = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # grpc raises when the port is taken
        control_port = 0
    if not control_port:
        raise OSError(f"cannot listen on {host}:{port} (control)")
    pb_grpc.add_EngineControlServicer_to_server(EngineControlService(controller), server)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    nbd.start()
    server.start()
    ready = {"event": "ready", "nbd": nbd.address, "control": f"{host}:{control_port}", "pid": os.getpid()}
    if config.nbd_socket:
        ready["nbd_socket"] = config.nbd_socket
    print(json.dumps(ready), flush=True)
    modes = ", ".join(f"{r.control}={r.mode}" for r in replica_set.replicas)
    log.info("serving volume %s (%d bytes, revision %d): %s", config.volume, config.size, revision, modes)
    while not stop.wait(0.5):  # a timed wait: the main thread runs Python signal handlers even when
        pass  # the kernel delivered SIGTERM to another thread (seen after SIGSTOP/SIGCONT)
    log.info("shutting down")
    nbd.stop()
    server.stop(grace=1).wait()
