"""Which rebuild progress values the manager records (manager.rebuilds.ProgressRecorder).

The engine's status is read every couple of seconds; only a move by a tenth of the
total, a new total, or any move after ``PROGRESS_EVERY_S`` becomes a RebuildProgressed
event — and a replica no longer rebuilding (failed meanwhile) records nothing, quietly.
"""

from __future__ import annotations

from domain.application import ControlPlane
from domain.services import Nodes, Replicas, Volumes
from domain.values import GIB, Disk
from manager.rebuilds import PROGRESS_EVERY_S, ProgressRecorder


def recorder() -> tuple[Replicas, ProgressRecorder]:
    app = ControlPlane({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    Nodes(app).add("n1", "127.0.0.1", disks=[Disk("/d", 10 * GIB)])
    Volumes(app).create("vol", GIB, 1)
    replicas = Replicas(app)
    replicas.add("vol", "r1", "n1", "/d")
    replicas.rebuild_started("vol", "r1")
    return replicas, ProgressRecorder(replicas, "vol", "r1")


def test_progress_is_recorded_coarsely() -> None:
    replicas, progress = recorder()
    version = replicas.get("vol", "r1").version
    steps = [(0, 0, 0.0), (0, 1000, 0.5), (50, 1000, 2.0), (99, 1000, 4.0), (100, 1000, 6.0), (150, 1000, 8.0),
             (160, 1000, 8.0 + PROGRESS_EVERY_S), (160, 1000, 100.0), (1000, 1000, 102.0)]
    recorded = [progress.seen(done, total, now) for done, total, now in steps]
    assert recorded == [False, True, False, False, True, False, True, False, True]
    replica = replicas.get("vol", "r1")
    assert (replica.rebuild_done, replica.rebuild_total) == (1000, 1000)
    assert replica.version == version + 4  # one event per recorded value, nothing else


def test_a_replica_that_failed_meanwhile_records_nothing() -> None:
    replicas, progress = recorder()
    assert progress.seen(100, 1000, 0.0)
    replicas.fail("vol", "r1", "gone")
    version = replicas.get("vol", "r1").version
    assert not progress.seen(900, 1000, 10.0)
    assert replicas.get("vol", "r1").version == version


def test_done_beyond_the_total_is_capped() -> None:
    replicas, progress = recorder()
    assert progress.seen(1200, 1000, 0.0)
    assert (replicas.get("vol", "r1").rebuild_done, replicas.get("vol", "r1").rebuild_total) == (1000, 1000)
