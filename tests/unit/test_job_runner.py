"""manager.jobs.JobRunner with an injected clock: fire times, retention, no double fire after a restart."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.application import ControlPlane
from domain.jobs_service import RecurringJobs
from domain.services import Nodes, Snapshots, Volumes
from domain.snapshots import MAX_SNAPSHOTS
from domain.store import open_control_plane
from domain.values import GIB, Disk
from manager.jobs import JOB_LABEL, JobRunner, JobScheduler, snapshot_name
from tests.fixtures.nodes import managed

T0 = datetime(2030, 11, 25, 10, 0, 30, tzinfo=UTC)  # after the jobs' creation (real time)


def cluster(app: ControlPlane, *volumes: str) -> None:
    Nodes(app).add("n1", "127.0.0.1", disks=[Disk("/d", 100 * GIB)])
    managed(app)
    for name in volumes:
        Volumes(app).provision(name, GIB, 1)


def take_requested(app: ControlPlane, volume: str) -> list[str]:
    """What the manager's reconciler does with requests: take each through the engine."""
    snapshots = Snapshots(app)
    chain = snapshots.chain(volume)
    for name, labels in sorted(chain.requests.items()):
        snapshots.take(volume, name, labels=labels)
    return sorted(chain.requests)


def live(app: ControlPlane, volume: str) -> list[str]:
    return [s.name for s in Snapshots(app).list(volume) if not s.removed]


def test_fires_at_the_cron_minutes_only() -> None:
    app = ControlPlane()
    cluster(app, "v1", "v2")
    jobs = RecurringJobs(app)
    jobs.create("five", "snapshot", "*/5 * * * *", 10, ["v1", "v2"], {"tier": "gold"})
    runner = JobRunner(app)
    fired_at: list[datetime] = []
    for minute in range(0, 16):
        now = T0 + timedelta(minutes=minute)
        for fired in runner.run(now):
            fired_at.append(fired.at)
            assert fired.requested == (f"v1/{snapshot_name('five', fired.at)}",
                                       f"v2/{snapshot_name('five', fired.at)}")
    assert [t.minute for t in fired_at] == [0, 5, 10, 15]  # 10:00 is due at the first run
    chain = Snapshots(app).chain("v1")
    assert chain.requests[snapshot_name("five", fired_at[-1])] == {"tier": "gold", JOB_LABEL: "five"}


def test_retains_the_newest_n_job_snapshots() -> None:
    app = ControlPlane()
    cluster(app, "v1")
    Snapshots(app).take("v1", "mine")  # a user's snapshot is never touched
    RecurringJobs(app).create("hourly", "snapshot", "0 * * * *", 2, ["v1"])
    runner = JobRunner(app)
    for hour in range(1, 6):
        runner.run(T0 + timedelta(hours=hour))
        take_requested(app, "v1")
    names = live(app, "v1")
    assert names == ["mine", "hourly-20301125-1400", "hourly-20301125-1500"]
    removed = [s.name for s in Snapshots(app).list("v1") if s.removed]
    assert removed == ["hourly-20301125-1100", "hourly-20301125-1200", "hourly-20301125-1300"]


def test_no_double_fire_after_a_restart(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'events.sqlite'}"
    with open_control_plane(url) as app:
        cluster(app, "v1")
        RecurringJobs(app).create("five", "snapshot", "*/5 * * * *", 3, ["v1"])
        JobRunner(app).run(T0)  # the 10:00 fire
        first = JobRunner(app).run(T0 + timedelta(minutes=5))
        assert [f.at.minute for f in first] == [5]
    for _ in range(2):  # restarted twice within the same minute, then later in it
        with open_control_plane(url) as app:
            assert JobRunner(app).run(T0 + timedelta(minutes=5, seconds=20)) == []
    with open_control_plane(url) as app:
        again = JobRunner(app).run(T0 + timedelta(minutes=11))
        assert [f.at.minute for f in again] == [10]
        assert sorted(Snapshots(app).chain("v1").requests)[1:] == [snapshot_name("five", f.at) for f in first + again]
        assert RecurringJobs(app).get("five").fires == 3


def test_two_runners_on_one_store_fire_once(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'events.sqlite'}"
    with open_control_plane(url) as a, open_control_plane(url) as b:
        cluster(a, "v1")
        RecurringJobs(a).create("five", "snapshot", "*/5 * * * *", 3, ["v1"])
        now = T0 + timedelta(minutes=5)
        assert len(JobRunner(a).run(now)) + len(JobRunner(b).run(now)) == 1
        assert len(Snapshots(b).chain("v1").requests) == 1


def test_scheduler_thread_fires_with_its_clock_and_stops() -> None:
    app = ControlPlane()
    cluster(app, "v1")
    RecurringJobs(app).create("five", "snapshot", "*/5 * * * *", 3, ["v1"])
    ticks = iter([T0 + timedelta(minutes=m) for m in (0, 1, 5, 6)])
    clock_done = threading.Event()

    def clock() -> datetime:
        try:
            return next(ticks)
        except StopIteration:
            clock_done.set()
            return T0 + timedelta(minutes=6)

    scheduler = JobScheduler(app, interval=0.01, clock=clock).start()
    try:
        assert clock_done.wait(30)
    finally:
        scheduler.stop()
    assert sorted(Snapshots(app).chain("v1").requests) == ["five-20301125-1000", "five-20301125-1005"]


def test_requests_never_taken_do_not_pile_up_and_a_full_chain_skips_one_volume() -> None:
    app = ControlPlane()
    cluster(app, "v1", "v2")
    for i in range(MAX_SNAPSHOTS):
        Snapshots(app).take("v2", f"user-{i}")  # v2's chain is full
    RecurringJobs(app).create("five", "snapshot", "*/5 * * * *", 2, ["v1", "v2"])
    runner = JobRunner(app)
    for step in range(6):  # nobody takes v1's requests (say it stays detached)
        fired = runner.run(T0 + timedelta(minutes=5 * step))
        assert [f.requested for f in fired] == [(f"v1/{snapshot_name('five', fired[0].at)}",)]
    assert sorted(Snapshots(app).chain("v1").requests) == ["five-20301125-1020", "five-20301125-1025"]
    assert RecurringJobs(app).get("five").fires == 6


def test_a_deleted_volume_is_dropped_from_the_job_and_an_empty_job_stops_firing() -> None:
    app = ControlPlane()
    cluster(app, "v1", "v2")
    jobs = RecurringJobs(app)
    jobs.create("five", "snapshot", "*/5 * * * *", 3, ["v1", "v2"])
    runner = JobRunner(app)
    Volumes(app).delete("v1")  # deleting: its replicas are still there
    fired = runner.run(T0)
    assert [f.requested for f in fired] == [(f"v2/{snapshot_name('five', fired[0].at)}",)]
    job = jobs.get("five")
    assert (job.volumes, job.fires) == (("v2",), 1)
    dropped = [e for e in app.events.get(job.id) if type(e).__name__ == "VolumesDropped"]
    assert [(e.volumes, e.reason) for e in dropped] == [(("v1",), "deleted")]  # type: ignore[attr-defined]
    Volumes(app).delete("v2")
    assert runner.run(T0 + timedelta(minutes=5)) == []
    job = jobs.get("five")
    assert (job.volumes, job.fires) == ((), 1)  # no Fired event for nothing
    assert runner.run(T0 + timedelta(minutes=10)) == [] and jobs.get("five").version == job.version
