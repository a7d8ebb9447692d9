"""Reads and writes served from a same-machine replica's own files, without a round trip.

Used by `engine.replicator` for a RW replica whose data link is a unix socket:
the SHARE request (replica/wire.py) hands over the replica's location map
(a memfd) and its layer files' fds, and a batch of reads becomes one
``preadv`` per read in the engine's own thread: the replica process is not
woken at all. The replica keeps updating the map as it applies writes.

A batch of reads is trusted only if, AFTER its reads, the map is not marked
stale (the replica marks it before any change of its layer set,
replica/map_share.py) and the replica's socket shows no hang-up (a dead
replica's files could be taken over by a new process). Otherwise `serve`
returns False and the caller reads through the socket instead, which also
notices a dead replica.

With a writable share, a batch of aligned writes becomes one ``pwrite`` per
write into the replica's head, then its map bytes, then one more in the share's
write counter (the replica's revision); the counter's BUSY bit is set for the
batch, so that a replica whose engine died mid-batch re-marks its head in the
map. The stale flag and the hang-up are checked BEFORE the writes (the caller holds the I/O gate, and every change of the
layer set happens with I/O paused, so a clear flag means the head is still
the head for this whole batch): if either shows, nothing is written and the
caller sends the batch by socket. They are checked again AFTER: if either
shows then, the writes may have missed the replica's live map, and the
caller must put the replica in ERR (a rebuild repairs it).
"""

from __future__ import annotations

import errno
import os
import select
import socket

from replica.layer_read import read_layers
from replica.map_share import BUSY, MAX_LAYER_FDS, SHARE_INFO, SHARE_INFO_RO, MappedShare
from replica.wire import MAGIC, RESPONSE, Flag, Op, pack_request

ANCILLARY = socket.CMSG_SPACE((MAX_LAYER_FDS + 1) * 4)
_ALERT = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP | select.POLLRDHUP


class ShareRefused(Exception):
    """The replica does not share its files (not a unix socket, or an older replica)."""


def fetch_share(sock: socket.socket, writable: bool = False) -> MappedShare:
    """Ask an idle replica link for its share (``writable``: ask for the head read-write too;
    the answer may still be read-only). OSError: the link broke; ShareRefused: no share."""
    sock.sendall(pack_request(Op.SHARE, 0, flags=int(Flag.WRITABLE) if writable else 0))
    data, ancillary, flags, _ = sock.recvmsg(RESPONSE.size, ANCILLARY)  # the fds come with the first bytes
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds += memoryview(payload)[:usable].cast("i").tolist()
    try:
        if flags & socket.MSG_CTRUNC:
            raise ShareRefused("too many layer fds")
        if not data:
            raise ConnectionResetError(errno.ECONNRESET, "replica closed the data connection")
        data += _receive_exactly(sock, RESPONSE.size - len(data))
        magic, status, length, _ = RESPONSE.unpack_from(data)
        if magic != MAGIC:
            raise ConnectionResetError(errno.EPROTO, "bad response to SHARE")
        if status:
            raise ShareRefused(errno.errorcode.get(status, str(status)))
        if length == SHARE_INFO_RO.size:  # not asked for writes, or a replica that never grants them
            count, sectors = SHARE_INFO_RO.unpack(_receive_exactly(sock, length))
            slot = 0
        elif length == SHARE_INFO.size:
            count, sectors, slot = SHARE_INFO.unpack(_receive_exactly(sock, length))
        else:
            raise ConnectionResetError(errno.EPROTO, f"SHARE answered {length} bytes")
        if len(fds) != count + 1 or (slot and not writable):
            raise ConnectionResetError(errno.EPROTO, f"SHARE sent {len(fds)} fds for {count} layers")
        share = MappedShare(fds[0], fds[1:], sectors, slot)
        fds = []
        return share
    finally:
        for fd in fds:  # not handed to a MappedShare
            os.close(fd)


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = sock.recv(size - len(data))
        if not more:
            raise ConnectionResetError(errno.ECONNRESET, "replica closed the data connection")
        data += more
    return data


class LocalReplica:
    """One replica link's share; `serve` answers a batch of reads from it, `write` writes a batch."""

    def __init__(self, sock: socket.socket, share: MappedShare) -> None:
        self.share = share
        self.poller = select.poll()
        self.poller.register(sock, _ALERT)
        self.writable = share.slot != 0

    def usable(self) -> bool:
        """The share is current and the replica alive: checked before writing, after reading and writing."""
        return not self.share.stale and not self.poller.poll(0)

    def write(self, writes: list[tuple]) -> bool:
        """Write each aligned ``(offset, length, flags, payload, ...)`` into the head, mark the map,
        count them. Call only after `usable` said True, with the I/O gate held. False: the
        replica cannot be trusted with this batch any more (it must become ERR)."""
        share = self.share
        fd, head, loc, sectors = share.layer_fds[share.head], share.head, share.loc, share.sectors
        pwrite, mark = os.pwrite, share.set_written
        count = share.written()
        mark(count | BUSY)  # a connection closing with BUSY set makes the replica re-mark its head
        try:
            for w in writes:
                offset, length, payload = w[0], w[1], w[3]
                first = offset >> 12
                last = (offset + length) >> 12
                if last > sectors:
                    return False  # cannot happen while the share is current: the map covers the volume
                done = pwrite(fd, payload, offset)
                while done < length:
                    done += pwrite(fd, payload[done:], offset + done)
                if last - first == 1:
                    loc[first] = head
                else:
                    loc[first:last] = bytes((head,)) * (last - first)
                count += 1  # counted once data and map byte are in place, as the replica counts its own
                mark(count | BUSY)
        except OSError:
            return False  # the replica's disk failed (ENOSPC, EIO): as a replica answering an error
        mark(count)
        return self.usable()

    def serve(self, reads: list) -> bool:
        """Fill every read's destination; False if the result cannot be trusted (see module doc)."""
        share = self.share
        fds, loc, sectors = share.layer_fds, share.loc, share.sectors
        try:
            for offset, length, dest, _ in reads:
                if (offset + length + 4095) >> 12 > sectors:
                    return False  # the volume grew: the replica has made a bigger map
                read_layers(fds, loc, dest, offset)
        except OSError:
            return False
        return self.usable()

    def close(self) -> None:
        self.share.close()
