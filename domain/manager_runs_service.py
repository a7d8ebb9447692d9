"""``ManagerRuns``: application service recording a manager's starts and stops (``domain.manager_runs``).

Used by ``manager.loop``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.ids import manager_id
from domain.manager_runs import ManagerRun
from domain.service import Service
from domain.values import Reason


class ManagerRuns(Service):
    def _run(self, nodes: str, change: Callable[[ManagerRun], object]) -> ManagerRun:
        def command() -> ManagerRun:
            run: Aggregate
            try:
                run = self.app.repository.get(manager_id(nodes))
            except AggregateNotFoundError:
                run = ManagerRun.create(nodes)
            assert isinstance(run, ManagerRun)
            change(run)
            self.app.save(run)
            return run

        return self._retry(f"manager of {nodes}", command)

    def started(self, nodes: str, pid: int) -> ManagerRun:
        return self._run(nodes, lambda r: r.start(pid))

    def stopped(self, nodes: str, reason: Reason) -> ManagerRun:
        return self._run(nodes, lambda r: r.stop(reason))

    def store_was_unreachable(self, nodes: str, since: datetime, seconds: float, why: str) -> ManagerRun:
        return self._run(nodes, lambda r: r.note_store_outage(since, seconds, why))
