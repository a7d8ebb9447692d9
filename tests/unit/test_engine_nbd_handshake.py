"""NBD handshake in memory over a socketpair: options, info replies, refusals."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from engine.nbd.handshake import Export, ProtocolViolation, negotiate
from engine.nbd.protocol import (
    EXPORT_FLAGS,
    IHAVEOPT,
    NBDMAGIC,
    OPTION_HEADER,
    OPTION_REPLY,
    OPTION_REPLY_MAGIC,
    Info,
    Option,
    Reply,
    TransmissionFlag,
)

SIZE = 1 << 30


class Session:
    def __init__(self) -> None:
        self.client, server = socket.socketpair()
        self.result: list[object] = []
        self.thread = threading.Thread(target=self._serve, args=(server,))
        self.thread.start()
        magic, opt, flags = struct.unpack(">QQH", self.recv(18))
        assert (magic, opt) == (NBDMAGIC, IHAVEOPT) and flags == 3

    def _serve(self, server: socket.socket) -> None:
        try:
            self.result.append(negotiate(server, Export("vol", lambda: SIZE)))
        except ProtocolViolation as exc:
            self.result.append(exc)
        finally:
            server.close()

    def recv(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.client.recv(n - len(data))
            assert chunk, "server closed"
            data += chunk
        return data

    def option(self, opt: int, data: bytes = b"") -> None:
        self.client.sendall(OPTION_HEADER.pack(IHAVEOPT, opt, len(data)) + data)

    def reply(self) -> tuple[int, int, bytes]:
        magic, opt, kind, length = OPTION_REPLY.unpack(self.recv(OPTION_REPLY.size))
        assert magic == OPTION_REPLY_MAGIC
        return opt, kind, self.recv(length)

    def finish(self) -> object:
        self.thread.join(timeout=5)
        self.client.close()
        return self.result[0]


@pytest.fixture
def session() -> Iterator[Session]:
    s = Session()
    yield s
    s.client.close()
    s.thread.join(timeout=5)


def go_request(name: bytes, *infos: int) -> bytes:
    return struct.pack(">I", len(name)) + name + struct.pack(f">H{len(infos)}H", len(infos), *infos)


def test_go_with_block_size_and_name(session: Session) -> None:
    session.client.sendall(struct.pack(">I", 3))
    session.option(Option.GO, go_request(b"vol", Info.BLOCK_SIZE, Info.NAME))
    replies = [session.reply() for _ in range(4)]
    assert [k for _, k, _ in replies] == [Reply.INFO, Reply.INFO, Reply.INFO, Reply.ACK]
    export = next(d for _, _, d in replies if d[:2] == b"\x00\x00")
    assert struct.unpack(">HQH", export) == (Info.EXPORT, SIZE, EXPORT_FLAGS)
    block = next(d for _, _, d in replies if d[:2] == b"\x00\x03")
    assert struct.unpack(">HIII", block) == (Info.BLOCK_SIZE, 1, 4096, 32 << 20)
    assert session.finish() is True


def test_export_flags_advertise_what_is_implemented() -> None:
    for flag in ("HAS_FLAGS", "SEND_FLUSH", "SEND_FUA", "SEND_TRIM", "SEND_WRITE_ZEROES", "CAN_MULTI_CONN"):
        assert EXPORT_FLAGS & TransmissionFlag[flag]
    assert not EXPORT_FLAGS & TransmissionFlag.READ_ONLY
    assert not EXPORT_FLAGS & TransmissionFlag.SEND_CACHE


def test_export_name_without_zeroes(session: Session) -> None:
    session.client.sendall(struct.pack(">I", 3))
    session.option(Option.EXPORT_NAME, b"")
    assert struct.unpack(">QH", session.recv(10)) == (SIZE, EXPORT_FLAGS)
    assert session.finish() is True


def test_export_name_with_zeroes_for_old_clients(session: Session) -> None:
    session.client.sendall(struct.pack(">I", 1))
    session.option(Option.EXPORT_NAME, b"vol")
    assert session.recv(134)[10:] == bytes(124)
    assert session.finish() is True


def test_refusals_then_abort(session: Session) -> None:
    session.client.sendall(struct.pack(">I", 3))
    for opt in (Option.STRUCTURED_REPLY, Option.STARTTLS, 99):
        session.option(opt)
        assert session.reply()[1] == Reply.ERR_UNSUP
    session.option(Option.INFO, go_request(b"other"))
    assert session.reply()[1] == Reply.ERR_UNKNOWN
    session.option(Option.INFO, go_request(b"vol")[:-1])
    assert session.reply()[1] == Reply.ERR_INVALID
    session.option(Option.LIST, b"x")
    assert session.reply()[1] == Reply.ERR_INVALID
    session.option(Option.ABORT)
    assert session.reply()[1] == Reply.ACK
    assert session.finish() is False


@pytest.mark.parametrize("bad", ["client_flags", "magic", "huge_option", "unknown_export_name"])
def test_violations_end_the_handshake(session: Session, bad: str) -> None:
    if bad == "client_flags":
        session.client.sendall(struct.pack(">I", 0x80))
    else:
        session.client.sendall(struct.pack(">I", 3))
        if bad == "magic":
            session.client.sendall(OPTION_HEADER.pack(0x1234, Option.GO, 0))
        elif bad == "huge_option":
            session.client.sendall(OPTION_HEADER.pack(IHAVEOPT, Option.GO, 1 << 30))
        else:
            session.option(Option.EXPORT_NAME, b"nope")
    assert isinstance(session.finish(), ProtocolViolation)
