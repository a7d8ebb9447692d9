"""Volume aggregate: validation, state machine, robustness rule, event names."""

from __future__ import annotations

import pytest

from domain.errors import AlreadyExists, InvalidTransition, InvalidValue, ReplicaNotFound
from domain.values import (
    ConditionType,
    DataLocality,
    Frontend,
    ReplicaMode,
    Robustness,
    SchedulingReason,
    VolumeState,
)
from domain.volume import Volume

GIB = 1 << 30


def new(**kw: object) -> Volume:
    args: dict[str, object] = {"name": "vol-a", "size": GIB}
    args.update(kw)
    return Volume.create(**args)  # type: ignore[arg-type]


def event_names(volume: Volume) -> list[str]:
    return [type(e).__name__ for e in volume.collect_events()]


def test_create_defaults_and_id_is_deterministic() -> None:
    v = new()
    assert v.id == new().id
    assert (v.state, v.size, v.number_of_replicas) == (VolumeState.CREATING, GIB, 3)
    assert v.data_locality is DataLocality.DISABLED and v.frontend is Frontend.NBD
    assert v.robustness is Robustness.UNKNOWN
    assert event_names(v) == ["Created"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Bad_Name"), ("name", ""), ("name", "-a"), ("name", "a" * 64),
        ("size", 0), ("size", -4096), ("size", 4097), ("size", "1Gi"), ("size", True),
        ("number_of_replicas", 0), ("number_of_replicas", 11),
        ("data_locality", "nearby"), ("frontend", "iscsi"), ("stale_replica_timeout", -1),
        ("node_selector", "ssd"), ("node_selector", ["bad tag"]), ("standby", "yes"),
    ],
)
def test_create_rejects_invalid_values(field: str, value: object) -> None:
    with pytest.raises(InvalidValue) as err:
        new(**{field: value})
    assert "\n" not in str(err.value) and str(err.value).startswith("invalid ")


def test_selectors_are_sorted_unique_tuples() -> None:
    v = new(node_selector=["ssd", "fast", "ssd"], data_locality="best-effort")
    assert v.node_selector == ("fast", "ssd")
    assert v.data_locality is DataLocality.BEST_EFFORT


def test_full_lifecycle_and_event_names() -> None:
    v = new()
    v.finish_creating()
    v.start_attach("node-1")
    assert (v.state, v.node) == (VolumeState.ATTACHING, "node-1")
    v.finish_attach("nbd://127.0.0.1:10809")
    assert (v.state, v.endpoint) == (VolumeState.ATTACHED, "nbd://127.0.0.1:10809")
    v.start_detach()
    v.finish_detach()
    assert (v.state, v.node, v.endpoint) == (VolumeState.DETACHED, "", "")
    v.start_delete()
    v.finish_delete()
    assert v.state is VolumeState.DELETED
    assert event_names(v) == [
        "Created", "CreationFinished", "AttachStarted", "ConditionChanged", "Attached", "ConditionChanged",
        "DetachStarted", "ConditionChanged", "Detached", "ConditionChanged", "DeletionStarted", "Deleted",
    ]


def test_repeated_commands_are_no_ops() -> None:
    v = new()
    v.finish_creating()
    v.finish_creating()
    v.start_attach("n1")
    v.start_attach("n1")
    v.finish_attach("e")
    v.finish_attach("e")
    v.start_attach("n1")  # already attached there
    assert event_names(v) == ["Created", "CreationFinished", "AttachStarted", "ConditionChanged", "Attached",
                              "ConditionChanged"]


@pytest.mark.parametrize(
    ("setup", "command"),
    [
        ([], lambda v: v.start_attach("n1")),  # creating
        ([], lambda v: v.finish_attach("e")),
        ([Volume.finish_creating], lambda v: v.start_detach() or v.finish_attach("e")),
        ([Volume.finish_creating, lambda v: v.start_attach("n1")], lambda v: v.start_attach("n2")),
        ([Volume.finish_creating, lambda v: v.start_attach("n1")], Volume.start_delete),
        ([Volume.finish_creating], Volume.finish_delete),
        ([Volume.finish_creating, Volume.start_delete], Volume.finish_creating),
        ([Volume.finish_creating, Volume.start_delete], lambda v: v.expand(2 * GIB)),
        ([Volume.finish_creating, Volume.start_delete], lambda v: v.add_replica("r1", "n1")),
    ],
)
def test_invalid_transitions_name_state_and_command(setup: list, command) -> None:  # type: ignore[no-untyped-def]
    v = new()
    for step in setup:
        step(v)
    before = v.state
    with pytest.raises(InvalidTransition) as err:
        command(v)
    assert err.value.state == before and err.value.command
    assert str(before) in str(err.value) and "vol-a" in str(err.value)
    assert v.state == before


def test_attach_failure_returns_to_detached() -> None:
    v = new()
    v.finish_creating()
    v.start_attach("n1")
    v.fail_attach("engine did not start")
    assert (v.state, v.node) == (VolumeState.DETACHED, "")


def test_finish_delete_needs_replicas_gone() -> None:
    v = new()
    v.add_replica("r1", "n1")
    v.start_delete()
    with pytest.raises(InvalidTransition, match="replicas left: r1"):
        v.finish_delete()
    v.remove_replica("r1")
    v.finish_delete()
    assert v.state is VolumeState.DELETED


