"""``RecurringJobs``: application service for recurring jobs (create, update, delete, fire).

Listing reads a ``Catalog`` ("jobs") saved in the same transaction as each create
and delete. ``fire`` records a fire time together with whatever the firing changed
(e.g. snapshot requests on volumes' chains) in ONE save, so a fire is either
recorded with its effects or not at all — a restarted runner never fires twice.
Called by adapters (CLI, REST), ``manager.jobs`` and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from eventsourcing.domain import Aggregate

from domain.errors import AlreadyExists, JobNotFound, VolumeNotFound
from domain.ids import job_id
from domain.jobs import JobTask, RecurringJob
from domain.service import Service
from domain.services import Volumes
from domain.values import VolumeState

JOBS = "jobs"


class RecurringJobs(Service):
    def get(self, name: str) -> RecurringJob:
        """The job; JobNotFound if it never existed or was deleted."""
        job = self._load(RecurringJob, job_id(name), lambda: JobNotFound(name))
        if job.deleted:
            raise JobNotFound(name)
        return job

    def names(self) -> list[str]:
        return self._catalog(JOBS).sorted_names()

    def list(self) -> list[RecurringJob]:
        return [self.get(name) for name in self.names()]

    def create(self, name: str, task: JobTask | str, cron: str, retain: int, volumes: Iterable[str] = (),
               labels: Mapping[str, str] | None = None) -> RecurringJob:
        volumes = list(volumes)

        def command() -> RecurringJob:
            job = RecurringJob.create(name, task, cron, retain, volumes, labels)
            self._require_live(job.volumes)
            if self._exists(job.id):
                job = self._load(RecurringJob, job.id, lambda: JobNotFound(name))
                if not job.deleted:
                    raise AlreadyExists("recurring job", name)
                job.recreate(task, cron, retain, volumes, labels)
            catalog = self._catalog(JOBS)
            catalog.add(name)
            self.app.save(job, catalog)
            return job

        return self._retry(f"recurring job {name!r}", command)

    def update(self, name: str, cron: str | None = None, retain: int | None = None,
               volumes: Iterable[str] | None = None, labels: Mapping[str, str] | None = None) -> RecurringJob:
        volumes = None if volumes is None else list(volumes)

        def change(job: RecurringJob) -> None:
            before = set(job.volumes)
            job.update(cron, retain, volumes, labels)
            self._require_live([v for v in job.volumes if v not in before])  # named before: may be gone since

        return self._change(f"recurring job {name!r}", lambda: self.get(name), change)

    def drop_volumes(self, name: str, volumes: Iterable[str], reason: str) -> RecurringJob:
        volumes = list(volumes)
        return self._change(f"recurring job {name!r}", lambda: self.get(name),
                            lambda job: job.drop_volumes(volumes, reason))

    def _require_live(self, volumes: Iterable[str]) -> None:
        """VolumeNotFound for a volume that does not exist or is deleted (being deleted)."""
        for volume in volumes:
            if Volumes(self.app).get(volume).state in (VolumeState.DELETING, VolumeState.DELETED):
                raise VolumeNotFound(volume, f"volume {volume!r} is deleted; a job snapshots live volumes")

    def delete(self, name: str) -> RecurringJob:
        def command() -> RecurringJob:
            job = self.get(name)
            job.delete()
            catalog = self._catalog(JOBS)
            catalog.drop(name)
            self.app.save(job, catalog)
            return job

        return self._retry(f"recurring job {name!r}", command)

    def fire(self, name: str, at: datetime,
             effects: Callable[[RecurringJob], tuple[Iterable[str], Sequence[Aggregate]]]) -> bool:
        """Record fire time ``at`` of job ``name`` with its effects, in one transaction.

        ``effects(job)`` returns (descriptions of what was requested, changed aggregates
        to save with the job); it runs again on a fresh job after a conflict. False
        (and nothing saved) when a fire at or after ``at`` is already recorded."""
        def command() -> bool:
            job = self.get(name)
            if job.last_fired is not None and at <= job.last_fired:
                return False
            requested, changed = effects(job)
            job.fire(at, requested)
            self.app.save(job, *changed)
            return True

        return self._retry(f"recurring job {name!r}", command)
