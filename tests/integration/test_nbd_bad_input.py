"""Bad NBD input over raw sockets: errors or a disconnect of that connection only."""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Iterator

import pytest

from engine.nbd.protocol import (
    IHAVEOPT,
    OPTION_HEADER,
    OPTION_REPLY,
    REQUEST,
    REQUEST_MAGIC,
    SIMPLE_REPLY,
    Command,
    Option,
    Reply,
)
from tests.fixtures.engines import ReplicatedVolume, start_engine
from tests.fixtures.replicas import start_replica

SIZE = 8 << 20


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def open_raw(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    magic, opt, flags = struct.unpack(">QQH", recv_exact(sock, 18))
    assert opt == IHAVEOPT and flags & 1
    sock.sendall(struct.pack(">I", 3))  # fixed newstyle, no zeroes
    return sock


def option(sock: socket.socket, opt: int, data: bytes = b"") -> tuple[int, bytes]:
    sock.sendall(OPTION_HEADER.pack(IHAVEOPT, opt, len(data)) + data)
    _, echoed, reply, length = OPTION_REPLY.unpack(recv_exact(sock, OPTION_REPLY.size))
    assert echoed == opt
    return reply, recv_exact(sock, length)


def go(sock: socket.socket, name: bytes = b"") -> None:
    reply, _ = option(sock, Option.GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
    while reply == Reply.INFO:
        reply, _ = recv_option_reply(sock)
    assert reply == Reply.ACK


def recv_option_reply(sock: socket.socket) -> tuple[int, bytes]:
    _, _, reply, length = OPTION_REPLY.unpack(recv_exact(sock, OPTION_REPLY.size))
    return reply, recv_exact(sock, length)


def request(sock: socket.socket, command: int, offset: int, length: int, handle: int = 7,
            flags: int = 0, payload: bytes = b"") -> None:
    sock.sendall(REQUEST.pack(REQUEST_MAGIC, flags, command, handle, offset, length) + payload)


def reply(sock: socket.socket) -> tuple[int, int]:
    _, error, handle = SIMPLE_REPLY.unpack(recv_exact(sock, SIMPLE_REPLY.size))
    return error, handle


def assert_closed(sock: socket.socket) -> None:
    with pytest.raises((ConnectionError, OSError)):
        for _ in range(3):
            if not sock.recv(4096):
                raise ConnectionError("closed")


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicatedVolume]:
    """One volume for the whole module: every test also checks it still serves."""
    tmp = tmp_path_factory.mktemp("bad-input")
    replica = start_replica(tmp, SIZE, "replica", data_socket=True)
    try:
        engine = start_engine("vol", SIZE, [replica.control], tmp)
        try:
            yield ReplicatedVolume(engine, [replica])
        finally:
            engine.cleanup()
    finally:
        replica.cleanup()


def working(address: str) -> socket.socket:
    sock = open_raw(address)
    go(sock)
    return sock


def assert_still_serves(sock: socket.socket) -> None:
    request(sock, Command.WRITE, 4096, 4096, handle=99, payload=b"x" * 4096)
    assert reply(sock) == (0, 99)
    request(sock, Command.READ, 4096, 4096, handle=100)
    assert reply(sock) == (0, 100)
    assert recv_exact(sock, 4096) == b"x" * 4096


def test_unknown_and_refused_options(volume: ReplicatedVolume) -> None:
    sock = open_raw(volume.engine.nbd)
    assert option(sock, 0x7777)[0] == Reply.ERR_UNSUP
    assert option(sock, Option.STRUCTURED_REPLY)[0] == Reply.ERR_UNSUP
    reply_type, _ = option(sock, Option.GO, struct.pack(">I", 4) + b"nope" + struct.pack(">H", 0))
    assert reply_type == Reply.ERR_UNKNOWN
    assert option(sock, Option.GO, b"\x00\x00")[0] == Reply.ERR_INVALID
    go(sock, b"vol")  # the session is still usable after the refusals
    assert_still_serves(sock)


def test_abort_and_list(volume: ReplicatedVolume) -> None:
    sock = open_raw(volume.engine.nbd)
    reply_type, data = option(sock, Option.LIST)
    assert reply_type == Reply.SERVER and data[4:] == b"vol"
    assert recv_option_reply(sock)[0] == Reply.ACK
    assert option(sock, Option.ABORT)[0] == Reply.ACK
    assert_closed(sock)


def test_out_of_range_and_unknown_commands_get_errors(volume: ReplicatedVolume) -> None:
    sock = working(volume.engine.nbd)
    request(sock, Command.READ, SIZE - 4096, 8192, handle=1)
    assert reply(sock) == (errno.EINVAL, 1)
    request(sock, Command.WRITE, SIZE, 4096, handle=2, payload=b"y" * 4096)  # payload consumed
    assert reply(sock) == (errno.ENOSPC, 2)
    request(sock, 0x55, 0, 0, handle=3)
    assert reply(sock) == (errno.EINVAL, 3)
    request(sock, Command.READ, 0, 4096, handle=4, flags=1 << 10)  # unknown command flag
    assert reply(sock) == (errno.EINVAL, 4)
    request(sock, Command.WRITE_ZEROES, 0, 4096, handle=5, flags=2 | 16)  # NO_HOLE + FAST_ZERO
    assert reply(sock) == (errno.ENOTSUP, 5)
    assert_still_serves(sock)


@pytest.mark.parametrize("bad", ["magic", "oversized_read", "oversized_write", "garbage_option"])
def test_protocol_violations_close_only_that_connection(volume: ReplicatedVolume, bad: str) -> None:
    good = working(volume.engine.nbd)
    victim = open_raw(volume.engine.nbd)
    if bad == "garbage_option":
        victim.sendall(b"\x00" * 16)
    else:
        go(victim)
        if bad == "magic":
            victim.sendall(REQUEST.pack(0xDEADBEEF, 0, Command.READ, 1, 0, 4096))
        elif bad == "oversized_read":
            request(victim, Command.READ, 0, (32 << 20) + 1)
        else:
            request(victim, Command.WRITE, 0, 1 << 31)
    assert_closed(victim)
    assert_still_serves(good)
    status = volume.engine.client().status()
    assert status.state == "healthy"


def test_disc_ends_session_after_pending_requests(volume: ReplicatedVolume) -> None:
    sock = working(volume.engine.nbd)
    request(sock, Command.WRITE, 0, 4096, handle=11, payload=b"z" * 4096)
    request(sock, Command.DISC, 0, 0, handle=12)
    assert reply(sock) == (0, 11)
    assert_closed(sock)
    check = working(volume.engine.nbd)
    request(check, Command.READ, 0, 4096, handle=13)
    assert reply(check) == (0, 13)
    assert recv_exact(check, 4096) == b"z" * 4096
