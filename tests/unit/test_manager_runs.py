"""``ManagerRun``: a manager's starts and stops are events; an unannounced end is said at the next start."""

from __future__ import annotations

import pytest

from domain.application import ControlPlane
from domain.manager_runs import ManagerRun
from domain.manager_runs_service import ManagerRuns
from domain.services import Volumes
from domain.values import Reason, ReasonCode
from projections import read_models


@pytest.fixture
def app() -> ControlPlane:
    return ControlPlane({"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_a_run_that_stopped_is_followed_by_a_plain_start(app: ControlPlane) -> None:
    runs = ManagerRuns(app)
    runs.started("node1,node2", 100)
    runs.started("node1,node2", 100)  # repeated: no event
    run = runs.stopped("node1,node2", Reason(ReasonCode.ASKED_TO_STOP, "asked to stop by SIGTERM"))
    run = runs.started("node1,node2", 200)
    events = list(app.events.get(run.id))
    assert [type(e).__name__ for e in events] == ["Created", "Started", "Stopped", "Started"]
    assert events[2].reason.message == "asked to stop by SIGTERM"
    assert events[3].previous == "" and run.runs == 2 and run.pid == 200


def test_a_run_that_never_said_it_stopped_is_named_at_the_next_start(app: ControlPlane) -> None:
    runs = ManagerRuns(app)
    runs.started("node1", 100)
    run = runs.started("node1", 101)  # the first was SIGKILLed
    last = list(app.events.get(run.id))[-1]
    assert last.previous == "the previous run ended without stopping: killed or crashed"
    assert isinstance(app.repository.get(run.id), ManagerRun)


def test_the_read_side_skips_manager_runs(app: ControlPlane) -> None:
    Volumes(app).create("vol", 1 << 30, 1)
    ManagerRuns(app).started("node1", 100)
    ManagerRuns(app).stopped("node1", Reason(ReasonCode.ASKED_TO_STOP, "asked to stop by SIGINT"))
    assert read_models.statuses(app, ["vol"])["vol"].name == "vol"
    assert [row.type for row in read_models.history(app, "vol").rows] == ["Created"]
