"""Bulk data of a rebuild over one plain TCP connection instead of a gRPC stream.

gRPC copies every message several times (serialize, slice, deserialize): that
was most of a rebuild's CPU. StreamChunks (control service) opens a one-shot
listener on the replica's control host and returns its port and a random
token; the rebuild target connects, sends the token and receives frames:
FRAME (u64le offset, u64le length, 16-byte digest), then the data. Each piece is
one allocated run clipped to the 1 MiB grid, in ascending order; its digest is
``checksums.StreamDigests``' (xxh3-128 of the piece and the earlier pieces of its
chunk), so the last one of a chunk is the chunk digest: each side hashes the data
once and both get the layer checksum from it. A frame of length 0 ends the stream;
an early EOF is an error. The source reads each piece once into a reusable buffer
to hash it, then sends it from the page cache (sendfile); the target receives each
piece where ``into`` says (its writer's batch buffer) and checks it there. Sockets
are blocking with kernel timeouts (SO_RCVTIMEO/SO_SNDTIMEO): one syscall per call.
``offer`` is the source side, ``receive`` the target's. This module is the one
definition of the format.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import struct
import threading
from collections.abc import Callable, Iterator

from replica import checksums
from replica.errors import Corrupt, Unavailable

FRAME = struct.Struct("<QQ16s")
TOKEN_BYTES = 16
ACCEPT_TIMEOUT = 30.0
IO_TIMEOUT = 60.0
log = logging.getLogger("pronghorn.replica.rebuild_stream")


def offer(host: str, fd: int, runs: Iterator[tuple[int, int]], tap: checksums.SidecarTap | None = None,
          ) -> tuple[int, bytes]:
    """Listen on ``host``; one connection presenting the token gets the data of ``runs`` (allocated
    runs clipped to the grid, ascending) read from ``fd``, which this takes over. Returns (port, token)."""
    token = secrets.token_bytes(TOKEN_BYTES)
    try:
        listener = socket.create_server((host, 0))
    except OSError:
        os.close(fd)
        raise
    threading.Thread(target=_serve, args=(listener, token, fd, runs, tap), daemon=True,
                     name="rebuild-stream").start()
    return listener.getsockname()[1], token


def _serve(listener: socket.socket, token: bytes, fd: int, runs: Iterator[tuple[int, int]],
           tap: checksums.SidecarTap | None) -> None:
    try:
        with listener:
            listener.settimeout(ACCEPT_TIMEOUT)
            conn, _ = listener.accept()
        with conn:
            _kernel_timeouts(conn)
            if _recv_exact(conn, TOKEN_BYTES) != token:
                return
            buffer = memoryview(bytearray(checksums.GRID))
            digests = checksums.StreamDigests()
            for offset, length in runs:
                view = buffer[:length]
                got = os.preadv(fd, [view], offset)  # to hash; the socket gets the page cache's copy
                if got < length:  # past the end of the file reads as zeros
                    view[got:] = bytes(length - got)
                digest = digests.update(offset, view)
                conn.sendall(FRAME.pack(offset, length, digest), socket.MSG_MORE)
                _send_data(conn, fd, offset, length, view if got < length else None)
                if tap is not None:
                    tap.feed(offset, length, digest)
            if tap is not None:
                tap.done()  # before the end frame: the target's caller may ask for the checksum next
            conn.sendall(FRAME.pack(0, 0, bytes(16)))
    except (OSError, ValueError, Corrupt) as exc:  # the target sees the stream end early
        log.warning("rebuild stream ended: %s", exc)
    finally:
        os.close(fd)


def _send_data(conn: socket.socket, fd: int, offset: int, length: int, short: memoryview | None) -> None:
    """Send ``length`` bytes of ``fd`` at ``offset`` straight from the page cache (sendfile: no copy
    through this process); ``short``: the file ends before them, send this zero-padded copy instead."""
    if short is not None:
        conn.sendall(short)
        return
    sent = 0
    while sent < length:
        n = os.sendfile(conn.fileno(), fd, offset + sent, length - sent)
        if not n:
            raise ValueError(f"the layer file ends before {offset + length} (changed during the stream)")
        sent += n


def receive(host: str, port: int, token: bytes, into: Callable[[int, int], memoryview],
            ) -> Iterator[tuple[int, memoryview, bytes]]:
    """(offset, data, digest) of each piece; ``data`` is the view ``into(offset, length)`` gave.
    Network errors are Unavailable; ``into``'s own errors (a full disk) pass through as they are."""
    where = f"rebuild stream from {host}:{port}"
    try:
        conn = socket.create_connection((host, port), timeout=IO_TIMEOUT)
    except OSError as exc:
        raise Unavailable(f"{where}: {exc}") from exc
    with conn:
        try:
            _kernel_timeouts(conn)
            conn.sendall(token)
        except OSError as exc:
            raise Unavailable(f"{where}: {exc}") from exc
        header = memoryview(bytearray(FRAME.size))
        while True:
            _receive(conn, header, where)
            offset, length, digest = FRAME.unpack(header)
            if not length:
                return
            if length > checksums.GRID:
                raise Corrupt(f"stream piece of {length} bytes exceeds the {checksums.GRID}-byte grid")
            view = into(offset, length)
            _receive(conn, view, where)
            yield offset, view, digest


def _receive(conn: socket.socket, view: memoryview, where: str) -> None:
    try:
        _recv_into(conn, view)
    except OSError as exc:
        raise Unavailable(f"{where}: {exc}") from exc


def _kernel_timeouts(conn: socket.socket) -> None:
    """A blocking socket whose sends and receives fail after IO_TIMEOUT: the kernel keeps the
    timeout, so each call is one syscall (a Python-level timeout polls before every call)."""
    conn.settimeout(None)
    limit = struct.pack("ll", int(IO_TIMEOUT), 0)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    _recv_into(conn, memoryview(buf))
    return bytes(buf)


def _recv_into(conn: socket.socket, view: memoryview) -> None:
    """Fill ``view``: one recv per piece (MSG_WAITALL), not one per arriving burst."""
    while len(view):
        got = conn.recv_into(view, 0, socket.MSG_WAITALL)
        if not got:
            raise ConnectionError("the rebuild stream ended early")
        view = view[got:]
