"""Replica aggregate: modes, failures, rebuild lifecycle, removal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import InvalidTransition, InvalidValue
from domain.replica import Replica
from domain.values import Failure, RebuildState, ReplicaMode

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def new(**kw: object) -> Replica:
    args: dict[str, object] = {"volume": "vol", "name": "r1", "node": "n1", "disk": "/d/"}
    args.update(kw)
    return Replica.create(**args)  # type: ignore[arg-type]


def names(r: Replica) -> list[str]:
    return [type(e).__name__ for e in r.collect_events()]


def test_create() -> None:
    r = new(data_dir="/d/replicas/vol-r1", address="127.0.0.1:9502")
    assert (r.volume, r.name, r.node, r.disk, r.mode, r.removed) == ("vol", "r1", "n1", "/d", ReplicaMode.RW, False)
    assert r.id == Replica.create_id("vol", "r1")
    with pytest.raises(InvalidValue):
        new(disk="relative")
    with pytest.raises(InvalidValue):
        new(mode="XX")


def test_fail_records_reason_and_time() -> None:
    r = new()
    r.fail("read timeout", AT)
    r.fail("EIO")
    assert r.mode is ReplicaMode.ERR
    assert r.failures[0] == Failure("read timeout", AT)
    assert r.last_failure is not None and r.last_failure.reason == "EIO" and r.last_failure.at.tzinfo
    with pytest.raises(InvalidValue):
        r.fail("x", datetime(2026, 1, 1))  # naive time


def test_rebuild_lifecycle() -> None:
    r = new(mode="ERR")
    with pytest.raises(InvalidTransition, match="not rebuilding"):
        r.complete_rebuild()
    r.start_rebuild("r2")
    assert (r.mode, r.rebuild, r.rebuild_source) == (ReplicaMode.WO, RebuildState.RUNNING, "r2")
    r.report_rebuild_progress(10, 100)
    r.report_rebuild_progress(10, 100)  # unchanged: no event
    with pytest.raises(InvalidValue):
        r.report_rebuild_progress(200, 100)
    r.complete_rebuild()
    assert (r.mode, r.rebuild, r.rebuild_done, r.rebuilds) == (ReplicaMode.RW, RebuildState.COMPLETED, 100, 1)
    r.start_rebuild("r3")
    r.fail_rebuild("source died", AT)
    assert (r.mode, r.rebuild) == (ReplicaMode.ERR, RebuildState.FAILED)
    assert names(r) == ["Created", "RebuildStarted", "RebuildProgressed", "RebuildCompleted",
                        "RebuildStarted", "RebuildFailed"]


def test_failure_during_rebuild_fails_the_rebuild() -> None:
    r = new()
    r.start_rebuild("r2")
    r.fail("killed")
    assert (r.mode, r.rebuild) == (ReplicaMode.ERR, RebuildState.FAILED)


def test_removed_replica_refuses_commands() -> None:
    r = new()
    r.set_mode("WO")
    r.set_mode("WO")
    r.set_address("127.0.0.1:1")
    r.remove()
    r.remove()
    assert r.removed
    for command in (lambda: r.set_mode("RW"), lambda: r.fail("x"), lambda: r.start_rebuild()):
        with pytest.raises(InvalidTransition, match="removed"):
            command()
    assert names(r) == ["Created", "ModeChanged", "AddressChanged", "Removed"]
