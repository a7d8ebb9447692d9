"""``ControlLoop``: runs reconcile passes until told to stop.

A pass runs every ``interval`` seconds (level-triggered: it reconciles everything
from the store's state) and as soon as new events arrive: the loop polls the
notification log's newest id every ``POLL_S`` (SQLite has no subscriptions in
eventsourcing 9.5, and polling works the same on every store) and starts the next
pass right after one that saw (or wrote) new events. Before each pass it asks
``manager.leadership`` whether this manager leads (makes cluster-wide decisions).
A failing pass is logged and retried on the next tick; the loop never dies of one
volume's trouble, nor of the store's: while ``app.health`` says the store is down
(``domain.store_health`` logs when it goes and when it is back) no pass runs, and one
runs as soon as it is back. Used by ``manager.cli`` (``pronghorn up`` / ``pronghorn
manager``) and tests.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

from domain.application import ControlPlane
from domain.causation import acting
from domain.manager_runs_service import ManagerRuns
from domain.store_errors import is_store_failure
from domain.values import Reason, ReasonCode
from manager.leadership import Leadership
from manager.rebuilds import Rebuilds
from manager.reconciler import Reconciler
from manager.replenishment import ReplicaPolicy
from manager.supervisor import Supervisor

log = logging.getLogger("pronghorn.manager")

DEFAULT_INTERVAL_S = 2.0
POLL_S = 0.05  # checking the store's newest notification id costs ~0.1 ms (SQLite)
STORE_WAIT_S = 0.2  # how often a loop waiting for its store looks whether it is back


class ControlLoop:
    def __init__(self, app: ControlPlane, supervisors: dict[str, Supervisor],
                 interval: float = DEFAULT_INTERVAL_S, rebuilds_per_node: int = 5,
                 policy: ReplicaPolicy | None = None, leadership: Leadership | None = None) -> None:
        self.app = app
        self.leadership = leadership or Leadership()
        self.interval = interval
        self.rebuilds = Rebuilds(app, rebuilds_per_node)
        self.reconciler = Reconciler(app, supervisors, self.rebuilds, policy)
        self.stop = threading.Event()
        self.passes = 0
        self.nodes = ",".join(sorted(supervisors))
        self.actor = f"manager:{self.nodes}"  # who the events it records say acted
        self.stop_reason = Reason(ReasonCode.ASKED_TO_STOP, "asked to stop")
        self.rebuilds.actor = self.actor


    def _newest(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)  # type: ignore[attr-defined]

    def stop_by(self, what: str) -> None:
        """Stop after this pass; ``what`` asked (e.g. "SIGTERM"): its Stopped event says so."""
        self.stop_reason = Reason(ReasonCode.ASKED_TO_STOP, f"asked to stop by {what}")
        self.stop.set()

    def run(self) -> None:
        """Passes until stopped; the run's start and stop are events (``domain.manager_runs``)."""
        with acting(self.actor, cause=""):
            self._record(lambda runs: runs.started(self.nodes, os.getpid()))
            try:
                self._run()
            finally:
                self._record(lambda runs: runs.stopped(self.nodes, self.stop_reason))

    def _outage_over(self, outage: tuple[datetime, float, str], runs: ManagerRuns) -> None:
        since, began, why = outage
        runs.store_was_unreachable(self.nodes, since, time.monotonic() - began, why)

    def _record(self, change: Callable[[ManagerRuns], object]) -> None:
        try:
            change(ManagerRuns(self.app))
        except Exception as exc:  # noqa: BLE001 - the store may be down: the loop runs (and stops) anyway
            log.warning("manager run not recorded: %s", " ".join(str(exc).split()) or type(exc).__name__)

    def _run(self) -> None:
        seen = -1
        due = 0.0
        outage: tuple[datetime, float, str] | None = None  # (since, monotonic since, why) while down
        while not self.stop.is_set():
            health = self.app.health
            if health.down and outage is None:
                outage = (datetime.now(UTC) - timedelta(seconds=time.monotonic() - health.since), health.since,
                          health.reason)
            elif outage is not None and not health.down:  # back: one event for the whole outage
                self._record(partial(self._outage_over, outage))
                outage = None
            if health.down:
                for supervisor in self.reconciler.supervisors.values():
                    supervisor.tend()  # launchers need no store
                self.stop.wait(STORE_WAIT_S)
                due = 0.0  # a full pass as soon as the store is back
                continue
            try:
                newest = self._newest()
                now = time.monotonic()
                if newest == seen and now < due:
                    self.stop.wait(POLL_S)
                    continue
                # events arrived (or the interval passed): a pass now; events recorded during it
                # (by this pass or by others) start the next pass at once, without a poll's wait
                seen = newest
                due = now + self.interval
                for supervisor in self.reconciler.supervisors.values():
                    supervisor.tend()
                self.reconciler.leader = self.leadership.is_leader()
                self.reconciler.run_pass()
                self.passes += 1  # completed passes
            except Exception as exc:  # noqa: BLE001 - keep the control loop alive; the next pass retries
                if not is_store_failure(exc):
                    log.exception("reconcile pass failed")
                elif not self.app.health.down:  # else the store's health said it, once
                    log.warning("reconcile pass failed: %s", " ".join(str(exc).split()) or type(exc).__name__)
                self.stop.wait(POLL_S)
        self.rebuilds.join()
        self.leadership.close()