def test_expand_grows_only() -> None:
    v = new()
    v.expand(2 * GIB)
    assert v.size == 2 * GIB
    v.expand(2 * GIB)  # same size: no event
    with pytest.raises(InvalidValue, match="only grow"):
        v.expand(GIB)
    with pytest.raises(InvalidValue):
        v.expand(2 * GIB + 1)
    assert event_names(v) == ["Created", "Expanded"]


@pytest.mark.parametrize(
    ("modes", "wanted", "robustness"),
    [
        ([], 3, Robustness.UNKNOWN),
        (["RW", "RW", "RW"], 3, Robustness.HEALTHY),
        (["RW", "RW", "RW", "WO"], 3, Robustness.HEALTHY),
        (["RW", "WO", "ERR"], 3, Robustness.DEGRADED),
        (["RW"], 2, Robustness.DEGRADED),
        (["ERR", "WO"], 2, Robustness.FAULTED),
        (["RW"], 1, Robustness.HEALTHY),
    ],
)
def test_robustness_is_derived_from_replica_modes(modes: list[str], wanted: int, robustness: Robustness) -> None:
    v = new(number_of_replicas=wanted)
    for i, mode in enumerate(modes):
        v.add_replica(f"r{i}", f"n{i}", mode)
    assert v.robustness is robustness


def test_replica_membership_commands() -> None:
    v = new(number_of_replicas=2)
    v.add_replica("r1", "n1")
    v.add_replica("r2", "n2", ReplicaMode.WO)
    assert v.robustness is Robustness.DEGRADED
    v.change_replica_mode("r2", "RW")
    v.change_replica_mode("r2", "RW")  # no-op
    assert v.robustness is Robustness.HEALTHY
    with pytest.raises(AlreadyExists):
        v.add_replica("r1", "n3")
    with pytest.raises(ReplicaNotFound):
        v.change_replica_mode("r9", "ERR")
    with pytest.raises(InvalidValue):
        v.change_replica_mode("r1", "BROKEN")
    v.remove_replica("r1")
    assert list(v.replicas) == ["r2"]
    assert event_names(v) == ["Created", "ReplicaAdded", "ReplicaAdded", "ReplicaModeChanged", "ReplicaRemoved"]


def test_conditions_change_only_when_different() -> None:
    v = new()
    v.set_condition("Scheduled", False, "InsufficientNodes", "need 3 nodes, have 1")
    v.set_condition("Scheduled", False, "InsufficientNodes", "need 3 nodes, have 1")
    v.set_condition("Scheduled", True)
    assert v.conditions["Scheduled"].status is True
    assert event_names(v) == ["Created", "ConditionChanged", "ConditionChanged"]
    with pytest.raises(InvalidValue):
        v.set_condition("Scheduled", True, message="two\nlines")


def test_standby_activation_and_replica_count() -> None:
    v = new(standby=True, restore_source="s3://bucket@us-east-1/backups?volume=x")
    v.activate()
    v.activate()
    assert v.standby is False
    v.set_number_of_replicas(2)
    with pytest.raises(InvalidValue):
        v.set_number_of_replicas(0)
    assert event_names(v) == ["Created", "Activated", "NumberOfReplicasChanged"]


def test_enum_arguments_are_stored_as_plain_strings() -> None:
    """Snapshots turn dict keys into plain strings; state must not depend on that."""
    v = new()
    v.set_condition(ConditionType.SCHEDULED, True, SchedulingReason.DISK_PRESSURE)
    [(key, condition)] = v.conditions.items()
    assert type(key) is str and type(condition.type) is str and type(condition.reason) is str


@pytest.mark.parametrize("stuck", ["attaching", "attached", "detaching"])
def test_waiting_for_node_says_what_for_and_force_detach_is_the_way_out(stuck: str) -> None:
    v = new()
    v.finish_creating()
    v.start_attach("gone")
    waiting = v.conditions["WaitingForNode"]
    assert (waiting.status, waiting.reason) == (True, "Attaching") and "node 'gone'" in waiting.message
    assert "detach vol-a --force" in waiting.message
    if stuck != "attaching":
        v.finish_attach("nbd://127.0.0.1:1")
        assert v.conditions["WaitingForNode"].status is False
    if stuck == "detaching":
        v.start_detach()
        assert v.conditions["WaitingForNode"].reason == "Detaching"
    v.force_detach()
    v.force_detach()  # repeated: no-op
    forced = v.conditions["WaitingForNode"]
    assert (v.state, v.node, v.endpoint) == (VolumeState.DETACHED, "", "")
    assert (forced.status, forced.reason) == (False, "DetachForced") and "'gone'" in forced.message
    assert event_names(v)[-3:] == (["DetachStarted", "Detached", "ConditionChanged"] if stuck != "detaching"
                                   else ["ConditionChanged", "Detached", "ConditionChanged"])


def test_force_detach_is_refused_while_creating_or_deleting() -> None:
    v = new()
    with pytest.raises(InvalidTransition, match="cannot force detach"):
        v.force_detach()
    v.finish_creating()
    v.start_delete()
    with pytest.raises(InvalidTransition, match="while it is deleting"):
        v.force_detach()
