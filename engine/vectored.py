"""Vectored socket sends of many buffers (headers + payload memoryviews).

Used by the replica links and the NBD transmission loop: one sendmsg per
batch, continuing after partial sends.
"""

from __future__ import annotations

import select
import socket

IOV_MAX = 1024


def send_all(sock: socket.socket, parts: list) -> None:
    while parts:
        sent = sock.sendmsg(parts[:IOV_MAX])
        parts = advance(parts, sent)


def advance(parts: list, sent: int) -> list:
    """Drop ``sent`` bytes from the front of a list of buffers (a new list; ``parts`` is not changed)."""
    if sent == sum(map(len, parts)):  # the usual case: everything went out
        return []
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


def send_all_many(
    pending: dict[socket.socket, list], timeout: float, total: int | None = None
) -> dict[socket.socket, OSError]:
    """Send each socket its buffers, interleaved, so slow readers drain in parallel.

    Returns the sockets that failed (or made no progress within ``timeout``)
    with their error; the others received everything. The first pass needs
    no poller: small batches (qd1) go out in one sendmsg per socket.
    ``total``: the byte count of every socket's buffers, when the caller knows it
    (they are all the same size): a whole send is then recognised without summing.
    """
    failed: dict[socket.socket, OSError] = {}
    left: dict[socket.socket, list] = {}
    for sock, parts in pending.items():
        try:
            if total is not None and len(parts) <= IOV_MAX:
                sent = sock.sendmsg(parts, [], socket.MSG_DONTWAIT)
                if sent == total:
                    continue
                parts = advance(parts, sent)
            else:
                parts = advance(parts, sock.sendmsg(parts[:IOV_MAX], [], socket.MSG_DONTWAIT))
        except BlockingIOError:
            pass
        except OSError as exc:
            failed[sock] = exc
            continue
        if parts:
            left[sock] = parts
    if not left:
        return failed
    poller = select.poll()
    for sock in left:
        poller.register(sock, select.POLLOUT)
    while left:
        if not poller.poll(int(timeout * 1000)):
            for sock in left:
                failed[sock] = TimeoutError(f"no send progress within {timeout}s")
            return failed
        for sock, parts in list(left.items()):
            try:
                while parts:
                    parts = advance(parts, sock.sendmsg(parts[:IOV_MAX], [], socket.MSG_DONTWAIT))
            except BlockingIOError:
                left[sock] = parts
                continue
            except OSError as exc:
                failed[sock] = exc
            del left[sock]
            poller.unregister(sock)
    return failed
