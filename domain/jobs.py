"""``RecurringJob``: a schedule that snapshots (later: backs up) a set of volumes.

Fields: name, task (``JobTask``), cron (5-field, see ``domain.cron``), retain (how
many of the job's snapshots to keep per volume), volumes, labels (added to each
snapshot it makes). Commands -> events: ``create`` (Created), ``update`` (Updated),
``delete`` (Deleted), ``recreate`` (Recreated: a deleted name used again), ``fire``
(Fired: the fire time and the snapshots requested), ``drop_volumes`` (VolumesDropped:
volumes deleted since, with why). The ``backup`` task is refused until backups exist. ``last_fired`` is what makes a
runner idempotent across restarts: a fire time at or before it is never fired again.
Used by ``domain.jobs_service.RecurringJobs``; ``manager.jobs`` decides when to fire.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import cron, validation
from domain.errors import InvalidTransition, InvalidValue
from domain.ids import job_id

MAX_RETAIN = 100
MAX_VOLUMES = 1000
MAX_LABELS = 64  # added to every snapshot the job makes


class JobTask(StrEnum):
    SNAPSHOT = "snapshot"
    BACKUP = "backup"


class JobSpec(TypedDict):
    task: str
    cron: str
    retain: int
    volumes: tuple[str, ...]
    labels: dict[str, str]


def _spec(task: object, cron_expression: Any, retain: object, volumes: Iterable[object],
          labels: Mapping[str, str] | None) -> JobSpec:
    """Validated, normalised job fields (plain types, so replays give the same values)."""
    if isinstance(volumes, str):
        raise InvalidValue("volumes", volumes, "must be a list of volume names, not one string")
    names = tuple(sorted({validation.name("volume name", v) for v in volumes}))
    if len(names) > MAX_VOLUMES:
        raise InvalidValue("volumes", len(names), f"at most {MAX_VOLUMES} volumes")
    if labels is not None and not isinstance(labels, Mapping):
        raise InvalidValue("labels", labels, "must be a mapping of strings")
    if labels is not None and len(labels) > MAX_LABELS:
        raise InvalidValue("labels", len(labels), f"at most {MAX_LABELS}")
    return JobSpec(**{
        "task": str(validation.choice("task", task, JobTask)),
        "cron": cron.parse(cron_expression).expression,
        "retain": validation.integer("retain", retain, 1, MAX_RETAIN),
        "volumes": names,
        "labels": {validation.text("label key", k, 63): validation.text("label value", v, 255)
                   for k, v in (labels or {}).items()},
    })


def _buildable(task: object) -> JobTask:
    """A task this version can run (``backup`` needs backups, which are not built yet)."""
    task = validation.choice("task", task, JobTask)
    if task == JobTask.BACKUP:
        raise InvalidValue("task", str(task), "backups are not built yet: only 'snapshot' jobs run")
    return task


class RecurringJob(Aggregate):
    @staticmethod
    def create_id(name: str) -> UUID:
        return job_id(name)

    @classmethod
    def create(cls, name: str, task: JobTask | str, cron: str, retain: int, volumes: Iterable[str] = (),
               labels: Mapping[str, str] | None = None) -> RecurringJob:
        return cls(name=validation.name("job name", name), **_spec(_buildable(task), cron, retain, volumes, labels))

    def __init__(self, name: str, task: str, cron: str, retain: int, volumes: tuple[str, ...],
                 labels: dict[str, str]) -> None:
        self.name = name
        self.task = task
        self.cron = cron
        self.retain = retain
        self.volumes = volumes
        self.labels = labels
        self.deleted = False
        self.last_fired: datetime | None = None
        self.fires = 0

    @property
    def schedule(self) -> cron.CronSchedule:
        return cron.parse(self.cron)

    def _live(self, command: str) -> None:
        if self.deleted:
            raise InvalidTransition("recurring job", self.name, "deleted", command)

    def update(self, cron: str | None = None, retain: int | None = None, volumes: Iterable[str] | None = None,
               labels: Mapping[str, str] | None = None) -> None:
        """Change any of cron, retain, volumes, labels (None = keep)."""
        self._live("update")
        spec = _spec(self.task, self.cron if cron is None else cron, self.retain if retain is None else retain,
                     self.volumes if volumes is None else volumes, self.labels if labels is None else labels)
        if any(getattr(self, key) != value for key, value in spec.items()):
            self._updated(spec["cron"], spec["retain"], spec["volumes"], spec["labels"])

    @event("Updated")
    def _updated(self, cron: str, retain: int, volumes: tuple[str, ...], labels: dict[str, str]) -> None:
        self.cron, self.retain, self.volumes, self.labels = cron, retain, volumes, labels

    def delete(self) -> None:
        if not self.deleted:
            self._deleted()

    @event("Deleted")
    def _deleted(self) -> None:
        self.deleted = True

    def recreate(self, task: JobTask | str, cron: str, retain: int, volumes: Iterable[str] = (),
                 labels: Mapping[str, str] | None = None) -> None:
        if not self.deleted:
            raise InvalidTransition("recurring job", self.name, "present", "create")
        self._recreated(**_spec(_buildable(task), cron, retain, volumes, labels))

    @event("Recreated")
    def _recreated(self, task: str, cron: str, retain: int, volumes: tuple[str, ...],
                   labels: dict[str, str]) -> None:
        self.task, self.cron, self.retain, self.volumes, self.labels = task, cron, retain, volumes, labels
        self.deleted = False

    def drop_volumes(self, volumes: Iterable[str], reason: str) -> None:
        """Stop snapshotting ``volumes`` (e.g. deleted ones); those it does not name are ignored."""
        self._live("drop volumes of")
        dropped = tuple(sorted(set(volumes) & set(self.volumes)))
        if dropped:
            self._volumes_dropped(dropped, validation.text("reason", reason))

    @event("VolumesDropped")
    def _volumes_dropped(self, volumes: tuple[str, ...], reason: str) -> None:
        self.volumes = tuple(v for v in self.volumes if v not in volumes)

    def fire(self, at: datetime, requested: Iterable[str] = ()) -> bool:
        """Record that the job fired for fire time ``at``; False (nothing recorded) if a
        fire at or after ``at`` is already recorded."""
        self._live("fire")
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise InvalidValue("fire time", at, "must be a timezone-aware datetime")
        if self.last_fired is not None and at <= self.last_fired:
            return False
        self._fired(at, tuple(str(r) for r in requested))
        return True

    @event("Fired")
    def _fired(self, at: datetime, requested: tuple[str, ...]) -> None:
        self.last_fired = at
        self.fires += 1
