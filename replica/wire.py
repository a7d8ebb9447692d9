"""Binary data protocol between an engine and a replica's data port.

Shared by the replica's data server and its client (the engine's side).
Requests are pipelined; responses may come back in any order and are matched
to their request by ``seq``. All integers are little-endian.

Request  (24 bytes): magic u16, op u8, flags u8, length u32, seq u64, offset u64
                     WRITE is followed by ``length`` payload bytes.
Response (16 bytes): magic u16, status u16, length u32, seq u64
                     a successful READ is followed by ``length`` data bytes.

``status`` is 0 on success, otherwise an errno value (EIO, EINVAL, ENOSPC...).
SHARE (unix sockets only, else ENOTSUP) answers with a ``map_share.SHARE_INFO``
payload and, as SCM_RIGHTS, the location map's memfd and the layer files' fds:
an engine on the same machine then reads the volume directly (replica/map_share.py),
and with Flag.WRITABLE also writes the head directly.
A request with a bad magic or an unknown op makes the server close the
connection: the stream can no longer be trusted.
"""

from __future__ import annotations

import struct
from enum import IntEnum

MAGIC = 0x5048  # "PH"
REQUEST = struct.Struct("<HBBIQQ")
RESPONSE = struct.Struct("<HHIQ")
MAX_IO = 32 * 1024 * 1024  # largest READ/WRITE/UNMAP length a server accepts
SECTOR = 4096


class Op(IntEnum):
    READ = 1
    WRITE = 2
    UNMAP = 3
    FLUSH = 4
    PING = 5
    SHARE = 6


class Flag(IntEnum):
    FUA = 1  # WRITE/UNMAP: durable (fdatasync) before the response
    ZERO = 2  # UNMAP: afterwards the range MUST read as zeros (NBD WRITE_ZEROES);
    # without it UNMAP is advisory (NBD TRIM) and may leave older layers' data visible
    WRITABLE = 4  # SHARE: also a read-write head and map, and a write slot (replica/map_share.py),
    # granted unless the replica is a rebuild target or read-only


def pack_request(op: Op, seq: int, offset: int = 0, length: int = 0, flags: int = 0) -> bytes:
    return REQUEST.pack(MAGIC, op, flags, length, seq, offset)


def pack_response(seq: int, status: int = 0, length: int = 0) -> bytes:
    return RESPONSE.pack(MAGIC, status, length, seq)
