"""The volume an engine serves: size, replica set, I/O gate and counters.

One instance per engine process, shared by every NBD connection's replicator
and by the control service.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from engine.io_gate import IoGate
from engine.replicas import ReplicaSet


@dataclass
class IoStats:
    """One NBD connection's counters; the control service sums them."""

    reads: int = 0
    writes: int = 0
    others: int = 0  # flush, trim, write-zeroes
    read_bytes: int = 0
    write_bytes: int = 0
    errors: int = 0
    batches: int = 0
    latency_ns: int = 0  # sum over requests of (reply sent - batch received)
    direct_reads: int = 0  # reads served from a same-machine replica's files (engine/local_replica.py)
    direct_writes: int = 0  # writes the engine made into a same-machine replica's head
    overlapped: int = 0  # write batches sent before the previous one's acks came (engine/nbd/write_pipeline.py)


@dataclass
class Volume:
    name: str
    size: int
    replicas: ReplicaSet
    timeout: float = 8.0
    local_io: bool = True  # I/O on same-machine replicas' files (engine/local_replica.py)
    gate: IoGate = field(default_factory=IoGate)
    rmw_lock: threading.Lock = field(default_factory=threading.Lock)
    stats: list[IoStats] = field(default_factory=list)
    retired: IoStats = field(default_factory=IoStats)  # counters of closed connections

    def totals(self) -> IoStats:
        total = IoStats(**vars(self.retired))
        for s in list(self.stats):
            for key, value in vars(s).items():
                setattr(total, key, getattr(total, key) + value)
        return total

    def retire(self, stats: IoStats) -> None:
        for key, value in vars(stats).items():
            setattr(self.retired, key, getattr(self.retired, key) + value)
        self.stats.remove(stats)
