"""Who acted and why: actor/cause stamped on stored events, structured reasons, bounded troubles."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.application import ControlPlane
from domain.causation import acting, actor_of, cause_of, caused_by_event, event_cause, last_saved
from domain.errors import InvalidTransition, InvalidValue
from domain.services import Nodes, Replicas, Volumes
from domain.transcoding import DomainTranscoder
from domain.values import Disk, Failure, Reason, ReasonCode

GIB = 1 << 30


@pytest.fixture
def app() -> ControlPlane:
    app = ControlPlane({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    Nodes(app).add("n1", "127.0.0.1", disks=[Disk("/d", 100 * GIB)])
    Volumes(app).create("vol", GIB, 1)
    Replicas(app).add("vol", "r1", "n1", "/d")
    return app


def stored(app: ControlPlane) -> list[Any]:
    return [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 10_000)]


def test_events_saved_while_acting_name_the_actor_and_the_command(app: ControlPlane) -> None:
    with acting("cli:alice"):
        Volumes(app).set_number_of_replicas("vol", 2)
    event = stored(app)[-1]
    assert type(event).__qualname__ == "Volume.NumberOfReplicasChanged"
    assert (actor_of(event), cause_of(event)) == ("cli:alice", "command:cli:alice")


def test_events_saved_with_nobody_acting_carry_neither(app: ControlPlane) -> None:
    Volumes(app).set_number_of_replicas("vol", 2)
    event = stored(app)[-1]
    assert not hasattr(event, "actor") and not hasattr(event, "cause")
    assert Volumes(app).get("vol").number_of_replicas == 2  # and the aggregate replays


def test_a_reaction_names_the_event_it_reacts_to(app: ControlPlane) -> None:
    replicas = Replicas(app)
    with acting("manager:n1", cause=""):
        replicas.fail("vol", "r1", Reason(ReasonCode.PROCESS_EXITED, "process killed by SIGKILL"))
        failed = last_saved()
        with acting(cause=event_cause(failed)):
            replicas.restarted("vol", "r1", Reason(ReasonCode.RESTARTED, "process started again"))
    events = {type(e).__qualname__: e for e in stored(app)}
    assert caused_by_event(cause_of(events["Replica.ProcessRestarted"])) == failed
    assert type(stored(app)[failed - 1]).__qualname__ == "Replica.Failed"
    assert actor_of(events["Replica.ProcessRestarted"]) == "manager:n1"
    assert cause_of(events["Replica.Failed"]) == ""  # an observation: no command caused it


def test_a_failure_keeps_its_reason_code(app: ControlPlane) -> None:
    Replicas(app).fail("vol", "r1", Reason(ReasonCode.DISK_FULL, "disk full on n1:/d (free 0 B)"))
    failure = Replicas(app).get("vol", "r1").last_failure
    assert failure is not None
    assert (failure.code, failure.reason) == (ReasonCode.DISK_FULL, "disk full on n1:/d (free 0 B)")


def test_a_failure_stored_before_codes_existed_still_loads() -> None:
    transcoder = DomainTranscoder()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    old = b'{"f":{"_type_":"pronghorn","_data_":["record","Failure",{"reason":"gone","at":' \
          b'{"_type_":"datetime_iso","_data_":"2026-01-01T00:00:00+00:00"}}]}}'
    assert transcoder.decode(old) == {"f": Failure("gone", at, ReasonCode.UNSPECIFIED)}


def test_a_repeating_trouble_is_one_event_when_it_starts_and_one_when_it_ends(app: ControlPlane) -> None:
    replicas = Replicas(app)
    reason = Reason(ReasonCode.START_FAILED, "cannot start: no free ports")
    before = len(stored(app))
    for _ in range(50):
        replicas.trouble("vol", "r1", reason)
    replicas.trouble_ended("vol", "r1", 50)
    replicas.trouble_ended("vol", "r1", 51)  # none open: nothing recorded
    new = [type(e).__qualname__ for e in stored(app)[before:]]
    assert new == ["Replica.TroubleStarted", "Replica.TroubleEnded"]
    assert stored(app)[-1].count == 50


def test_a_reason_must_be_a_reason(app: ControlPlane) -> None:
    with pytest.raises(InvalidValue):
        Replicas(app).stopped("vol", "r1", "ConnectionError")  # type: ignore[arg-type]


def test_rebuild_completed_says_where_from_and_how_many_bytes(app: ControlPlane) -> None:
    replicas = Replicas(app)
    replicas.rebuild_started("vol", "r1", "r0")
    replicas.rebuild_completed("vol", "r1", "127.0.0.1:9000", from_network=4096, copied_locally=8192)
    event = stored(app)[-2]  # the volume's ReplicaModeChanged comes last
    assert type(event).__qualname__ == "Replica.RebuildCompleted"
    assert (event.source, event.from_network, event.copied_locally) == ("127.0.0.1:9000", 4096, 8192)


def test_a_command_a_person_gave_that_the_state_refuses_is_recorded_with_why(app: ControlPlane) -> None:
    volumes = Volumes(app)
    volumes.finish_creating("vol")
    volumes.start_attach("vol", "n1")
    with acting("cli:alice"), pytest.raises(InvalidTransition):
        volumes.delete("vol")
    refused = stored(app)[-1]
    assert type(refused).__qualname__ == "Volume.CommandRefused"
    assert refused.command == "delete" and refused.reason.code == ReasonCode.NOT_ALLOWED_NOW
    assert refused.reason.message == "cannot delete volume 'vol' while it is attaching: detach it first " \
                                     "('volume detach NAME --wait')"
    assert actor_of(refused) == "cli:alice"
    count = len(stored(app))
    with acting("manager:n1"), pytest.raises(InvalidTransition):
        volumes.delete("vol")  # the manager's own refusals repeat pass after pass: not recorded
    with pytest.raises(InvalidTransition):
        volumes.finish_creating("vol")  # nobody acting (tests, tools): not recorded either
    assert len(stored(app)) == count
    assert volumes.get("vol").state == "attaching"


def test_a_store_written_before_causation_and_rebuild_details_still_replays(app: ControlPlane) -> None:
    """Events as the earlier code stored them: no actor/cause, a RebuildCompleted without its
    source and byte counts. The replica loads from them as it did."""
    replicas = Replicas(app)
    replicas.rebuild_started("vol", "r1")
    replica = replicas.get("vol", "r1")
    replica.complete_rebuild("127.0.0.1:1", 1, 2, 3)
    event = replica.collect_events()[0]
    stored_event = app.mapper.to_stored_event(event)
    state = DomainTranscoder().decode(stored_event.state)
    for new in ("source", "from_network", "copied_locally", "already_present", "actor", "cause"):
        state.pop(new, None)
    old = type(stored_event)(stored_event.originator_id, stored_event.originator_version, stored_event.topic,
                             DomainTranscoder().encode(state))
    app.recorder.insert_events([old])
    loaded = app.repository.get(replica.id)
    assert (loaded.mode, loaded.rebuild, loaded.rebuilds) == ("RW", "completed", 1)
    decoded = app.mapper.to_domain_event(list(app.recorder.select_events(replica.id))[-1])
    assert not hasattr(decoded, "source") and not hasattr(decoded, "actor")
