"""RecurringJob aggregate and RecurringJobs service: validation, update, delete, fire once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.application import ControlPlane
from domain.errors import AlreadyExists, InvalidTransition, InvalidValue, JobNotFound
from domain.jobs import RecurringJob
from domain.jobs_service import RecurringJobs
from domain.services import Volumes


def test_create_normalises_and_validates() -> None:
    job = RecurringJob.create("daily", "snapshot", " 0  3 * * * ", 3, ["b", "a", "a"], {"k": "v"})
    assert (job.cron, job.volumes, job.task) == ("0 3 * * *", ("a", "b"), "snapshot")
    for bad in (dict(task="copy"), dict(cron="61 * * * *"), dict(retain=0), dict(volumes="v1"),
                dict(volumes=["Bad"])):
        args = {"task": "snapshot", "cron": "* * * * *", "retain": 1, "volumes": ["v"], **bad}
        with pytest.raises(InvalidValue):
            RecurringJob.create("j", **args)  # type: ignore[arg-type]


def test_fire_records_each_fire_time_once() -> None:
    job = RecurringJob.create("j", "snapshot", "*/5 * * * *", 2, ["v"])
    t = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert job.fire(t, ["v/j-1"]) is True
    assert job.fire(t) is False and job.fires == 1
    job.delete()
    with pytest.raises(InvalidTransition):
        job.fire(datetime(2026, 1, 1, 0, 10, tzinfo=UTC))


def test_service_lifecycle_and_replay() -> None:
    app = ControlPlane()
    Volumes(app).create("v1", 4096, 1)
    jobs = RecurringJobs(app)
    jobs.create("j1", "snapshot", "*/5 * * * *", 3, ["v1"])
    with pytest.raises(AlreadyExists):
        jobs.create("j1", "snapshot", "* * * * *", 1)
    jobs.update("j1", retain=5, labels={"tier": "gold"})
    assert jobs.fire("j1", datetime(2026, 1, 1, tzinfo=UTC), lambda job: (["v1/x"], [])) is True
    assert jobs.fire("j1", datetime(2026, 1, 1, tzinfo=UTC), lambda job: (["v1/x"], [])) is False
    job = jobs.get("j1")
    assert (job.retain, job.labels, job.fires) == (5, {"tier": "gold"}, 1)
    assert [j.name for j in jobs.list()] == ["j1"]
    jobs.delete("j1")
    assert jobs.names() == []
    with pytest.raises(JobNotFound):
        jobs.get("j1")
    again = jobs.create("j1", "snapshot", "0 * * * *", 1, [])
    assert (again.cron, again.deleted, again.last_fired) == ("0 * * * *", False, job.last_fired)
