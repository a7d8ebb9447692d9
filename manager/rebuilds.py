"""``Rebuilds``: replica rebuilds running in background threads, limited per node.

A rebuild is one blocking engine ``AddReplica`` call (the engine adds the replica
WO, copies what it lacks — a delta when the replica kept its old data — and flips
it RW). The outcome is recorded through ``domain.services.Replicas``:
RebuildStarted before the call, RebuildCompleted or RebuildFailed after. A
manager killed mid-rebuild leaves the replica ``running`` in the store; the next
manager sees the engine's view (RW: completed; absent or ERR: rebuilt again,
AddReplica resumes). Used by ``manager.reconciler``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from domain.application import ControlPlane
from domain.errors import DomainError
from domain.services import Replicas
from engine.client import EngineClient
from engine.errors import EngineError

log = logging.getLogger("pronghorn.manager.rebuilds")

DEFAULT_REBUILDS_PER_NODE = 5
RETRY_AFTER_S = 10.0  # a failed rebuild is retried no sooner (no event storm from a broken replica)
REBUILD_TIMEOUT_S = 1800.0  # a replica that hangs must not hold a rebuild slot forever


class Rebuilds:
    def __init__(self, app: ControlPlane, per_node: int = DEFAULT_REBUILDS_PER_NODE) -> None:
        self.app = app
        self.per_node = per_node
        self.lock = threading.Lock()
        self.running: dict[tuple[str, str], str] = {}  # (volume, replica) -> node
        self.threads: list[threading.Thread] = []
        self.failed_at: dict[tuple[str, str], float] = {}  # monotonic time of the last failure

    def busy(self, volume: str, replica: str) -> bool:
        with self.lock:
            return (volume, replica) in self.running

    def start(self, volume: str, replica: str, node: str, engine: str, address: str) -> bool:
        """Start rebuilding unless already running or the node is at its limit."""
        with self.lock:
            if (volume, replica) in self.running:
                return False
            if time.monotonic() - self.failed_at.get((volume, replica), -RETRY_AFTER_S) < RETRY_AFTER_S:
                return False
            if Counter(self.running.values())[node] >= self.per_node:
                return False
            self.running[(volume, replica)] = node
        thread = threading.Thread(target=self._run, args=(volume, replica, engine, address),
                                  name=f"rebuild-{volume}-{replica}", daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()
        return True

    def _run(self, volume: str, replica: str, engine: str, address: str) -> None:
        replicas = Replicas(self.app)
        try:
            replicas.rebuild_started(volume, replica)
            with EngineClient(engine) as client:
                result = client.add_replica(address, timeout=REBUILD_TIMEOUT_S)
            replicas.rebuild_completed(volume, replica)
            log.info("rebuilt %s/%s from %s: %d bytes over the network, %d already present",
                     volume, replica, result.source, result.bytes_from_network, result.bytes_already_present)
        except (EngineError, DomainError) as exc:
            log.warning("rebuild of %s/%s failed: %s", volume, replica, exc)
            with self.lock:
                self.failed_at[(volume, replica)] = time.monotonic()
            try:
                replicas.rebuild_failed(volume, replica, " ".join(f"{type(exc).__name__}: {exc}".split())[:300])
            except DomainError:
                pass
        finally:
            with self.lock:
                self.running.pop((volume, replica), None)

    def join(self, timeout: float = 5.0) -> None:
        for thread in self.threads:
            thread.join(timeout)
