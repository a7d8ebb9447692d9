"""``Rebuilds``: replica rebuilds running in background threads, limited per node.

A rebuild is one blocking engine ``AddReplica`` call (the engine adds the replica
WO, copies what it lacks — a delta when the replica kept its old data — and flips
it RW). The outcome is recorded through ``domain.services.Replicas``:
RebuildStarted before the call, RebuildCompleted or RebuildFailed after. While the
call runs, the engine's status is read every ``PROGRESS_POLL_S`` and progress is
recorded (RebuildProgressed: bytes done / total) only when it moved by a tenth of
the total or ``PROGRESS_EVERY_S`` went by — a handful of events per rebuild, never
one per chunk; the final one (100 %) just before RebuildCompleted. A
manager killed mid-rebuild leaves the replica ``running`` in the store; the next
manager sees the engine's view (RW: completed; absent or ERR: rebuilt again,
AddReplica resumes). Used by ``manager.reconciler``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from domain.application import ControlPlane
from domain.causation import acting, event_cause
from domain.errors import DomainError
from domain.services import Replicas
from domain.store_errors import STORE_FAILURES
from domain.values import Reason, ReasonCode
from engine.client import EngineClient
from engine.errors import EngineError
from proto import engine_pb2 as pb

log = logging.getLogger("pronghorn.manager.rebuilds")

DEFAULT_REBUILDS_PER_NODE = 5
RETRY_AFTER_S = 10.0  # a failed rebuild is retried no sooner (no event storm from a broken replica)
REBUILD_TIMEOUT_S = 1800.0  # a replica that hangs must not hold a rebuild slot forever
PROGRESS_POLL_S = 2.0  # how often the engine's status is read while a rebuild runs
PROGRESS_STEP = 0.1  # record progress when it moved by this fraction of the total ...
PROGRESS_EVERY_S = 30.0  # ... or, having moved at all, when this long went by


@dataclass
class ProgressRecorder:
    """Decides which of the progress values read from the engine become events."""

    replicas: Replicas
    volume: str
    replica: str
    done: int = 0
    total: int = 0
    at: float = 0.0  # monotonic time of the last record

    def seen(self, done: int, total: int, now: float) -> bool:
        """Record ``done``/``total`` if it moved enough; whether it did."""
        if total <= 0 or (done, total) == (self.done, self.total):
            return False
        moved = abs(done - self.done) >= PROGRESS_STEP * total or total != self.total
        if not moved and now - self.at < PROGRESS_EVERY_S:
            return False
        try:
            self.replicas.rebuild_progress(self.volume, self.replica, min(done, total), total)
        except DomainError as exc:  # e.g. recorded failed meanwhile: the outcome decides
            log.info("progress of %s/%s not recorded: %s", self.volume, self.replica, exc)
            return False
        self.done, self.total, self.at = done, total, now
        return True


class Rebuilds:
    def __init__(self, app: ControlPlane, per_node: int = DEFAULT_REBUILDS_PER_NODE) -> None:
        self.app = app
        self.per_node = per_node
        self.lock = threading.Lock()
        self.running: dict[tuple[str, str], str] = {}  # (volume, replica) -> node
        self.threads: list[threading.Thread] = []
        self.failed_at: dict[tuple[str, str], float] = {}  # monotonic time of the last failure
        self.actor = ""  # who its events say acted (a thread starts with nobody acting)
        self.retries: dict[tuple[str, str], int] = {}  # failed attempts of a rebuild whose failure repeats
        # per rebuild: the error's words -> the failure's reason (the reconciler looks at the disk)
        self.reasons: dict[tuple[str, str], Callable[[str], Reason]] = {}

    def busy(self, volume: str, replica: str) -> bool:
        with self.lock:
            return (volume, replica) in self.running

    def start(self, volume: str, replica: str, node: str, engine: str, address: str,
              reason_of: Callable[[str], Reason] | None = None, cause: int = 0) -> bool:
        """Start rebuilding unless already running or the node is at its limit; ``reason_of`` turns
        a failure's words into its reason (default: RebuildFailed with those words); ``cause``:
        the global position of the event the rebuild reacts to (its failure, its restart)."""
        with self.lock:
            if (volume, replica) in self.running:
                return False
            if time.monotonic() - self.failed_at.get((volume, replica), -RETRY_AFTER_S) < RETRY_AFTER_S:
                return False
            if Counter(self.running.values())[node] >= self.per_node:
                return False
            self.running[(volume, replica)] = node
            if reason_of is not None:
                self.reasons[(volume, replica)] = reason_of
        thread = threading.Thread(target=self._run, args=(volume, replica, engine, address, cause),
                                  name=f"rebuild-{volume}-{replica}", daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()
        return True

    def _run(self, volume: str, replica: str, engine: str, address: str, cause: int = 0) -> None:
        with acting(self.actor or None, cause=event_cause(cause) if cause else ""):
            self._rebuild(volume, replica, engine, address)

    def _rebuild(self, volume: str, replica: str, engine: str, address: str) -> None:
        """Bounded: while a failure repeats, its retries are counted, not recorded (one RebuildFailed
        and one TroubleStarted when it starts; RebuildStarted, RebuildCompleted and TroubleEnded
        with the count once a retry succeeds)."""
        replicas = Replicas(self.app)
        key = (volume, replica)
        retrying = key in self.retries
        try:
            if not retrying:
                replicas.rebuild_started(volume, replica)
            result = self._add_replica(ProgressRecorder(replicas, volume, replica), engine, address)
            if retrying:
                replicas.rebuild_started(volume, replica, result.source)
            done = result.bytes_from_network + result.bytes_copied_locally + result.bytes_already_present
            if done:
                replicas.rebuild_progress(volume, replica, done, done)
            replicas.rebuild_completed(volume, replica, result.source, result.bytes_from_network,
                                       result.bytes_copied_locally, result.bytes_already_present)
            if retrying:
                replicas.trouble_ended(volume, replica, self.retries.pop(key))
            log.info("rebuilt %s/%s from %s: %d bytes over the network, %d already present",
                     volume, replica, result.source, result.bytes_from_network, result.bytes_already_present)
        except (EngineError, DomainError) as exc:
            log.warning("rebuild of %s/%s failed: %s", volume, replica, exc)
            with self.lock:
                self.failed_at[key] = time.monotonic()
            try:
                self._failed(replicas, volume, replica, " ".join(str(exc).split())[:300] or "rebuild failed")
            except DomainError:
                pass  # e.g. recorded failed meanwhile
            except STORE_FAILURES:
                pass  # the store went away: the next pass decides from the engine's view
        except STORE_FAILURES as exc:  # the store went away: the next pass reads the engine's view
            log.warning("rebuild of %s/%s: outcome not recorded: %s", volume, replica, " ".join(str(exc).split()))
            with self.lock:
                self.failed_at[key] = time.monotonic()
        finally:
            with self.lock:
                self.running.pop(key, None)

    def _failed(self, replicas: Replicas, volume: str, replica: str, error: str) -> None:
        key = (volume, replica)
        self.retries[key] = self.retries.get(key, 0) + 1
        if self.retries[key] > 1:
            return  # counted: told when it ends
        reason_of = self.reasons.get(key)
        reason = reason_of(error) if reason_of is not None else Reason(ReasonCode.REBUILD_FAILED, error)
        replicas.rebuild_failed(volume, replica, reason)
        replicas.trouble(volume, replica, Reason(
            reason.code, f"rebuild keeps failing (retried every {RETRY_AFTER_S:g} s): {reason.message}"))

    def _add_replica(self, progress: ProgressRecorder, engine: str, address: str) -> pb.RebuildResult:
        """The engine's AddReplica, its progress recorded from the engine's status meanwhile."""
        with EngineClient(engine) as client, ThreadPoolExecutor(1) as pool:
            call = pool.submit(client.add_replica, address, REBUILD_TIMEOUT_S)
            while True:
                try:
                    result: pb.RebuildResult = call.result(timeout=PROGRESS_POLL_S)
                    return result
                except FutureTimeout:
                    pass
                try:
                    status = client.status()
                except EngineError:
                    continue  # the call's own outcome tells what happened
                for reported in status.replicas:
                    if reported.address == address:
                        progress.seen(reported.rebuild_bytes_done, reported.rebuild_bytes_total, time.monotonic())

    def join(self, timeout: float = 5.0) -> None:
        for thread in self.threads:
            thread.join(timeout)
