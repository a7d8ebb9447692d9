"""One replica's layer chain against a bytearray model (hypothesis state machine).

Drives SparseFileChain in process: writes (unaligned too), reads, UNMAP with
and without ZERO, snapshot, revert, mark-removed + purge, expand, reopen from
disk. Every read is compared with the model; a snapshot's content is checked
when the machine reverts to it. An engine's view of the chain (the shared
location map and layer fds, replica/map_share.py) is read as the engine reads
it: whenever it is not marked stale it must equal the model, and every edit of
the layer set must mark it stale. The engine also writes aligned ranges
through that view into the head (engine/local_replica.py), and the revision
counter must count those writes with the replica's own, across edits and
reopens (persisted by flush, as after a SIGKILL otherwise).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engine.local_replica import LocalReplica
from replica import chain_edits, chain_size
from replica.chain import SparseFileChain
from replica.layer_read import read_layers
from replica.map_share import MappedShare
from replica.wire import SECTOR, Flag

START_SECTORS = 12


class LayerChainMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="chain-machine-"))
        self.chain = SparseFileChain.create(self.tmp / "r", START_SECTORS * SECTOR)
        self.model = bytearray(START_SECTORS * SECTOR)
        self.snapshots: dict[str, bytes] = {}  # live (not removed) snapshots
        self.counter = 0
        self.view: MappedShare | None = None  # what an engine on this machine reads and writes
        self.local: LocalReplica | None = None
        self.link = socket.socketpair()  # stands for the data connection: it never hangs up here
        self.revision = 0  # writes + unmaps applied, the engine's included
        self.saved = 0  # the revision as last made durable (flush)

    def teardown(self) -> None:
        self._drop_view()
        self.chain.close()
        for sock in self.link:
            sock.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _drop_view(self) -> None:
        if self.view is not None:
            self.view.close()
            self.view = None
            self.local = None

    def _ensure_view(self) -> MappedShare:
        if self.view is None:  # as received over SCM_RIGHTS: duplicates of the replica's fds
            with self.chain.lock:
                memfd, layers, sectors = self.chain.share()
                held = self.chain.claim_write_slot()
                slot = held[1] if held else 0
                self.view = MappedShare(os.dup(memfd), [os.dup(fd) for fd in layers], sectors, slot)
            self.local = LocalReplica(self.link[0], self.view)
        return self.view

    def _view_read(self, offset: int, length: int) -> bytes:
        assert self.view is not None
        buf = bytearray(length)
        read_layers(self.view.layer_fds, self.view.loc, memoryview(buf), offset)
        return bytes(buf)

    def _edited(self) -> None:
        """After a change of the layer set: a view taken before must say it is stale."""
        if self.view is not None:
            assert self.view.stale, "the layer set changed but the shared map is not marked stale"
            self._drop_view()

    @rule(data=st.data())
    def engine_read(self, data: st.DataObject) -> None:
        self._ensure_view()
        size = len(self.model)
        offset = data.draw(st.integers(0, size - 1))
        length = data.draw(st.integers(1, size - offset))
        assert self._view_read(offset, length) == bytes(self.model[offset : offset + length])

    @rule(data=st.data(), fills=st.lists(st.integers(1, 255), min_size=1, max_size=3))
    def engine_write(self, data: st.DataObject, fills: list[int]) -> None:
        self._ensure_view()
        assert self.local is not None and self.local.writable and self.local.usable()
        sectors = len(self.model) // SECTOR
        batch = []
        for fill in fills:
            first = data.draw(st.integers(0, sectors - 1))
            count = data.draw(st.integers(1, min(3, sectors - first)))
            payload = bytes([fill]) * count * SECTOR
            batch.append((first * SECTOR, len(payload), 0, memoryview(payload)))
            self.model[first * SECTOR : first * SECTOR + len(payload)] = payload
        assert self.local.write(batch)
        self.revision += len(batch)

    def _read(self, offset: int, length: int) -> bytes:
        buf = bytearray(length)
        self.chain.read_into(memoryview(buf), offset)
        return bytes(buf)

    @rule(data=st.data(), fill=st.integers(1, 255), fua=st.booleans())
    def write(self, data: st.DataObject, fill: int, fua: bool) -> None:
        size = len(self.model)
        offset = data.draw(st.integers(0, size - 1))
        length = data.draw(st.integers(1, min(3 * SECTOR + 7, size - offset)))
        payload = bytes([fill]) * length
        self.chain.write(payload, offset, Flag.FUA if fua else 0)
        self.model[offset : offset + length] = payload
        self.revision += 1
        if fua:
            self.saved = self.revision

    @rule(data=st.data())
    def read(self, data: st.DataObject) -> None:
        size = len(self.model)
        offset = data.draw(st.integers(0, size - 1))
        length = data.draw(st.integers(1, size - offset))
        assert self._read(offset, length) == bytes(self.model[offset : offset + length])

    @rule(data=st.data(), zero=st.booleans())
    def unmap(self, data: st.DataObject, zero: bool) -> None:
        size = len(self.model)
        offset = data.draw(st.integers(0, size - 1))
        length = data.draw(st.integers(1, size - offset))
        self.chain.unmap(offset, length, Flag.ZERO if zero else 0)
        self.revision += 1
        end = offset + length
        if zero:
            self.model[offset:end] = bytes(length)
            return
        # advisory: each whole sector reads either as before or zeros; partial sectors unchanged
        after = self._read(0, size)
        first, last = -(-offset // SECTOR), end // SECTOR
        for sector in range(size // SECTOR):
            lo, hi = sector * SECTOR, (sector + 1) * SECTOR
            now = after[lo:hi]
            if first <= sector < last and now == bytes(SECTOR):
                self.model[lo:hi] = now
            assert now == self.model[lo:hi], f"sector {sector} changed by advisory unmap"

    @precondition(lambda self: len(self.chain.fds) < 14)
    @rule()
    def snapshot(self) -> None:
        name = f"s{self.counter}"
        self.counter += 1
        chain_edits.snapshot(self.chain, name, labels={"n": name})
        self.saved = self.revision  # a snapshot flushes first
        self.snapshots[name] = bytes(self.model)
        self._edited()

    @precondition(lambda self: self.snapshots)
    @rule(data=st.data())
    def revert(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.snapshots)))
        chain_edits.revert(self.chain, name)
        self._edited()
        content = self.snapshots[name]
        self.model[:] = content + bytes(len(self.model) - len(content))
        assert self._read(0, len(self.model)) == bytes(self.model)

    @precondition(lambda self: self.snapshots)
    @rule(data=st.data(), purge=st.booleans())
    def remove(self, data: st.DataObject, purge: bool) -> None:
        name = data.draw(st.sampled_from(sorted(self.snapshots)))
        chain_edits.mark_removed(self.chain, name)
        del self.snapshots[name]
        if purge:
            chain_edits.purge(self.chain)
            self._edited()

    @rule()
    def purge(self) -> None:
        removed = any(s.removed for s in self.chain.meta.snapshots)
        chain_edits.purge(self.chain)
        if removed:
            self._edited()

    @precondition(lambda self: len(self.model) < 40 * SECTOR)
    @rule(extra=st.integers(1, 8))
    def expand(self, extra: int) -> None:
        chain_size.check_expand(self.chain, len(self.model) + extra * SECTOR)
        chain_size.expand(self.chain, len(self.model) + extra * SECTOR)
        self.model.extend(bytes(extra * SECTOR))
        self._edited()

    @precondition(lambda self: len(self.model) < 40 * SECTOR)
    @rule(extra=st.integers(1, 8))
    def expand_undone(self, extra: int) -> None:
        """The engine's rollback: grown, then shrunk back before any write; reads as before."""
        chain_size.expand(self.chain, len(self.model) + extra * SECTOR)
        chain_size.undo_expand(self.chain, len(self.model) + extra * SECTOR, len(self.model))
        self._edited()
        assert self.chain.meta.size == len(self.model)

    @rule(flush=st.booleans())
    def reopen(self, flush: bool) -> None:
        if flush:
            self.chain.close()
            self.saved = self.revision
        else:  # as after a SIGKILL: no flush (page cache survives a process kill)
            self.chain._close_fds()
            self.revision = self.saved
        self._drop_view()  # the engine sees the old process's socket hang up
        self.chain = SparseFileChain(self.tmp / "r")

    @invariant()
    def fresh_view_matches_model(self) -> None:
        if self.view is not None and not self.view.stale:
            assert self._view_read(0, len(self.model)) == bytes(self.model)

    @invariant()
    def revision_counts_every_write(self) -> None:
        assert self.chain.revision == self.revision

    @invariant()
    def chain_matches_model(self) -> None:
        assert self.chain.size == len(self.model)
        names = {s.name for s in self.chain.meta.snapshots if not s.removed}
        assert names == set(self.snapshots)
        for snap in self.chain.meta.snapshots:  # parents exist: the tree is intact
            assert snap.parent == "" or self.chain.meta.snapshot(snap.parent) is not None
        on_disk = {p.name for p in (self.tmp / "r").iterdir() if p.name.endswith(".img")}
        assert on_disk == {self.chain.meta.head} | {f"volume-snap-{s.name}.img" for s in self.chain.meta.snapshots}


