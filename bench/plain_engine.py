"""A plain batching NBD server replicating to Pronghorn replicas: the design NOTES.md measured, nothing more.

Usage: python bench/plain_engine.py --size BYTES --replica unix:PATH [--replica unix:PATH ...]
       [--listen 127.0.0.1:0]      prints "nbd://HOST:PORT" on stdout once it listens

bench/fio_nbd.py runs it as the ``plain3`` target, on three replica processes
like an engine's, so what the engine adds to plain batching shows on any
machine. Per receive from the client it parses every complete request (a batch);
the batch's writes go to every replica in one vectored send each, every
replica's acks are collected, then the client gets every reply in one send.
Reads go to one replica, the next one for the next batch. That is the design
../shared/NOTES.md found fastest for a Python data path. It has none of the
engine's further speed-ups (direct reads and writes of the same-machine
replica's files, two write batches in flight, polling before a receive) and
none of its duties (I/O gate for snapshots, timeouts, failover, statistics). A
replica error fails the request with EIO; a replica that goes away ends the
connection. A benchmark instrument, not for data anyone keeps.
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.nbd.handshake import Export, ProtocolViolation, negotiate  # noqa: E402
from engine.nbd.protocol import REQUEST, REQUEST_MAGIC, SIMPLE_REPLY, SIMPLE_REPLY_MAGIC, Command  # noqa: E402
from engine.vectored import send_all, send_all_many  # noqa: E402
from replica.wire import MAGIC, RESPONSE, Flag, Op  # noqa: E402
from replica.wire import REQUEST as WIRE_REQUEST  # noqa: E402

MAX_IO = 8 << 20  # largest READ/WRITE served
BUFFER = 2 * MAX_IO + (1 << 20)  # a whole request or read answer always fits after the partial one
SEND_TIMEOUT = 30.0
HEADER = REQUEST.size
_READ, _WRITE, _FLUSH, _DISC = int(Command.READ), int(Command.WRITE), int(Command.FLUSH), int(Command.DISC)


class Replica:
    """One data connection to a replica, with its own receive buffer."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(address.removeprefix("unix:"))
        self.buf = bytearray(BUFFER)
        self.view = memoryview(self.buf)
        self.start = self.end = 0

    def collect(self, base: int, dests: list) -> list[int]:
        """Read the responses to seq base..base+len(dests)-1 (in order); fill READ dests; their statuses."""
        statuses = []
        for seq in range(base, base + len(dests)):
            self._need(RESPONSE.size)
            magic, status, length, got = RESPONSE.unpack_from(self.buf, self.start)
            if magic != MAGIC or got != seq:
                raise ConnectionError(f"replica answered seq {got}, expected {seq}")
            self.start += RESPONSE.size
            if length:
                self._need(length)
                dests[seq - base][:] = self.view[self.start : self.start + length]
                self.start += length
            statuses.append(status)
        return statuses

    def _need(self, n: int) -> None:
        while self.end - self.start < n:
            if self.start:
                self.view[: self.end - self.start] = self.view[self.start : self.end]
                self.end -= self.start
                self.start = 0
            got = self.sock.recv_into(self.view[self.end :])
            if not got:
                raise ConnectionError("replica closed the data connection")
            self.end += got


