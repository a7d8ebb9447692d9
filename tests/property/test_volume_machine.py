"""Volume lifecycle state machine: a Volume and its replicas driven through the services.

Random commands (lifecycle, expansion, replica add / mode / failure / rebuild /
removal, deletion) run against an independent model of the allowed transitions.
After every step: the state is legal and equals the model's; a refused command
changed nothing; the volume's replica modes equal its Replica aggregates' modes;
robustness follows the documented rule from those modes. At the end: for every
version v seen of every aggregate, the repository's ``get(id, version=v)`` (replay,
through aggregate snapshots taken every few events) equals the state observed
right after v.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar
from uuid import UUID

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain.application import ControlPlane
from domain.catalog import Catalog
from domain.errors import DomainError
from domain.node import Node
from domain.replica import Replica
from domain.services import Nodes, Replicas, Volumes
from domain.snapshots import SnapshotChain
from domain.values import Disk, ReplicaMode, Robustness, VolumeState
from domain.volume import Volume

S = VolumeState
NODES = ["n1", "n2", "n3"]
REPLICA_NAMES = [f"r{i}" for i in range(6)]
UNIT = 1 << 20


class FrequentSnapshots(ControlPlane):
    """Snapshots every 4 events, so replays start from snapshots most of the time."""

    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Volume: 4, Replica: 3, Node: 50, Catalog: 50, SnapshotChain: 50}


class VolumeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.app = FrequentSnapshots({"PERSISTENCE_MODULE": "eventsourcing.popo"})
        for i, name in enumerate(NODES):
            Nodes(self.app).add(name, f"127.0.0.{i + 1}", disks=[Disk("/d", 1 << 40)])
        self.volumes, self.replicas = Volumes(self.app), Replicas(self.app)
        self.volumes.create("vol", 4 * UNIT, 2)
        # The model.
        self.state = S.CREATING
        self.size = 4 * UNIT
        self.node = ""
        self.endpoint = ""
        self.modes: dict[str, ReplicaMode] = {}
        self.used_names: set[str] = set()
        self.seen: dict[tuple[UUID, int], dict[str, Any]] = {}
        self.observe()

    # -- helpers -------------------------------------------------------------------

    def observe(self) -> None:
        volume = self.volumes.get("vol")
        self.seen[(volume.id, volume.version)] = copy.deepcopy(vars(volume))
        for name in self.used_names:
            replica = self.replicas.get("vol", name)
            self.seen[(replica.id, replica.version)] = copy.deepcopy(vars(replica))

    def attempt(self, allowed: bool, command: Any) -> bool:
        """Run ``command``; it must succeed iff ``allowed``; a refusal changes nothing."""
        before = self.app.recorder.max_notification_id()
        try:
            command()
        except DomainError:
            assert not allowed, "the model allows this command but the domain refused it"
            assert self.app.recorder.max_notification_id() == before, "a refused command saved events"
            return False
        assert allowed, "the domain accepted a command the model forbids"
        self.observe()
        return True

    def live(self) -> bool:
        return self.state not in (S.DELETING, S.DELETED)

    # -- lifecycle rules -------------------------------------------------------------

    @rule()
    def finish_creating(self) -> None:
        if self.attempt(self.state in (S.CREATING, S.DETACHED), lambda: self.volumes.finish_creating("vol")):
            self.state = S.DETACHED

    @rule(node=st.sampled_from(NODES))
    def start_attach(self, node: str) -> None:
        same = self.state in (S.ATTACHING, S.ATTACHED) and self.node == node
        if self.attempt(self.state == S.DETACHED or same, lambda: self.volumes.start_attach("vol", node)) \
                and not same:
            self.state, self.node = S.ATTACHING, node

    @rule(port=st.integers(1, 3))
    def attached(self, port: int) -> None:
        endpoint = f"nbd://127.0.0.1:{port}"
        same = self.state == S.ATTACHED and self.endpoint == endpoint
        if self.attempt(self.state == S.ATTACHING or same, lambda: self.volumes.attached("vol", endpoint)):
            self.state, self.endpoint = S.ATTACHED, endpoint

    @rule()
    def attach_failed(self) -> None:
        if self.attempt(self.state == S.ATTACHING, lambda: self.volumes.attach_failed("vol", "engine crashed")):
            self.state, self.node = S.DETACHED, ""

    @rule()
    def start_detach(self) -> None:
        allowed = self.state in (S.ATTACHING, S.ATTACHED, S.DETACHING, S.DETACHED)
        if self.attempt(allowed, lambda: self.volumes.start_detach("vol")) and self.state != S.DETACHED:
            self.state = S.DETACHING

    @rule()
    def detached(self) -> None:
        if self.attempt(self.state in (S.DETACHING, S.DETACHED), lambda: self.volumes.detached("vol")):
            self.state, self.node, self.endpoint = S.DETACHED, "", ""

    @rule(units=st.integers(1, 8))
    def expand(self, units: int) -> None:
        size = units * UNIT
        allowed = self.state in (S.CREATING, S.DETACHED, S.ATTACHED) and size >= self.size
        if self.attempt(allowed, lambda: self.volumes.expand("vol", size)):
            self.size = size

    @rule()
    def delete(self) -> None:
        allowed = self.state in (S.CREATING, S.DETACHED, S.DELETING, S.DELETED)
        if self.attempt(allowed, lambda: self.volumes.delete("vol")):
            self.state = S.DELETING if self.modes else S.DELETED

    # -- replica rules -------------------------------------------------------------------

    @rule(name=st.sampled_from(REPLICA_NAMES), node=st.sampled_from(NODES),
          mode=st.sampled_from([ReplicaMode.RW, ReplicaMode.WO]))
    def add_replica(self, name: str, node: str, mode: ReplicaMode) -> None:
        allowed = self.live() and name not in self.used_names
        if self.attempt(allowed, lambda: self.replicas.add("vol", name, node, "/d", mode=mode)):
            self.used_names.add(name)
            self.modes[name] = mode
            self.observe()

    @precondition(lambda self: self.used_names)
    @rule(data=st.data(), mode=st.sampled_from(list(ReplicaMode)))
    def set_mode(self, data: st.DataObject, mode: ReplicaMode) -> None:
        name = data.draw(st.sampled_from(sorted(self.used_names)))
        if self.attempt(name in self.modes, lambda: self.replicas.set_mode("vol", name, mode)):
            self.modes[name] = mode

    @precondition(lambda self: self.used_names)
    @rule(data=st.data())
    def fail(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.used_names)))
        if self.attempt(name in self.modes, lambda: self.replicas.fail("vol", name, "I/O error")):
            self.modes[name] = ReplicaMode.ERR

    @precondition(lambda self: self.used_names)
    @rule(data=st.data(), complete=st.booleans())
    def rebuild(self, data: st.DataObject, complete: bool) -> None:
        name = data.draw(st.sampled_from(sorted(self.used_names)))
        if not self.attempt(name in self.modes, lambda: self.replicas.rebuild_started("vol", name, "r0")):
            return
        self.modes[name] = ReplicaMode.WO
        if complete:
            self.replicas.rebuild_progress("vol", name, 1, 2)
            self.replicas.rebuild_completed("vol", name)
            self.modes[name] = ReplicaMode.RW
            self.observe()

    @precondition(lambda self: self.used_names)
    @rule(data=st.data())
    def remove_replica(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.used_names)))
        if self.attempt(True, lambda: self.replicas.remove("vol", name)):
            self.modes.pop(name, None)
            if self.state == S.DELETING and not self.modes:
                self.state = S.DELETED

    # -- checks ------------------------------------------------------------------------------

    @invariant()
    def matches_model(self) -> None:
        volume = self.volumes.get("vol")
        assert volume.state in VolumeState and volume.state == self.state
        assert (volume.size, volume.node, volume.endpoint) == (self.size, self.node, self.endpoint)
        assert {n: m.mode for n, m in volume.replicas.items()} == self.modes
        live = [r for r in (self.replicas.get("vol", n) for n in self.used_names) if not r.removed]
        assert {r.name: r.mode for r in live} == self.modes
        rw = sum(1 for mode in self.modes.values() if mode == ReplicaMode.RW)
        if not self.modes:
            expected = Robustness.UNKNOWN
        elif rw >= volume.number_of_replicas:
            expected = Robustness.HEALTHY
        else:
            expected = Robustness.DEGRADED if rw else Robustness.FAULTED
        assert volume.robustness == expected
        assert ("vol" in self.volumes.names()) == (self.state != S.DELETED)

    def teardown(self) -> None:
        for (aggregate_id, version), observed in self.seen.items():
            replayed = self.app.repository.get(aggregate_id, version=version)
            assert strict(vars(replayed)) == strict(observed), f"replay of {aggregate_id} at v{version} differs"


def strict(state: dict[str, Any]) -> list[tuple[str, str]]:
    """State compared with types (a StrEnum equals its string, a tuple's repr differs from a list's)."""
    return sorted((key, repr(value)) for key, value in state.items())


VolumeMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestVolumeMachine = VolumeMachine.TestCase
