"""NBD server: listens on TCP and/or a unix socket, one thread per client.

Started and stopped by the engine process (`engine.service`), also through the
FrontendStart/FrontendStop control calls. Each connection runs the handshake
then the transmission loop; any error on a connection closes that connection
only and is logged once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading

from engine.nbd.handshake import Export, ProtocolViolation, negotiate
from engine.nbd.transmission import serve_transmission
from engine.volume import Volume

log = logging.getLogger("pronghorn.engine.nbd")


class NbdServer:
    def __init__(self, volume: Volume, host: str, port: int, unix_path: str | None = None) -> None:
        self.volume = volume
        self.export = Export(volume.name, lambda: volume.size)
        self.host, self.port, self.unix_path = host, port, unix_path
        self.listeners: list[socket.socket] = []
        self.clients: set[socket.socket] = set()
        self.lock = threading.Lock()

    @property
    def running(self) -> bool:
        return bool(self.listeners)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def client_count(self) -> int:
        """NBD client connections open now (a mounted filesystem keeps at least one)."""
        with self.lock:
            return len(self.clients)

    def start(self) -> None:
        if self.listeners:
            return
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((self.host, self.port))
        tcp.listen(64)
        self.port = tcp.getsockname()[1]  # port 0 picks once; a restart keeps it
        self.listeners.append(tcp)
        if self.unix_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.unix_path)
            unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            unix.bind(self.unix_path)
            unix.listen(64)
            self.listeners.append(unix)
        for listener in self.listeners:
            threading.Thread(target=self._accept, args=(listener,), daemon=True, name="nbd-accept").start()

    def stop(self) -> None:
        """Close the listeners and every client connection."""
        listeners, self.listeners = self.listeners, []
        for listener in listeners:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self.unix_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.unix_path)
        with self.lock:
            clients = list(self.clients)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # listener closed by stop()
            if client.family == socket.AF_INET:
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.clients.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True, name="nbd-conn").start()

    def _serve(self, client: socket.socket) -> None:
        try:
            if negotiate(client, self.export):
                serve_transmission(client, self.volume)
        except ProtocolViolation as exc:
            log.info("NBD client disconnected: %s", exc)
        except OSError as exc:
            log.info("NBD connection closed: %s", exc.__class__.__name__)
        except Exception:  # the engine never dies of one client's input
            log.exception("NBD connection failed")
        finally:
            with self.lock:
                self.clients.discard(client)
            client.close()