def serve(client: socket.socket, size: int, addresses: list[str]) -> None:
    """One NBD connection: batches until the client disconnects."""
    replicas = [Replica(a) for a in addresses]
    buf = bytearray(BUFFER)
    view = memoryview(buf)
    start = end = seq = turn = 0
    while True:
        writes: list = []  # per request: (handle, wire op, flags, offset, length, payload or read dest)
        reads: list = []
        others: list = []
        while end - start >= HEADER:
            magic, flags, command, handle, offset, length = REQUEST.unpack_from(buf, start)
            if magic != REQUEST_MAGIC:
                raise ProtocolViolation(f"bad request magic {magic:#x}")
            if length > MAX_IO:
                raise ProtocolViolation(f"request length {length} over this server's {MAX_IO}")
            if command == _WRITE:
                if start + HEADER + length > end:
                    break
                payload = view[start + HEADER : start + HEADER + length]  # valid until the buffer moves
                writes.append((handle, Op.WRITE, Flag.FUA if flags & 1 else 0, offset, length, payload))
                start += HEADER + length
                continue
            start += HEADER
            if command == _DISC:
                return
            if command == _READ and offset + length <= size:
                reads.append((handle, Op.READ, 0, offset, length, bytearray(length)))
            elif command == _FLUSH:
                writes.append((handle, Op.FLUSH, 0, 0, 0, None))
            else:
                others.append((handle, errno.EINVAL))
        replies: list = []
        errors = dict(others)
        if writes:
            parts: list = []
            for i, (_, op, flag, offset, length, payload) in enumerate(writes):
                parts.append(WIRE_REQUEST.pack(MAGIC, op, flag, length if op == Op.WRITE else 0, seq + i, offset))
                if payload is not None:
                    parts.append(payload)
            unsent = send_all_many({r.sock: parts for r in replicas}, SEND_TIMEOUT, sum(map(len, parts)))
            if unsent:
                raise ConnectionError(f"send to a replica failed: {next(iter(unsent.values()))}")
            for replica in replicas:
                for w, status in zip(writes, replica.collect(seq, [None] * len(writes)), strict=True):
                    if status:
                        errors[w[0]] = errno.EIO
            seq += len(writes)
        if reads:
            replica = replicas[turn % len(replicas)]
            turn += 1
            send_all(replica.sock, [WIRE_REQUEST.pack(MAGIC, op, 0, length, seq + i, offset)
                                    for i, (_, op, _, offset, length, _) in enumerate(reads)])
            for r, status in zip(reads, replica.collect(seq, [r[5] for r in reads]), strict=True):
                if status:
                    errors[r[0]] = errno.EIO
            seq += len(reads)
        for handle, *_ in writes:
            replies.append(SIMPLE_REPLY.pack(SIMPLE_REPLY_MAGIC, errors.get(handle, 0), handle))
        for handle, *_, data in reads:
            error = errors.get(handle, 0)
            replies.append(SIMPLE_REPLY.pack(SIMPLE_REPLY_MAGIC, error, handle))
            if not error:
                replies.append(data)
        for handle, error in others:
            replies.append(SIMPLE_REPLY.pack(SIMPLE_REPLY_MAGIC, error, handle))
        if replies:
            send_all(client, replies)
        if start == end:
            start = end = 0
        elif len(buf) - end < HEADER + MAX_IO:  # room for a whole request after the partial one
            view[: end - start] = view[start:end]
            end -= start
            start = 0
        got = client.recv_into(view[end:])
        if not got:
            return
        end += got


def accept_forever(listener: socket.socket, size: int, addresses: list[str]) -> None:
    export = Export("plain", lambda: size)
    while True:
        client, _ = listener.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_connection, args=(client, export, size, addresses), daemon=True).start()


def _connection(client: socket.socket, export: Export, size: int, addresses: list[str]) -> None:
    try:
        if negotiate(client, export):
            serve(client, size, addresses)
    except (ProtocolViolation, OSError) as exc:
        print(f"plain_engine: connection ended: {exc}", file=sys.stderr)
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/plain_engine.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, required=True, help="export size in bytes (the replicas' size)")
    parser.add_argument("--replica", action="append", required=True, help="unix:PATH of a replica's data socket")
    parser.add_argument("--listen", default="127.0.0.1:0", help="NBD address (default 127.0.0.1:0, a free port)")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    listener = socket.create_server((host, int(port)))
    print(f"nbd://{host}:{listener.getsockname()[1]}", flush=True)
    accept_forever(listener, args.size, args.replica)
    return 0


if __name__ == "__main__":
    sys.exit(main())
