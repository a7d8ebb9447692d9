"""DataClient: a simple blocking client of a replica's data port (replica/wire.py).

For tests and tools (the engine writes its own batched hot path against
wire.py). Either call the one-shot methods (``read``, ``write``, ``unmap``,
``flush``), or pipeline: ``send(...)`` several requests, then ``receive()``
responses, which may come back in any order and carry the request's seq.
Addresses: ``HOST:PORT``, ``tcp://HOST:PORT``, ``unix:PATH`` or an absolute path.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from itertools import count

from replica.wire import MAGIC, REQUEST, RESPONSE, Flag, Op


class DataError(OSError):
    """The replica answered with a non-zero status (an errno value)."""


class DataProtocolError(ConnectionError):
    """The replica's response stream is malformed, or the connection closed."""


@dataclass(frozen=True)
class Response:
    seq: int
    status: int
    data: bytes


def connect(address: str) -> socket.socket:
    if address.startswith("unix:") or address.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(address.removeprefix("unix:"))
        return sock
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class DataClient:
    def __init__(self, address: str, timeout: float | None = 30.0) -> None:
        self.address = address
        self.sock = connect(address)
        self.sock.settimeout(timeout)
        self._seq = count(1)
        self._pending: dict[int, Op] = {}
        self._early: dict[int, Response] = {}

    def __enter__(self) -> DataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    # --- pipelined -----------------------------------------------------------
    def send(self, op: Op, offset: int = 0, length: int = 0, flags: int = 0, payload: bytes = b"") -> int:
        """Send one request (``length`` defaults to the payload's) and return its seq."""
        seq = next(self._seq)
        length = len(payload) if op == Op.WRITE else length
        self.sock.sendall(REQUEST.pack(MAGIC, op, flags, length, seq, offset) + bytes(payload))
        self._pending[seq] = op
        return seq

    def send_raw(self, data: bytes) -> None:
        """Send arbitrary bytes (tests of malformed input)."""
        self.sock.sendall(data)

    def receive(self) -> Response:
        """The next response, whichever request it answers."""
        magic, status, length, seq = RESPONSE.unpack(self._recv_exact(RESPONSE.size))
        if magic != MAGIC:
            raise DataProtocolError(f"bad response magic {magic:#x}")
        op = self._pending.pop(seq, None)
        if op is None:
            raise DataProtocolError(f"response for unknown seq {seq}")
        data = self._recv_exact(length) if status == 0 and op == Op.READ else b""
        return Response(seq, status, data)

    def wait(self, seq: int) -> Response:
        """The response to ``seq``, keeping other responses for later ``wait`` calls."""
        while seq not in self._early:
            response = self.receive()
            self._early[response.seq] = response
        return self._early.pop(seq)

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            chunk = self.sock.recv_into(view[got:])
            if chunk == 0:
                raise DataProtocolError(f"connection to {self.address} closed")
            got += chunk
        return bytes(buf)

    # --- one-shot --------------------------------------------------------------
    def _call(self, op: Op, offset: int = 0, length: int = 0, flags: int = 0, payload: bytes = b"") -> bytes:
        response = self.wait(self.send(op, offset, length, flags, payload))
        if response.status:
            raise DataError(response.status, f"replica {self.address}: {op.name} failed")
        return response.data

    def read(self, offset: int, length: int) -> bytes:
        return self._call(Op.READ, offset, length)

    def write(self, offset: int, data: bytes, fua: bool = False) -> None:
        self._call(Op.WRITE, offset, flags=Flag.FUA if fua else 0, payload=data)

    def unmap(self, offset: int, length: int, zero: bool = False, fua: bool = False) -> None:
        self._call(Op.UNMAP, offset, length, (Flag.ZERO if zero else 0) | (Flag.FUA if fua else 0))

    def flush(self) -> None:
        self._call(Op.FLUSH)

    def ping(self) -> None:
        self._call(Op.PING)
