"""Vectored socket sends of many buffers (headers + payload memoryviews).

Used by the replica links and the NBD transmission loop: one sendmsg per
batch, continuing after partial sends.
"""

from __future__ import annotations

import socket

IOV_MAX = 1024


def send_all(sock: socket.socket, parts: list) -> None:
    while parts:
        sent = sock.sendmsg(parts[:IOV_MAX])
        parts = advance(parts, sent)


def advance(parts: list, sent: int) -> list:
    """Drop ``sent`` bytes from the front of a list of buffers."""
    i = 0
    while i < len(parts):
        size = len(parts[i])
        if sent < size:
            break
        sent -= size
        i += 1
    rest = parts[i:]
    if sent:
        rest[0] = memoryview(rest[0])[sent:]
    return rest
