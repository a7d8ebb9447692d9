"""The engine's write path over real sockets: NBD batches in, replica data servers out.

In-process (threads): an NBD client on a socketpair, `serve_transmission`, and
replica `DataServer`s on unix sockets over real chains in tmp_path. Covers the
aligned-WRITE fast path (handles, FUA, a failed replica, all replicas failed),
its fallback to the general path, and the one-compare ack check of a link.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.nbd.protocol import REQUEST, REQUEST_MAGIC, SIMPLE_REPLY, SIMPLE_REPLY_MAGIC, Command
from engine.nbd.transmission import serve_transmission
from engine.replica_link import LinkFailure, ReplicaLink, expected_acks
from engine.replicas import Mode, Replica, ReplicaSet
from engine.volume import Volume
from replica import metadata as md
from replica.chain import SparseFileChain
from replica.data_server import DataServer
from replica.wire import MAGIC, RESPONSE

SIZE = 1 << 20
FUA = 1


class Engine:
    """Three replicas and an engine connection; `exchange` sends one batch and reads the replies."""

    def __init__(self, tmp: Path) -> None:
        self.chains = [SparseFileChain.create(tmp / f"r{i}", SIZE) for i in range(3)]
        self.servers = [DataServer(c, None, tmp / f"r{i}.sock") for i, c in enumerate(self.chains)]
        for server in self.servers:
            server.start()
        members = [Replica(f"c{i}", f"unix:{tmp}/r{i}.sock", Mode.RW) for i in range(3)]
        self.volume = Volume("v", SIZE, ReplicaSet(members), timeout=5.0)
        self.client, engine_side = socket.socketpair()
        self.thread = threading.Thread(target=serve_transmission, args=(engine_side, self.volume), daemon=True)
        self.thread.start()
        self.engine_side = engine_side

    def exchange(self, requests: list[tuple[int, int, int, int, bytes]]) -> dict[int, int]:
        """Send (command, flags, handle, offset, data-or-length) requests in one send: handle -> error."""
        out = b""
        for command, flags, handle, offset, data in requests:
            length = len(data) if command == Command.WRITE else int.from_bytes(data or b"\0", "little")
            out += REQUEST.pack(REQUEST_MAGIC, flags, command, handle, offset, length)
            if command == Command.WRITE:
                out += data
        self.client.sendall(out)
        replies: dict[int, int] = {}
        for _ in requests:
            magic, error, handle = SIMPLE_REPLY.unpack(_recv(self.client, SIMPLE_REPLY.size))
            assert magic == SIMPLE_REPLY_MAGIC
            replies[handle] = error
        return replies

    def close(self) -> None:
        self.client.close()
        self.thread.join(5)
        self.engine_side.close()
        for server in self.servers:
            server.stop()
        for chain in self.chains:
            chain.close()


def _recv(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "peer closed"
        data += chunk
    return data


def _read(chain: SparseFileChain, offset: int, length: int) -> bytes:
    buf = memoryview(bytearray(length))
    chain.read_into(buf, offset)
    return bytes(buf)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = Engine(tmp_path)
    try:
        yield e
    finally:
        e.close()


def test_aligned_writes_reach_every_replica_and_fua_is_durable(engine: Engine) -> None:
    blocks = [os.urandom(4096 * (1 + i % 3)) for i in range(8)]
    batch = [(Command.WRITE, FUA if i == 7 else 0, 100 + i, i * 16384, b) for i, b in enumerate(blocks)]
    assert engine.exchange(batch) == {100 + i: 0 for i in range(8)}
    for chain in engine.chains:
        assert all(_read(chain, i * 16384, len(b)) == b for i, b in enumerate(blocks))
        assert md.load_revision(chain.directory) == 8  # the FUA write flushed the counter with it
    stats = engine.volume.stats[0]
    assert (stats.writes, stats.write_bytes, stats.errors) == (8, sum(map(len, blocks)), 0)


def test_a_batch_with_anything_else_takes_the_general_path(engine: Engine) -> None:
    batch = [
        (Command.WRITE, 0, 1, 0, b"a" * 4096),
        (Command.WRITE, 0, 2, SIZE - 4096, b"b" * 8192),  # past the end
        (Command.WRITE, 0, 3, 4096 + 100, b"c" * 100),  # unaligned: read-modify-write
        (Command.FLUSH, 0, 4, 0, b""),
    ]
    assert engine.exchange(batch) == {1: 0, 2: errno.ENOSPC, 3: 0, 4: 0}
    for chain in engine.chains:
        assert _read(chain, 0, 8192) == b"a" * 4096 + bytes(100) + b"c" * 100 + bytes(3896)


def test_a_failed_replica_turns_err_and_writes_go_on_until_none_is_left(engine: Engine) -> None:
    engine.servers[1].stop()
    assert engine.exchange([(Command.WRITE, 0, 7, 0, b"x" * 4096)]) == {7: 0}
    modes = [r.mode for r in engine.volume.replicas.replicas]
    assert modes == [Mode.RW, Mode.ERR, Mode.RW]
    assert _read(engine.chains[2], 0, 4096) == b"x" * 4096
    engine.servers[0].stop()
    engine.servers[2].stop()
    batch = [(Command.WRITE, 0, 8 + i, i * 4096, b"y" * 4096) for i in range(5)]
    assert engine.exchange(batch) == {8 + i: errno.EIO for i in range(5)}


def test_expected_acks_are_the_packed_responses() -> None:
    for count in (4, 16, 64, 65, 300):
        assert expected_acks(7, count) == b"".join(RESPONSE.pack(MAGIC, 0, 0, s) for s in range(7, 7 + count))
    assert expected_acks(7, 3) is None  # few: parsed one by one


@pytest.fixture
def link_pair(tmp_path: Path) -> Iterator[tuple[ReplicaLink, socket.socket]]:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "s"))
    listener.listen(1)
    link = ReplicaLink(f"unix:{tmp_path}/s", 5.0)
    peer, _ = listener.accept()
    try:
        yield link, peer
    finally:
        link.close()
        peer.close()
        listener.close()


def test_acks_out_of_order_or_split_are_still_settled(link_pair: tuple[ReplicaLink, socket.socket]) -> None:
    link, peer = link_pair
    count = 8
    peer.sendall(b"".join(RESPONSE.pack(MAGIC, 0, 0, s) for s in reversed(range(10, 10 + count))))
    link.collect(count, 10, [None] * count, acks=expected_acks(10, count))
    answers = b"".join(RESPONSE.pack(MAGIC, 0, 0, s) for s in range(20, 20 + count))

    def send_in_two() -> None:
        peer.sendall(answers[:50])
        peer.sendall(answers[50:])

    sender = threading.Thread(target=send_in_two)
    sender.start()
    link.collect(count, 20, [None] * count, acks=expected_acks(20, count))
    sender.join(5)
    peer.sendall(RESPONSE.pack(MAGIC, 0, 0, 99))  # the stream stays in step: the next round parses
    link.collect(1, 99, [None])


def test_an_error_ack_or_a_foreign_seq_fails_the_link(link_pair: tuple[ReplicaLink, socket.socket]) -> None:
    link, peer = link_pair
    answers = [RESPONSE.pack(MAGIC, 0, 0, s) for s in range(30, 36)]
    answers[3] = RESPONSE.pack(MAGIC, errno.EIO, 0, 33)
    peer.sendall(b"".join(answers))
    with pytest.raises(LinkFailure, match="EIO"):
        link.collect(6, 30, [None] * 6, acks=expected_acks(30, 6))
    peer.sendall(struct.pack("<HHIQ", MAGIC, 0, 0, 1000) * 6)
    with pytest.raises(LinkFailure, match="bad response header"):
        link.collect(6, 40, [None] * 6, acks=expected_acks(40, 6))
