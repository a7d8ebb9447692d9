"""NBD fixed-newstyle negotiation: greeting, options, entry into transmission.

Called by `engine.nbd.server` once per accepted connection, before the
transmission loop. Answers GO, INFO, LIST, ABORT and EXPORT_NAME; refuses every
other option (STRUCTURED_REPLY included: the engine sends simple replies only)
with NBD_REP_ERR_UNSUP. A client that breaks the protocol is disconnected.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from engine.nbd.protocol import (
    CLIENT_FLAGS,
    EXPORT_FLAGS,
    EXPORT_NAME_REPLY,
    GREETING,
    IHAVEOPT,
    INFO_BLOCK_SIZE,
    INFO_EXPORT,
    MAX_BLOCK,
    MAX_EXPORT_NAME,
    MAX_OPTION_LENGTH,
    MIN_BLOCK,
    NBDMAGIC,
    OPTION_HEADER,
    OPTION_REPLY,
    OPTION_REPLY_MAGIC,
    PREFERRED_BLOCK,
    ClientFlag,
    HandshakeFlag,
    Info,
    Option,
    Reply,
)


class ProtocolViolation(Exception):
    """The peer broke the NBD protocol or went away: close this connection only."""


@dataclass(frozen=True)
class Export:
    """What one engine serves: one export named after the volume ("" also selects it)."""

    name: str
    size: Callable[[], int]

    def matches(self, name: bytes) -> bool:
        return name in (b"", self.name.encode())


def recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ProtocolViolation("peer closed the connection")
        chunks += chunk
    return bytes(chunks)


def negotiate(sock: socket.socket, export: Export) -> bool:
    """Run the handshake; True when transmission starts, False when the client aborted."""
    sock.sendall(GREETING.pack(NBDMAGIC, IHAVEOPT, HandshakeFlag.FIXED_NEWSTYLE | HandshakeFlag.NO_ZEROES))
    (client_flags,) = CLIENT_FLAGS.unpack(recv_exact(sock, CLIENT_FLAGS.size))
    if client_flags & ~int(ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES):
        raise ProtocolViolation(f"unknown client flags {client_flags:#x}")
    fixed = bool(client_flags & ClientFlag.FIXED_NEWSTYLE)
    no_zeroes = bool(client_flags & ClientFlag.NO_ZEROES)
    while True:
        magic, option, length = OPTION_HEADER.unpack(recv_exact(sock, OPTION_HEADER.size))
        if magic != IHAVEOPT:
            raise ProtocolViolation(f"bad option magic {magic:#x}")
        if length > MAX_OPTION_LENGTH:
            raise ProtocolViolation(f"option data of {length} bytes")
        data = recv_exact(sock, length)
        if option == Option.EXPORT_NAME:
            if not export.matches(data):
                raise ProtocolViolation("unknown export name")  # the protocol says: close
            reply = EXPORT_NAME_REPLY.pack(export.size(), EXPORT_FLAGS)
            sock.sendall(reply if no_zeroes else reply + bytes(124))
            return True
        if not fixed:
            raise ProtocolViolation(f"option {option} from a non-fixed-newstyle client")
        if option == Option.ABORT:
            _reply(sock, option, Reply.ACK)
            return False
        if option == Option.LIST:
            if length:
                _reply(sock, option, Reply.ERR_INVALID, b"LIST takes no data")
                continue
            name = export.name.encode()
            _reply(sock, option, Reply.SERVER, struct.pack(">I", len(name)) + name)
            _reply(sock, option, Reply.ACK)
        elif option in (Option.INFO, Option.GO):
            if _info(sock, option, data, export) and option == Option.GO:
                return True
        else:
            _reply(sock, option, Reply.ERR_UNSUP, b"not supported (simple replies only)")


def _info(sock: socket.socket, option: int, data: bytes, export: Export) -> bool:
    """Answer INFO/GO; True when the request was valid and acknowledged."""
    if len(data) < 6:
        _reply(sock, option, Reply.ERR_INVALID, b"short INFO/GO request")
        return False
    (name_length,) = struct.unpack_from(">I", data)
    if name_length > MAX_EXPORT_NAME or len(data) < 4 + name_length + 2:
        _reply(sock, option, Reply.ERR_INVALID, b"bad export name length")
        return False
    name = data[4 : 4 + name_length]
    (count,) = struct.unpack_from(">H", data, 4 + name_length)
    if len(data) != 4 + name_length + 2 + 2 * count:
        _reply(sock, option, Reply.ERR_INVALID, b"bad information request count")
        return False
    requests = struct.unpack_from(f">{count}H", data, 4 + name_length + 2)
    if not export.matches(name):
        _reply(sock, option, Reply.ERR_UNKNOWN, b"no such export")
        return False
    _reply(sock, option, Reply.INFO, INFO_EXPORT.pack(Info.EXPORT, export.size(), EXPORT_FLAGS))
    if Info.NAME in requests:
        _reply(sock, option, Reply.INFO, struct.pack(">H", Info.NAME) + export.name.encode())
    if Info.BLOCK_SIZE in requests:
        block = INFO_BLOCK_SIZE.pack(Info.BLOCK_SIZE, MIN_BLOCK, PREFERRED_BLOCK, MAX_BLOCK)
        _reply(sock, option, Reply.INFO, block)
    _reply(sock, option, Reply.ACK)
    return True


def _reply(sock: socket.socket, option: int, reply: Reply, data: bytes = b"") -> None:
    sock.sendall(OPTION_REPLY.pack(OPTION_REPLY_MAGIC, option, reply, len(data)) + data)
