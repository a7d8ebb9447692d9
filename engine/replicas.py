"""The engine's replica set: each replica's addresses and mode (RW, WO, ERR).

Shared by every NBD connection's replicator (which reads the current targets
and reports failures) and by the control service (status, add/remove, rebuild).
A failure is recorded with the errno/exception class that caused it, never
decided by message text. ``version`` changes whenever membership or a mode
changes, so the hot path re-reads the set only then.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum

log = logging.getLogger("pronghorn.engine")


class Mode(StrEnum):
    RW = "RW"  # in sync: reads and writes
    WO = "WO"  # being rebuilt: receives writes, never serves reads
    ERR = "ERR"  # failed: receives nothing until rebuilt


@dataclass(eq=False)
class Replica:
    control: str  # gRPC control address host:port
    data: str  # data address: host:port or unix:/path
    mode: Mode
    error: str = ""
    error_at: float = 0.0  # when it went ERR (time.time(): the engine's clock, not the manager's)
    rebuild_done: int = 0  # while WO: bytes of the layers in place (engine.rebuild)
    rebuild_total: int = 0  # while WO: bytes the source's layers hold (0: not known yet)


@dataclass(frozen=True)
class ReplicaFailure:
    """One replica's failure, named; several of them make a `ReplicaErrors`."""

    control: str
    reason: str
    error: Exception | None = field(default=None, compare=False)  # what the replica raised, when known


class ReplicaErrors(Exception):
    """Per-replica failures collected in one value naming each replica."""

    def __init__(self, failures: list[ReplicaFailure]) -> None:
        self.failures = failures
        super().__init__("; ".join(f"{f.control}: {f.reason}" for f in failures))


@dataclass
class ReplicaSet:
    replicas: list[Replica] = field(default_factory=list)
    version: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def members(self) -> tuple[int, list[Replica]]:
        with self.lock:
            return self.version, list(self.replicas)

    def by_mode(self, *modes: Mode) -> list[Replica]:
        with self.lock:
            return [r for r in self.replicas if r.mode in modes]

    def find(self, control: str) -> Replica | None:
        with self.lock:
            return next((r for r in self.replicas if r.control == control), None)

    @property
    def faulted(self) -> bool:
        return not self.by_mode(Mode.RW)

    def add(self, replica: Replica) -> None:
        with self.lock:
            if any(r.control == replica.control for r in self.replicas):
                raise ValueError(f"replica {replica.control} is already in the set")
            self.replicas.append(replica)
            self.version += 1

    def remove(self, replica: Replica) -> None:
        with self.lock:
            self.replicas.remove(replica)
            self.version += 1

    def set_mode(self, replica: Replica, mode: Mode, error: str = "") -> None:
        with self.lock:
            replica.mode, replica.error = mode, error
            replica.error_at = time.time() if mode is Mode.ERR else 0.0
            self.version += 1

    def mark_err(self, replica: Replica, reason: str) -> None:
        with self.lock:
            if replica.mode is Mode.ERR:
                return
            replica.mode, replica.error, replica.error_at = Mode.ERR, reason, time.time()
            self.version += 1
        log.warning("replica %s is now ERR: %s", replica.control, reason)
