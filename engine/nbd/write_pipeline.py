"""One NBD connection's batches of aligned writes, two in flight: the next is sent while the last is acknowledged.

Used by `engine.nbd.transmission` for batches that are all in-range, sector-aligned
WRITEs (the common case). A batch is begun (sent to every replica by socket,
written into the local replica's head: `Replicator.begin_writes`) and left in
flight. If the client has already sent more requests, the transmission loop
parses them and begins the next batch BEFORE collecting the replicas' acks for
this one; otherwise it ends this batch and answers it. So the replicas work on
one batch while the engine receives and sends the next, and the engine rarely
sleeps waiting for acks the replicas have already sent.

Nothing changes for the client or for durability: a batch is answered only
once every RW/WO replica acknowledged it (or turned ERR), and every replica
applies the batches in the order they were begun (one socket each, and the
direct writes are made in that order; a batch begun while one that went to the
same-machine replica by socket is in flight, as a batch with a FUA write does,
goes there by socket too). Anything but aligned writes (reads, FLUSH, TRIM...)
first ends the batch in flight, so it sees its writes.

The I/O gate (engine/io_gate.py) is held from the first batch begun until the
acks of the last one are collected; the loop stops beginning batches as soon as
a pause (snapshot, expand, membership change) waits, so a stream of writes
cannot starve it. Replies are never waited for while the gate is held: a client
that stops reading them blocks only its own connection. A connection that goes
away with a batch in flight still collects that batch's acks before it leaves
the gate, so a pause never sees a batch half applied.
"""

from __future__ import annotations

import errno
import socket
import time

from engine.nbd.protocol import SIMPLE_REPLY, SIMPLE_REPLY_MAGIC
from engine.replicator import Replicator, WritesInFlight
from engine.volume import IoStats, Volume

_DONTWAIT = socket.MSG_DONTWAIT


class WritePipeline:
    __slots__ = ("sock", "gate", "replicator", "stats", "pending")

    def __init__(self, sock: socket.socket, volume: Volume, replicator: Replicator, stats: IoStats) -> None:
        self.sock = sock
        self.gate = volume.gate
        self.replicator = replicator
        self.stats = stats
        self.pending: tuple[list[tuple], int, WritesInFlight, int] | None = None

    @property
    def open(self) -> bool:
        """A batch is in flight and no pause waits: the caller may look for the next one."""
        return self.pending is not None and not self.gate.closing

    def begin(self, batch: list[tuple], nbytes: int) -> None:
        """Send a batch of aligned writes (``nbytes`` of payload), then answer the one before it, if any."""
        began = time.monotonic_ns()
        self.stats.batches += 1
        previous = self.pending
        if previous is None:
            self.gate.__enter__()
            try:
                flight = self.replicator.begin_writes(batch, nbytes)
            except BaseException:
                self.gate.__exit__(None, None, None)
                raise
            self.pending = (batch, nbytes, flight, began)
            return
        # Only the replica that took the batch before directly may take this one directly: any
        # replica that got it by socket (all do when it has a FUA write) may still be applying it.
        flight = self.replicator.begin_writes(batch, nbytes, after=previous[2])
        self.pending = (batch, nbytes, flight, began)
        self.stats.overlapped += 1
        replies = self._collect(previous)
        try:
            sent = self.sock.send(replies, _DONTWAIT)
        except BlockingIOError:
            sent = 0
        if sent < len(replies):  # the client is not reading its replies: never wait for it holding the gate
            last = self.pending
            self.sock.sendall(replies[sent:] + self._close_round())
            self._answered(last)
        self._answered(previous)

    def end(self) -> None:
        """Answer the batch in flight, if any, after leaving the gate."""
        if self.pending is not None:
            last = self.pending
            self.sock.sendall(self._close_round())
            self._answered(last)

    def _answered(self, entry: tuple[list[tuple], int, WritesInFlight, int]) -> None:
        """Latency, as for every batch: from its receipt to its replies sent."""
        self.stats.latency_ns += (time.monotonic_ns() - entry[3]) * len(entry[0])

    def abandon(self) -> None:
        """The connection is going away: collect the acks of the batch in flight (so a pause that
        follows finds it applied by every replica) and leave the gate, answering nothing."""
        if self.pending is not None:
            flight = self.pending[2]
            self.pending = None
            try:
                self.replicator.end_writes(flight)
            finally:
                self.gate.__exit__(None, None, None)

    def _close_round(self) -> bytes:
        """Collect the batch in flight and leave the gate; its replies."""
        assert self.pending is not None
        try:
            return self._collect(self.pending)
        finally:
            self.pending = None
            self.gate.__exit__(None, None, None)

    def _collect(self, entry: tuple[list[tuple], int, WritesInFlight, int]) -> bytes:
        """Collect a batch's acks and count it; its replies."""
        batch, nbytes, flight, _ = entry
        stats = self.stats
        if self.replicator.end_writes(flight):
            error = 0
            stats.writes += len(batch)
            stats.write_bytes += nbytes
        else:
            error = errno.EIO
            stats.errors += len(batch)
        pack = SIMPLE_REPLY.pack
        return b"".join([pack(SIMPLE_REPLY_MAGIC, error, w[4]) for w in batch])
