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
direct writes are made in that order). Anything but aligned writes (reads,
FLUSH, TRIM...) first ends the batch in flight, so it sees its writes.

The I/O gate (engine/io_gate.py) is held from the first batch begun to the last
one ended; the loop stops beginning batches as soon as a pause (snapshot,
expand, membership change) waits, so a stream of writes cannot starve it.
"""

from __future__ import annotations

import errno
import socket
import time

from engine.nbd.protocol import SIMPLE_REPLY, SIMPLE_REPLY_MAGIC
from engine.replicator import Replicator, WritesInFlight
from engine.volume import IoStats, Volume


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
        if self.pending is None:
            self.gate.__enter__()
            try:
                flight = self.replicator.begin_writes(batch, nbytes)
            except BaseException:
                self.gate.__exit__(None, None, None)
                raise
        else:
            flight = self.replicator.begin_writes(batch, nbytes, idle=False)
            self.stats.overlapped += 1
            self._answer()
        self.pending = (batch, nbytes, flight, began)

    def end(self) -> None:
        """Answer the batch in flight, if any, and leave the gate."""
        if self.pending is not None:
            try:
                self._answer()
            finally:
                self.gate.__exit__(None, None, None)

    def abandon(self) -> None:
        """The connection is going away: leave the gate without answering the batch in flight."""
        if self.pending is not None:
            self.pending = None
            self.gate.__exit__(None, None, None)

    def _answer(self) -> None:
        assert self.pending is not None
        batch, nbytes, flight, began = self.pending
        self.pending = None
        stats = self.stats
        if self.replicator.end_writes(flight):
            error = 0
            stats.writes += len(batch)
            stats.write_bytes += nbytes
        else:
            error = errno.EIO
            stats.errors += len(batch)
        pack = SIMPLE_REPLY.pack
        self.sock.sendall(b"".join([pack(SIMPLE_REPLY_MAGIC, error, w[4]) for w in batch]))
        stats.latency_ns += (time.monotonic_ns() - began) * len(batch)
