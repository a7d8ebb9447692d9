"""``JobRunner``: fires due recurring jobs — snapshot requests plus retention — once each.

Called with the current time (tests inject it) by ``JobScheduler``, the thread the
manager runs beside its control loop: ``JobRunner(app).run(now)``. For each snapshot job whose cron has a fire time in
``(last fired (or created), now]``, it records, in ONE transaction
(``RecurringJobs.fire``): the job's ``Fired`` event for the latest such time (missed
earlier times are folded into it), a snapshot request on each of the job's live
volumes named ``<job>-<YYYYMMDD-HHMM>`` (UTC) and labelled ``recurring-job=<job>``
plus the job's labels, and a removed mark on the oldest snapshots that job made
beyond ``retain`` (counting requests not yet taken; an old request never taken,
e.g. of a detached volume, is dropped instead, so requests never pile up). A
volume whose chain refuses the request (full) is skipped; the others still fire.
A volume deleted (or being deleted) since is dropped from the job first
(``VolumesDropped``); a job left with no volume does not fire.
The manager's reconciler takes the requested snapshots and purges removed ones. A restarted runner reads
``last_fired`` from the store, so a fire time is never fired twice, and two runners
racing on one store are serialised by the job aggregate's version.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from eventsourcing.domain import Aggregate

from domain.application import ControlPlane
from domain.causation import acting
from domain.cron import last_fire
from domain.errors import DomainError, NotFound
from domain.jobs import JobTask, RecurringJob
from domain.jobs_service import RecurringJobs
from domain.services import Snapshots, Volumes
from domain.snapshots import SnapshotChain
from domain.store_errors import is_store_failure
from domain.values import VolumeState

log = logging.getLogger("pronghorn.jobs")

JOB_LABEL = "recurring-job"
SCHEDULER_INTERVAL_S = 10.0  # fire times are whole minutes: a job fires within this long of its minute
STAMP = "%Y%m%d-%H%M"
MAX_NAME = 63


@dataclass(frozen=True)
class Fired:
    """One fire a run recorded."""

    job: str
    at: datetime
    requested: tuple[str, ...]  # "volume/snapshot"


def snapshot_name(job: str, at: datetime) -> str:
    """``<job>-<YYYYMMDD-HHMM>``, the job name shortened so the whole fits 63 characters."""
    stamp = at.strftime(STAMP)
    return f"{job[: MAX_NAME - len(stamp) - 1].rstrip('-.')}-{stamp}"


def made_by(chain: SnapshotChain, job: str) -> list[tuple[str, bool]]:
    """(name, taken) of the job's live snapshots (by creation time), then its pending
    requests (by name, which holds the fire time): oldest first."""
    taken = sorted((s.created, s.name) for s in chain.snapshots.values()
                   if s.labels.get(JOB_LABEL) == job and not s.removed)
    pending = sorted(name for name, labels in chain.requests.items() if labels.get(JOB_LABEL) == job)
    return [(name, True) for _, name in taken] + [(name, False) for name in pending]


class JobRunner:
    def __init__(self, app: ControlPlane) -> None:
        self.jobs = RecurringJobs(app)
        self.volumes = Volumes(app)
        self.snapshots = Snapshots(app)

    def run(self, now: datetime) -> list[Fired]:
        """Fire every due job once; returns what was recorded."""
        done: list[Fired] = []
        for job in self.jobs.list():
            if job.task != JobTask.SNAPSHOT:
                continue  # backups: not built yet
            at = last_fire(job.schedule, job.last_fired or job.created_on, now)
            if at is None:
                continue
            gone = [volume for volume in job.volumes if self._gone(volume)]
            if gone:
                job = self.jobs.drop_volumes(job.name, gone, "deleted")
                log.info("job %s: dropped deleted volumes %s", job.name, ", ".join(gone))
            if not job.volumes:
                continue
            outcome: list[str] = []

            def effects(fresh: RecurringJob, at: datetime = at, outcome: list[str] = outcome,
                        ) -> tuple[list[str], list[Aggregate]]:
                requested, chains = self._snapshot(fresh, at)
                outcome[:] = requested
                return requested, chains

            with acting(f"job:{job.name}"):
                fired = self.jobs.fire(job.name, at, effects)
            if fired:
                done.append(Fired(job.name, at, tuple(outcome)))
        return done

    def _gone(self, volume: str) -> bool:
        try:
            return self.volumes.get(volume).state in (VolumeState.DELETING, VolumeState.DELETED)
        except NotFound:
            return True  # named before jobs checked their volumes

    def _snapshot(self, job: RecurringJob, at: datetime) -> tuple[list[str], list[Aggregate]]:
        name = snapshot_name(job.name, at)
        labels = {**job.labels, JOB_LABEL: job.name}
        requested: list[str] = []
        chains: list[Aggregate] = []
        for volume in job.volumes:
            try:
                state = self.volumes.get(volume).state
                chain = self.snapshots.chain(volume)
            except NotFound:
                continue  # a job may name volumes that do not exist (yet)
            if state in (VolumeState.CREATING, VolumeState.DELETING, VolumeState.DELETED) or name in chain.snapshots:
                continue
            try:
                if name not in chain.requests:
                    chain.request(name, labels)
                    requested.append(f"{volume}/{name}")
            except DomainError as refused:  # e.g. the chain is full: skip this volume, fire for the others
                log.warning("job %s: no snapshot of %s: %s", job.name, volume, refused)
                continue
            mine = made_by(chain, job.name)
            for old, taken in mine[: max(0, len(mine) - job.retain)]:
                if taken:
                    chain.mark_removed(old)
                else:  # never taken (e.g. the volume stayed detached): drop the request
                    chain.fail_request(old, f"superseded: recurring job {job.name!r} keeps {job.retain}")
            chains.append(chain)
        return requested, chains


class JobScheduler:
    """Runs ``JobRunner.run(clock())`` every ``interval`` seconds in a thread until ``stop()``.

    Started by ``pronghorn up`` / ``pronghorn manager`` beside the control loop. A failing
    run is logged and retried at the next tick (the store says what already fired). While
    the store is down (``app.health``) nothing runs; the first run after it is back fires a
    job's missed times once (the latest), as after any pause.
    """

    def __init__(self, app: ControlPlane, interval: float = SCHEDULER_INTERVAL_S,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.app = app
        self.runner = JobRunner(app)
        self.interval = interval
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pronghorn-jobs", daemon=True)

    def start(self) -> JobScheduler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.app.health.down:  # else skipped: its watcher logs the outage, once
                self._run_once()
            self._stop.wait(self.interval)

    def _run_once(self) -> None:
        try:
            for fired in self.runner.run(self.clock()):
                log.info("job %s fired for %s: %s", fired.job, fired.at.isoformat(),
                         ", ".join(fired.requested) or "no live volumes")
        except Exception as exc:  # noqa: BLE001 - keep scheduling; the next tick retries
            if not is_store_failure(exc):
                log.exception("recurring job run failed")
            elif not self.app.health.down:
                log.warning("recurring job run failed: %s", " ".join(str(exc).split()) or type(exc).__name__)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