TestLayerChain = LayerChainMachine.TestCase
TestLayerChain.settings = settings(max_examples=40, stateful_step_count=30, deadline=None,
                                   suppress_health_check=[HealthCheck.too_slow])


def test_full_read_after_machine_example(tmp_path: Path) -> None:
    """A fixed scenario: coalesce and prune keep every visible byte."""
    chain = SparseFileChain.create(tmp_path / "r", 8 * SECTOR)
    chain.write(b"a" * 8 * SECTOR, 0)
    chain_edits.snapshot(chain, "one")
    chain.write(b"b" * SECTOR, SECTOR)
    chain_edits.snapshot(chain, "two")
    chain.write(b"c" * SECTOR, 2 * SECTOR)
    expected = b"a" * SECTOR + b"b" * SECTOR + b"c" * SECTOR + b"a" * 5 * SECTOR
    chain_edits.mark_removed(chain, "one")
    chain_edits.mark_removed(chain, "two")
    deleted, coalesced, pruned = chain_edits.purge(chain)
    assert coalesced == ["one"] and pruned == ["two"] and deleted == []
    assert [s.name for s in chain.meta.snapshots] == ["two"]
    buf = bytearray(8 * SECTOR)
    chain.read_into(memoryview(buf), 0)
    assert bytes(buf) == expected
    chain.close()
    reopened = SparseFileChain(tmp_path / "r")
    reopened.read_into(memoryview(buf), 0)
    assert bytes(buf) == expected
    reopened.close()
