"""``projections.explanation.explain`` on histories recorded through the domain services (in memory)."""

from __future__ import annotations

import pytest

from domain.application import ControlPlane
from domain.causation import acting, event_cause, last_saved
from domain.errors import InvalidTransition
from domain.ids import node_id
from domain.services import Nodes, Replicas, Volumes
from domain.values import ConditionType, Disk, NotReadyReason, Reason, ReasonCode
from projections.explanation import Explanation, Finding, explain
from projections.history import read_history
from tests.fixtures.nodes import managed

GIB = 1 << 30


@pytest.fixture
def app() -> ControlPlane:
    app = ControlPlane({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    with acting("cli:alice"):
        for i in (1, 2):
            Nodes(app).add(f"n{i}", f"127.0.0.{i}", disks=[Disk("/d", 100 * GIB)])
        managed(app)  # their managers said they are Ready
        Volumes(app).provision("vol", GIB, 2)
        Volumes(app).start_attach("vol", "n1")
    with acting("manager:n1", cause=""):
        Volumes(app).attached("vol", "nbd://127.0.0.1:1")
    return app


def explained(app: ControlPlane, upto: int | None = None, latest: bool = True) -> Explanation:
    history = read_history(app.recorder, app.mapper, "vol")
    position = upto or len(history)
    nodes = {name: list(app.events.get(node_id(name))) for name in ("n1", "n2")}
    return explain(history[:position], history.status_at(position), nodes, latest)


def finding(explanation: Explanation, starts: str) -> Finding:
    found = [f for f in explanation.findings if f.fact.startswith(starts)]
    assert found, [f.fact for f in explanation.findings]
    return found[0]


def test_a_healthy_attached_volume_is_explained_by_its_attach(app: ControlPlane) -> None:
    explanation = explained(app)
    assert explanation.summary == "attached, healthy"
    assert [f.fact for f in explanation.findings] == ["volume is attached on node n1"]
    chain = explanation.findings[0].chain
    assert [(s.type, s.actor) for s in chain] == [("Attached", "manager:n1"), ("AttachStarted", "cli:alice")]
    assert chain[1].cause == "command:cli:alice"


def test_a_failed_replica_walks_back_to_why_the_manager_stopped_it(app: ControlPlane) -> None:
    with acting("manager:n2", cause=""):
        Replicas(app).stopped("vol", "r2", Reason(ReasonCode.NO_REPLY, "no reply within 1 s on 127.0.0.2:9"))
        Replicas(app).fail("vol", "r2", Reason(ReasonCode.ENGINE_REPORTED, "no reply within 8 s (--replica-timeout)"))
    explanation = explained(app)
    assert explanation.summary == "attached, degraded"
    degraded = finding(explanation, "volume is degraded: 1 of 2 wanted replicas are RW")
    assert degraded.chain[0].sentence == "replica r2 failed: no reply within 8 s (--replica-timeout)"
    chain = finding(explanation, "replica r2 is ERR").chain
    assert [s.type for s in chain] == ["Failed", "ProcessStopped"]
    assert chain[1].sentence == "the manager stopped the process of replica r2: no reply within 1 s on 127.0.0.2:9"
    assert all(s.actor == "manager:n2" for s in chain)


def test_a_recorded_cause_is_followed_to_its_event(app: ControlPlane) -> None:
    replicas = Replicas(app)
    with acting("manager:n2", cause=""):
        replicas.fail("vol", "r2", Reason(ReasonCode.PROCESS_EXITED, "process killed by SIGKILL"))
        failed = last_saved()
        with acting(cause=event_cause(failed)):
            replicas.restarted("vol", "r2", Reason(ReasonCode.RESTARTED, "process started again"))
            replicas.rebuild_started("vol", "r2")
    chain = finding(explained(app), "replica r2 is WO").chain
    assert [s.type for s in chain][:2] == ["RebuildStarted", "Failed"]  # the cause, not the restart before it
    assert chain[1].sentence == "replica r2 failed: process killed by SIGKILL"
    assert chain[0].cause == f"event:{failed}"


def test_an_open_trouble_and_a_false_condition_are_findings(app: ControlPlane) -> None:
    with acting("manager:n2", cause=""):
        Replicas(app).trouble("vol", "r2", Reason(ReasonCode.START_FAILED, "cannot start: disk full on n2:/d"))
        Volumes(app).set_condition("vol", ConditionType.SCHEDULED, False, "DiskPressure", "disk n2:/d is full")
    explanation = explained(app)
    assert finding(explanation, "replica r2 keeps failing: cannot start: disk full on n2:/d").chain
    condition = finding(explanation, "condition Scheduled is False: disk n2:/d is full")
    assert condition.chain[0].type == "ConditionChanged"
    Replicas(app).trouble_ended("vol", "r2", 7)
    assert not [f for f in explained(app).findings if "keeps failing" in f.fact]


def test_a_replica_on_a_node_that_is_not_ready_says_it_waits_on_that_node(app: ControlPlane) -> None:
    with acting("cli:bob"):
        Nodes(app).cordon("n2")
    waits = finding(explained(app), "replica r2 waits on node n2, which is not ready")
    assert waits.chain[0].type == "Cordoned" and waits.chain[0].actor == "cli:bob"
    # at a point before the cordon (an explicit --at), the node was still ready
    before = explained(app, upto=len(read_history(app.recorder, app.mapper, "vol")), latest=False)
    assert not [f for f in before.findings if "waits on node" in f.fact]
    Nodes(app).uncordon("n2")
    assert not [f for f in explained(app).findings if "waits on node" in f.fact]


def test_a_command_refused_since_the_state_last_changed_is_a_finding(app: ControlPlane) -> None:
    with acting("cli:bob"), pytest.raises(InvalidTransition):
        Volumes(app).delete("vol")
    refused = finding(explained(app), "the command 'delete' was refused")
    assert [s.type for s in refused.chain] == ["CommandRefused", "Attached", "AttachStarted"]
    assert refused.chain[0].sentence.startswith("volume vol: the command 'delete' was refused: cannot delete volume")
    assert refused.chain[0].actor == "cli:bob"
    with acting("cli:bob"):
        Volumes(app).start_detach("vol")
    assert not [f for f in explained(app).findings if "was refused" in f.fact]


def test_a_replica_on_a_node_whose_manager_is_gone_says_it_waits_on_that_node(app: ControlPlane) -> None:
    nodes = Nodes(app)
    assert not [f for f in explained(app).findings if "waits on node n2" in f.fact]
    with acting("manager:n1", cause=""):
        nodes.mark_not_ready("n2", NotReadyReason.HEARTBEAT_LAPSED, "no heartbeat for 30 s")
    waits = finding(explained(app), "replica r2 waits on node n2, which is not ready")
    assert waits.chain[0].type == "NotReadyDeclared"
    assert waits.chain[0].sentence == "node n2 was declared not ready: no heartbeat for 30 s"
    assert waits.chain[0].actor == "manager:n1"
    nodes.mark_ready("n2", "back")
    assert not [f for f in explained(app).findings if "waits on node n2" in f.fact]
