"""One engine-side data connection to one replica (replica/wire.py protocol).

Used by `engine.replicator`: a batch of requests goes out as ONE vectored
send; responses come back in any order, matched by seq, read in bulk into a
preallocated buffer; READ payloads are copied straight into the caller's
destination buffers. Any failure (disconnect, timeout, error status, bad
magic) raises `LinkFailure`; the caller turns the replica ERR.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys
from array import array

from engine.local_replica import LocalReplica, ShareRefused, fetch_share
from engine.spin_receive import AdaptiveSpin
from engine.vectored import send_all
from replica.wire import MAGIC, RESPONSE

RECV_BUFFER = 1 << 20
SEND_BUFFER = 4 << 20  # a qd16 batch of 128k writes (2 MiB) fits in one sendmsg: no poll, no wake-up to resume
HEADER = RESPONSE.size
ACK_WORDS = struct.unpack("<QQ", RESPONSE.pack(MAGIC, 0, 0, 0))  # a success as two u64 words: (magic, seq 0)
TEMPLATE_ACKS = 64
ACK_TEMPLATE = array("Q", ACK_WORDS) * TEMPLATE_ACKS
BULK_ACKS = 4  # from this many responses on, one compare is cheaper than parsing each


class LinkFailure(Exception):
    """This replica's data connection cannot be trusted any more."""


def connect_data(address: str, timeout: float) -> socket.socket:
    """Connect to a data address: ``host:port`` (TCP) or ``unix:/path``.

    The socket is left in blocking mode with the timeout enforced by the
    kernel (SO_RCVTIMEO/SO_SNDTIMEO): a Python-level timeout would cost a
    poll() before every recv/send on the hot path.
    """
    if address.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)  # capped by net.core.wmem_max
        sock.settimeout(timeout)
        sock.connect(address[5:])
    else:
        host, _, port = address.removeprefix("tcp://").rpartition(":")
        sock = socket.create_connection((host, int(port)), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(None)
    seconds = int(timeout)
    timeval = struct.pack("ll", seconds, int((timeout - seconds) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    return sock


def in_words(exc: OSError, timeout: float) -> str:
    """A socket error as a person reads it: "no reply within 8 s (--replica-timeout)", not a class name."""
    if isinstance(exc, TimeoutError) or exc.errno in (errno.EAGAIN, errno.ETIMEDOUT):
        return f"no reply within {timeout:g} s (--replica-timeout)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: nothing listens there (is the replica process running?)"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "the replica dropped the connection"
    return os.strerror(exc.errno) if exc.errno else str(exc) or "connection failed"


class ReplicaLink:
    def __init__(self, address: str, timeout: float) -> None:
        self.timeout = timeout
        try:
            self.sock = connect_data(address, timeout)
        except OSError as exc:
            raise LinkFailure(f"connect {address}: {in_words(exc, timeout)}") from exc
        self.buf = bytearray(RECV_BUFFER)
        self.view = memoryview(self.buf)
        self.start = 0
        self.end = 0
        self.spin = AdaptiveSpin()
        self.local: LocalReplica | None = None  # I/O on the replica's files (engine/local_replica.py)
        self.shares = self.sock.family == socket.AF_UNIX  # False once refused or failed

    def close(self) -> None:
        self.drop_local()
        self.sock.close()

    def local_replica(self) -> LocalReplica | None:
        """This RW replica's files for direct I/O, fetched when first needed (the link must be idle)."""
        if self.local is None and self.shares:
            try:
                self.local = LocalReplica(self.sock, fetch_share(self.sock, writable=True))
            except ShareRefused:
                self.shares = False
            except OSError as exc:
                raise LinkFailure(f"share: {exc.__class__.__name__}") from exc
        return self.local

    def drop_local(self) -> None:
        if self.local is not None:
            self.local.close()
            self.local = None

    def send(self, parts: list) -> None:
        """Send every part (bytes/memoryviews) with as few sendmsg calls as the kernel allows."""
        try:
            send_all(self.sock, parts)
        except OSError as exc:
            raise LinkFailure(f"send: {in_words(exc, self.timeout)}") from exc

    def collect(self, count: int, base: int, dests: list, spin: bool = False, acks: bytes | None = None) -> None:
        """Read ``count`` responses with seq in [base, base+len(dests)); fill READ dests.

        ``spin``: poll briefly before sleeping in each receive (engine/spin_receive.py).
        ``acks``: the bytes of every response succeeding in seq order (`expected_acks`),
        for a round of payload-less requests: when the buffer holds exactly that, one
        compare settles the round; anything else is parsed response by response.
        """
        buf, view, sock = self.buf, self.view, self.sock
        start, end = self.start, self.end
        try:
            if acks is not None:
                need = len(acks)
                if end - start < need:
                    start, end = self._receive(start, end, need, spin)
                if end - start >= need and buf[start : start + need] == acks:
                    self.start, self.end = start + need, end
                    return
            unpack = RESPONSE.unpack_from
            limit = len(dests)
            while count:
                if end - start < HEADER:
                    start, end = self._receive(start, end, HEADER * 64, spin)
                    continue
                magic, status, length, seq = unpack(buf, start)
                index = seq - base
                if magic != MAGIC or not 0 <= index < limit:
                    raise LinkFailure("bad response header")
                if status:
                    raise LinkFailure(f"the replica answered {errno.errorcode.get(status, status)}: "
                                      f"{os.strerror(status) if status in errno.errorcode else 'an error'}")
                start += HEADER
                if length:
                    dest = dests[index]
                    if dest is None or len(dest) != length:
                        raise LinkFailure("unexpected response payload")
                    have = end - start
                    if have >= length:
                        dest[:] = view[start : start + length]
                        start += length
                    else:
                        dest[:have] = view[start:end]
                        start = end = 0
                        _recv_exact(sock, dest[have:])
                count -= 1
        except OSError as exc:  # timeouts included
            raise LinkFailure(f"receive: {in_words(exc, self.timeout)}") from exc
        self.start, self.end = start, end

    def _receive(self, start: int, end: int, room: int, spin: bool) -> tuple[int, int]:
        """One receive into the buffer, first moving unparsed bytes to the front when under
        ``room`` bytes of space follow ``start``; returns the new (start, end)."""
        if start == end:
            start = end = 0
        elif len(self.buf) - start < room:
            self.view[: end - start] = self.view[start:end]
            end -= start
            start = 0
        view = self.view[end:]
        n = self.spin.receive_into(self.sock, view) if spin else self.sock.recv_into(view)
        if not n:
            raise LinkFailure("replica closed the data connection")
        return start, end + n


def expected_acks(base: int, count: int) -> bytes | None:
    """What ``count`` successful payload-less responses with seq ``base``.. say, in order.

    None when one compare would not pay (few responses: building the bytes costs more
    than parsing them) or the responses would not fit a link's receive buffer.
    """
    if not BULK_ACKS <= count <= RECV_BUFFER // 2 // HEADER:
        return None
    words = ACK_TEMPLATE[: 2 * count] if count <= TEMPLATE_ACKS else array("Q", ACK_WORDS) * count
    words[1::2] = array("Q", range(base, base + count))
    if sys.byteorder == "big":
        words.byteswap()  # the wire is little-endian
    return words.tobytes()


def _recv_exact(sock: socket.socket, view: memoryview) -> None:
    while len(view):
        n = sock.recv_into(view)
        if not n:
            raise LinkFailure("replica closed the data connection")
        view = view[n:]

