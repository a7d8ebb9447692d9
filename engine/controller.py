"""The engine's control operations: status, snapshots, expand, membership, frontend.

Called by the gRPC control service (engine/control_service.py), one mutating
operation at a time. Operations that change the chain pause I/O (the volume's
gate) so every replica sees the same writes before and after. Each replica's
failure is collected by name; a replica that fails an operation becomes ERR,
and the operation succeeds while at least one RW replica did it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from engine import errors
from engine.nbd.server import NbdServer
from engine.replicas import Mode, Replica, ReplicaErrors, ReplicaFailure
from engine.volume import IoStats, Volume
from replica import errors as replica_errors
from replica.client import ControlClient, SnapshotInfo
from replica.wire import SECTOR

T = TypeVar("T")
CALLER_ERRORS = {
    replica_errors.InvalidArgument: errors.InvalidArgument,
    replica_errors.NotFound: errors.NotFound,
    replica_errors.AlreadyExists: errors.AlreadyExists,
    replica_errors.FailedPrecondition: errors.FailedPrecondition,
}

# Replica errors after which its chain is as it was: a refused expand leaves it in sync.
REFUSALS = (replica_errors.InvalidArgument, replica_errors.FailedPrecondition, replica_errors.CannotHold)


def _outcome(failures: list[ReplicaFailure]) -> type[errors.EngineError]:
    """A definite refusal by any replica refuses the expand; otherwise it may work later."""
    return errors.ExpandRefused if any(isinstance(f.error, REFUSALS) for f in failures) else errors.Unavailable


@dataclass(frozen=True)
class EngineState:
    volume: str
    size: int
    state: str  # healthy, degraded, faulted
    revision: int
    replicas: list[Replica]
    io: IoStats
    frontend: bool
    nbd: str
    nbd_socket: str
    rebuilding: bool
    nbd_clients: int = 0  # NBD client connections open now


class Controller:
    def __init__(self, volume: Volume, nbd: NbdServer) -> None:
        self.volume = volume
        self.nbd = nbd
        self.lock = threading.Lock()  # one mutating control operation at a time
        self.frontend_lock = threading.Lock()
        self.rebuilding = False

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """The control lock; while a rebuild holds it, fail fast instead of queueing for minutes."""
        if self.rebuilding:
            raise errors.FailedPrecondition("a rebuild is in progress; retry when it is done")
        with self.lock:
            yield

    def client(self, replica: Replica) -> ControlClient:
        return ControlClient(replica.control, timeout=max(self.volume.timeout, 30.0))

    # -- status -----------------------------------------------------------
    def status(self) -> EngineState:
        _, members = self.volume.replicas.members()
        modes = [r.mode for r in members]
        state = "faulted" if Mode.RW not in modes else "healthy" if set(modes) == {Mode.RW} else "degraded"
        revision = -1
        for replica in members:
            if replica.mode is Mode.RW:
                try:
                    with self.client(replica) as client:
                        revision = client.get_revision_counter()
                    break
                except replica_errors.ReplicaError:
                    continue
        return EngineState(
            self.volume.name, self.volume.size, state, revision, members, self.volume.totals(),
            self.nbd.running, self.nbd.address, self.nbd.unix_path or "", self.rebuilding,
            self.nbd.client_count(),
        )

    # -- every replica ----------------------------------------------------
    def on_each(self, fn: Callable[[ControlClient], T], modes: tuple[Mode, ...] = (Mode.RW,)) -> list[T]:
        """Run ``fn`` on each replica in ``modes``; failed replicas turn ERR.

        A caller error (bad name, no such snapshot...) on the first replica is
        raised before anything changed; later failures are the replica's.
        """
        results: list[T] = []
        failures: list[ReplicaFailure] = []
        for replica in self.volume.replicas.by_mode(*modes):
            try:
                with self.client(replica) as client:
                    results.append(fn(client))
            except replica_errors.ReplicaError as exc:
                caller_error = CALLER_ERRORS.get(type(exc))
                if caller_error is not None and not results and not failures:
                    raise caller_error(str(exc)) from exc
                failures.append(ReplicaFailure(replica.control, f"{exc.__class__.__name__}: {exc}"))
                self.volume.replicas.mark_err(replica, failures[-1].reason)
        if not results:
            raise errors.Unavailable(str(ReplicaErrors(failures)) or "no RW replica")
        return results

    # -- snapshots --------------------------------------------------------
    def snapshot(self, name: str = "", labels: dict[str, str] | None = None) -> SnapshotInfo:
        name = name or str(uuid.uuid4())
        created = datetime.now(UTC).isoformat()
        with self.exclusive(), self.volume.gate.paused():
            return self.take_snapshot(name, created, True, labels or {})

    def take_snapshot(self, name: str, created: str, user: bool, labels: dict[str, str]) -> SnapshotInfo:
        """Snapshot every RW replica (caller holds the lock and has paused I/O)."""
        existing = self.on_each(lambda c: c.list_snapshots())[0]
        if any(s.name == name for s in existing):
            raise errors.AlreadyExists(f"snapshot {name!r} already exists")
        return self.on_each(lambda c: c.snapshot(name, created, user, labels))[0]

    def list_snapshots(self) -> list[SnapshotInfo]:
        return self.on_each(lambda c: c.list_snapshots())[0]

    def revert(self, name: str) -> None:
        with self.exclusive(), self.volume.gate.paused():
            if self.nbd.running:
                raise errors.FailedPrecondition("stop the frontend before reverting")
            self.on_each(lambda c: c.revert(name))

    def delete_snapshot(self, name: str) -> None:
        with self.exclusive(), self.volume.gate.paused():
            self.on_each(lambda c: c.mark_removed(name))
            self.on_each(lambda c: c.purge())

    # -- size and membership ----------------------------------------------
    def expand(self, size: int) -> None:
        """Grow every RW/WO replica, then the volume: in two phases, under paused I/O.

        Each replica first checks it can take the size; one refusal refuses the
        expand with nothing changed (a refusal does not turn a replica ERR). Then
        each grows; if one fails, those already grown are shrunk back (one that
        cannot be shrunk back turns ERR, as does one that did not answer) and the
        volume keeps serving at its old size. ``ExpandRefused`` when a replica
        cannot hold the size; ``Unavailable`` when one did not answer (retry later).
        """
        if size % SECTOR or size < self.volume.size:
            raise errors.InvalidArgument(f"new size {size} must be a multiple of {SECTOR} >= {self.volume.size}")
        with self.exclusive(), self.volume.gate.paused():
            old = self.volume.size
            if size == old:
                return
            targets = self.volume.replicas.by_mode(Mode.RW, Mode.WO)
            refusals = self._each_expand(targets, lambda c: c.check_expand(size))
            if refusals:
                raise _outcome(refusals)(f"expand to {size} bytes refused, still {old}: {ReplicaErrors(refusals)}")
            grown: list[Replica] = []
            for replica in targets:
                failed = self._each_expand([replica], lambda c: c.expand(size))
                if not failed:
                    grown.append(replica)
                    continue
                for stuck in self._each_expand(grown, lambda c: c.undo_expand(size, old)):
                    self._mark_err(stuck)  # left bigger than the others
                if not isinstance(failed[0].error, REFUSALS):
                    self._mark_err(failed[0])  # did not answer: its state is unknown
                raise _outcome(failed)(f"expand to {size} bytes failed, still {old}: {ReplicaErrors(failed)}")
            self.volume.size = size

    def _each_expand(self, replicas: list[Replica],
                     step: Callable[[ControlClient], object]) -> list[ReplicaFailure]:
        failures = []
        for replica in replicas:
            try:
                with self.client(replica) as client:
                    step(client)
            except replica_errors.ReplicaError as exc:
                failures.append(ReplicaFailure(replica.control, f"{exc.__class__.__name__}: {exc}", exc))
        return failures

    def _mark_err(self, failure: ReplicaFailure) -> None:
        replica = self.volume.replicas.find(failure.control)
        if replica is not None:
            self.volume.replicas.mark_err(replica, failure.reason)

    def remove_replica(self, address: str) -> None:
        with self.exclusive(), self.volume.gate.paused():
            replica = self.volume.replicas.find(address.removeprefix("tcp://"))
            if replica is None:
                raise errors.NotFound(f"no replica {address}")
            if replica.mode is Mode.RW and len(self.volume.replicas.by_mode(Mode.RW)) == 1:
                raise errors.FailedPrecondition(f"{address} is the last RW replica")
            self.volume.replicas.remove(replica)

    # -- frontend ---------------------------------------------------------
    def frontend_start(self) -> None:
        with self.frontend_lock:  # not the control lock: a rebuild must not block the frontend
            self.nbd.start()

    def frontend_stop(self) -> None:
        with self.frontend_lock:
            self.nbd.stop()
