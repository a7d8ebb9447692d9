"""SnapshotChain state machine: random take / mark-removed / purge / revert.

Runs against a plain model (parent of each snapshot, removed marks, the head's
parent). After every step the chain equals the model and keeps its tree invariants:
unique names, every parent exists, children lists mirror parents exactly, the head's
parent exists, never more than the limit (lowered from 250 to 12 here so runs hit
it). Invalid purges and reverts are refused and change nothing. At the end, every version replays (from aggregate snapshots) to the
state observed right after it.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain import snapshots as snapshots_module
from domain.application import ControlPlane
from domain.errors import DomainError, InvalidTransition
from domain.services import Snapshots, Volumes
from domain.snapshots import MAX_SNAPSHOTS, SnapshotChain

LIMIT = 12  # the machine lowers the chain's limit (250) so that runs reach it


class FrequentSnapshots(ControlPlane):
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {SnapshotChain: 5}


class ChainMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        snapshots_module.MAX_SNAPSHOTS = LIMIT
        self.app = FrequentSnapshots({"PERSISTENCE_MODULE": "eventsourcing.popo"})
        Volumes(self.app).create("vol", 1 << 20)
        self.snapshots = Snapshots(self.app)
        self.parent: dict[str, str] = {}  # model: snapshot -> parent ("" = bottom)
        self.removed: set[str] = set()
        self.head = ""
        self.counter = 0
        self.seen: dict[int, dict[str, Any]] = {}

    def children(self, name: str) -> list[str]:
        return [c for c, p in self.parent.items() if p == name]

    def step(self, command: Any) -> None:
        command()
        chain = self.snapshots.chain("vol")
        self.seen[chain.version] = copy.deepcopy(vars(chain))

    def refused(self, command: Any) -> None:
        before = copy.deepcopy(vars(self.snapshots.chain("vol")))
        try:
            command()
        except DomainError:
            assert vars(self.snapshots.chain("vol")) == before
        else:
            raise AssertionError("an invalid command was accepted")

    @rule(count=st.sampled_from([1, 1, 1, 2, 5]))
    def take(self, count: int) -> None:
        for _ in range(count):
            name = f"s{self.counter}"
            if len(self.parent) >= LIMIT:
                self.refused(lambda name=name: self.snapshots.take("vol", name))
                event("limit reached")
                return
            self.counter += 1
            self.step(lambda name=name: self.snapshots.take("vol", name, user_created=self.counter % 2 == 0))
            self.parent[name] = self.head
            self.head = name

    @precondition(lambda self: self.parent)
    @rule(data=st.data())
    def mark_removed(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.parent)))
        self.step(lambda: self.snapshots.mark_removed("vol", name))
        self.removed.add(name)

    @precondition(lambda self: self.parent)
    @rule(data=st.data())
    def revert(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.parent)))
        if name in self.removed:
            self.refused(lambda: self.snapshots.revert("vol", name))
        else:
            self.step(lambda: self.snapshots.revert("vol", name))
            self.head = name

    @precondition(lambda self: self.head and self.parent[self.head] and self.parent[self.head] not in self.removed)
    @rule()
    def abandon_branch(self) -> None:
        """Revert to the snapshot under the newest one and mark that one removed (a leaf now)."""
        tip = self.head
        self.step(lambda: self.snapshots.revert("vol", self.parent[tip]))
        self.head = self.parent[tip]
        self.step(lambda: self.snapshots.mark_removed("vol", tip))
        self.removed.add(tip)

    def purgeable(self) -> tuple[list[str], dict[str, str]]:
        leaves = [s for s in sorted(self.removed) if not self.children(s) and s != self.head]
        merges = {s: self.children(s)[0] for s in sorted(self.removed)
                  if len(self.children(s)) == 1 and s != self.head}
        return leaves, merges

    @precondition(lambda self: self.removed)
    @rule(data=st.data())
    def purge(self, data: st.DataObject) -> None:
        leaves, merges = self.purgeable()
        if leaves and (not merges or data.draw(st.booleans())):
            leaf = data.draw(st.sampled_from(leaves))
            self.step(lambda: self.snapshots.purged("vol", removed=[leaf]))
            del self.parent[leaf]
            event("purged a leaf")
            self.removed.discard(leaf)
        elif merges:
            gone = data.draw(st.sampled_from(sorted(merges)))
            into = merges[gone]
            self.step(lambda: self.snapshots.purged("vol", coalesced={gone: into}))
            self.parent[into] = self.parent.pop(gone)
            self.removed.discard(gone)
            event("coalesced")

    @precondition(lambda self: self.parent)
    @rule(data=st.data())
    def invalid_purge(self, data: st.DataObject) -> None:
        leaves, merges = self.purgeable()
        name = data.draw(st.sampled_from(sorted(self.parent)))
        if name not in leaves:
            self.refused(lambda: self.snapshots.purged("vol", removed=[name]))
        child = data.draw(st.sampled_from(sorted(self.parent)))
        if merges.get(name) != child:
            self.refused(lambda: self.snapshots.purged("vol", coalesced={name: child}))

    @invariant()
    def tree_invariants(self) -> None:
        chain = self.snapshots.chain("vol")
        snaps = chain.snapshots
        assert len(snaps) <= LIMIT
        assert all(name == info.name for name, info in snaps.items())
        for info in snaps.values():
            assert info.parent == "" or info.parent in snaps, f"{info.name}: missing parent {info.parent}"
            assert len(set(info.children)) == len(info.children)
            assert sorted(info.children) == sorted(c.name for c in snaps.values() if c.parent == info.name)
        assert chain.head_parent in snaps or (chain.head_parent == "" and not snaps)
        # ... and it is the model's chain.
        assert {n: s.parent for n, s in snaps.items()} == self.parent
        assert {n for n, s in snaps.items() if s.removed} == self.removed
        assert chain.head_parent == self.head

    def teardown(self) -> None:
        snapshots_module.MAX_SNAPSHOTS = MAX_SNAPSHOTS
        for version, observed in self.seen.items():
            replayed = self.app.repository.get(self.snapshots.chain("vol").id, version=version)
            assert sorted((k, repr(v)) for k, v in vars(replayed).items()) == \
                sorted((k, repr(v)) for k, v in observed.items()), f"replay differs at v{version}"


def test_purge_refused_on_head_parent() -> None:
    chain = SnapshotChain(volume="v")
    chain.take("a")
    chain.mark_removed("a")
    try:
        chain.purged(removed=["a"])
    except InvalidTransition:
        return
    raise AssertionError("purged the snapshot under the head")


ChainMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestChainMachine = ChainMachine.TestCase
