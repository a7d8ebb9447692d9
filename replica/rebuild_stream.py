"""Bulk data of a rebuild over one plain TCP connection instead of a gRPC stream.

gRPC copies every message several times (serialize, slice, deserialize): that
was most of a rebuild's CPU. StreamChunks (control service) opens a one-shot
listener on the replica's control host and returns its port and a random
token; the rebuild target connects, sends the token and receives frames:
FRAME (u64le offset, u64le length, 16-byte xxh3-128 of the data), then the data.
A frame of length 0 ends the stream; an early EOF is an error. The source reads
each piece once into a reusable buffer; the target receives straight into its
O_DIRECT write buffer. ``offer`` is the source side, ``receive`` the target's.
This module is the one definition of the format.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Protocol

from replica import checksums
from replica.errors import Corrupt, Unavailable

FRAME = struct.Struct("<QQ16s")
TOKEN_BYTES = 16
ACCEPT_TIMEOUT = 30.0
IO_TIMEOUT = 60.0
log = logging.getLogger("pronghorn.replica.rebuild_stream")


class Tap(Protocol):
    """Sees every piece the source sends (``done`` once the stream is complete)."""

    def feed(self, offset: int, data: memoryview) -> None: ...

    def done(self) -> None: ...


def offer(host: str, fd: int, runs: Iterator[tuple[int, int]], piece_size: int,
          tap: Tap | None = None) -> tuple[int, bytes]:
    """Listen on ``host``; one connection presenting the token gets the data of ``runs`` (each at
    most ``piece_size`` bytes) read from ``fd``, which this takes over. Returns (port, token)."""
    token = secrets.token_bytes(TOKEN_BYTES)
    try:
        listener = socket.create_server((host, 0))
    except OSError:
        os.close(fd)
        raise
    threading.Thread(target=_serve, args=(listener, token, fd, runs, piece_size, tap), daemon=True,
                     name="rebuild-stream").start()
    return listener.getsockname()[1], token


def _serve(listener: socket.socket, token: bytes, fd: int, runs: Iterator[tuple[int, int]], piece_size: int,
           tap: Tap | None) -> None:
    try:
        with listener:
            listener.settimeout(ACCEPT_TIMEOUT)
            conn, _ = listener.accept()
        with conn:
            conn.settimeout(IO_TIMEOUT)
            if _recv_exact(conn, TOKEN_BYTES) != token:
                return
            buffer = memoryview(bytearray(piece_size))
            for offset, length in runs:
                view = buffer[:length]
                got = os.preadv(fd, [view], offset)
                view[got:] = bytes(length - got)  # past the end of the file reads as zeros
                conn.sendall(FRAME.pack(offset, length, checksums.fast_digest(view)))
                conn.sendall(view)
                if tap is not None:
                    tap.feed(offset, view)
            if tap is not None:
                tap.done()  # before the end frame: the target's caller may ask for the checksum next
            conn.sendall(FRAME.pack(0, 0, bytes(16)))
    except (OSError, ValueError) as exc:  # the target sees the stream end early
        log.warning("rebuild stream ended: %s", exc)
    finally:
        os.close(fd)


def receive(host: str, port: int, token: bytes, buffer: memoryview) -> Iterator[tuple[int, memoryview, bytes]]:
    """(offset, data, digest) of each piece; ``data`` is a view of ``buffer``, valid until the next piece."""
    try:
        with socket.create_connection((host, port), timeout=IO_TIMEOUT) as conn:
            conn.sendall(token)
            while True:
                offset, length, digest = FRAME.unpack(_recv_exact(conn, FRAME.size))
                if not length:
                    return
                if length > len(buffer):
                    raise Corrupt(f"stream piece of {length} bytes exceeds the {len(buffer)}-byte buffer")
                view = buffer[:length]
                _recv_into(conn, view)
                yield offset, view, digest
    except OSError as exc:
        raise Unavailable(f"rebuild stream from {host}:{port}: {exc}") from exc


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    _recv_into(conn, memoryview(buf))
    return bytes(buf)


def _recv_into(conn: socket.socket, view: memoryview) -> None:
    while len(view):
        got = conn.recv_into(view)
        if not got:
            raise ConnectionError("the rebuild stream ended early")
        view = view[got:]
