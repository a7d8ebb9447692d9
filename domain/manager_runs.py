"""``ManagerRun``: when the manager of a set of nodes started and stopped, and why it stopped.

Commands -> events: ``start(pid)`` (Started; when the previous run never said it stopped,
the event says so: it was killed or crashed), ``stop(reason)`` (Stopped, with a
``Reason``), ``note_store_outage`` (StoreWasUnreachable: one event per outage, recorded
when the store is back, with when it went, how long, and why). The manager of nodes "node1,node2" is one aggregate over all its runs,
so its history answers "was the manager of node2 running at 10:42?". Recorded through
``domain.manager_runs_service.ManagerRuns`` by ``manager.loop``; read by ``pronghorn events --aggregate ManagerRun``.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import validation
from domain.errors import InvalidValue
from domain.ids import manager_id
from domain.values import Reason, ReasonCode

UNANNOUNCED = Reason(ReasonCode.PROCESS_EXITED, "the previous run ended without stopping: killed or crashed")


class ManagerRun(Aggregate):
    @staticmethod
    def create_id(name: str) -> UUID:
        return manager_id(name)

    @classmethod
    def create(cls, nodes: str) -> ManagerRun:
        return cls(name=validation.text("nodes", nodes, 1000))

    def __init__(self, name: str) -> None:
        self.name = name  # its nodes, "node1,node2" (as events name aggregates)
        self.running = False
        self.pid = 0
        self.runs = 0

    def start(self, pid: int) -> None:
        pid = validation.integer("pid", pid, 1)
        if self.running and pid == self.pid:
            return
        self._started(pid, UNANNOUNCED.message if self.running else "")

    @event("Started")
    def _started(self, pid: int, previous: str = "") -> None:
        self.running = True
        self.pid = pid
        self.runs += 1

    def stop(self, reason: Reason) -> None:
        if not isinstance(reason, Reason):
            raise InvalidValue("reason", reason, "must be a Reason (a code and a message)")
        if self.running:
            self._stopped(Reason(validation.choice("reason code", reason.code, ReasonCode),
                                 validation.text("reason", reason.message)))

    def note_store_outage(self, since: datetime, seconds: float, why: str) -> None:
        if not isinstance(since, datetime) or since.tzinfo is None:
            raise InvalidValue("since", since, "must be a timezone-aware datetime")
        if not isinstance(seconds, (int, float)) or seconds < 0:
            raise InvalidValue("seconds", seconds, "must be a duration in seconds")
        message = f"the event store did not answer for {seconds:.0f} s: {validation.text('reason', why or 'no answer')}"
        self._store_was_unreachable(since, round(float(seconds), 3), Reason(ReasonCode.STORE_UNREACHABLE, message))

    @event("StoreWasUnreachable")
    def _store_was_unreachable(self, since: datetime, seconds: float, reason: Reason) -> None:
        pass

    @event("Stopped")
    def _stopped(self, reason: Reason) -> None:
        self.running = False

