"""SnapshotChain aggregate: take, mark removed, purge outcome, revert, limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import AlreadyExists, InvalidTransition, InvalidValue, SnapshotNotFound
from domain.snapshots import MAX_SNAPSHOTS, SnapshotChain


def chain(*names: str) -> SnapshotChain:
    c = SnapshotChain(volume="vol")
    for n in names:
        c.take(n)
    return c


def shape(c: SnapshotChain) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {s.name: (s.parent, s.children) for s in c.snapshots.values()}


def test_take_links_parent_and_children() -> None:
    c = chain("s1", "s2")
    info = c.take("s3", created=datetime(2026, 1, 1, tzinfo=UTC), user_created=False, labels={"k": "v"})
    assert (info.parent, info.user_created, info.labels) == ("s2", False, {"k": "v"})
    assert shape(c) == {"s1": ("", ("s2",)), "s2": ("s1", ("s3",)), "s3": ("s2", ())}
    assert c.head_parent == "s3"
    with pytest.raises(AlreadyExists):
        c.take("s1")
    with pytest.raises(InvalidValue):
        c.take("Bad Name")
    assert [type(e).__name__ for e in c.collect_events()] == ["Created", "Taken", "Taken", "Taken"]


def test_revert_branches_the_tree() -> None:
    c = chain("s1", "s2")
    c.revert("s1")
    c.take("s3")
    assert shape(c) == {"s1": ("", ("s2", "s3")), "s2": ("s1", ()), "s3": ("s1", ())}
    with pytest.raises(SnapshotNotFound):
        c.revert("nope")
    c.mark_removed("s2")
    with pytest.raises(InvalidTransition, match="marked removed"):
        c.revert("s2")


def test_purge_removes_leaves_and_coalesces() -> None:
    c = chain("s1", "s2", "s3", "s4")  # head on s4
    c.mark_removed("s2")
    c.mark_removed("s4")
    with pytest.raises(InvalidTransition):
        c.purged(removed=["s4"])  # the head sits on it
    with pytest.raises(InvalidTransition):
        c.purged(coalesced={"s1": "s2"})  # s1 not marked removed
    with pytest.raises(SnapshotNotFound):
        c.purged(removed=["zz"])
    c.purged(coalesced={"s2": "s3"})
    assert shape(c) == {"s1": ("", ("s3",)), "s3": ("s1", ("s4",)), "s4": ("s3", ())}
    c.revert("s3")
    c.purged(removed=["s4"])
    assert shape(c) == {"s1": ("", ("s3",)), "s3": ("s1", ())}
    c.purged()  # nothing happened: no event
    assert [type(e).__name__ for e in c.collect_events()][-3:] == ["Purged", "Reverted", "Purged"]


def test_failed_purge_changes_nothing() -> None:
    c = chain("s1", "s2", "s3")
    c.mark_removed("s1")
    before = dict(c.snapshots)
    with pytest.raises(InvalidTransition):
        c.purged(coalesced={"s1": "s2"}, removed=["s3"])  # second half invalid
    assert c.snapshots == before


def test_measure() -> None:
    c = chain("s1")
    c.measure("s1", 8192, "ab" * 32)
    c.measure("s1", 8192, "ab" * 32)
    assert (c.get("s1").size, c.get("s1").checksum) == (8192, "ab" * 32)
    assert [type(e).__name__ for e in c.collect_events()] == ["Created", "Taken", "Measured"]


def test_at_most_250_snapshots() -> None:
    c = chain(*(f"s{i}" for i in range(MAX_SNAPSHOTS)))
    with pytest.raises(InvalidTransition, match="250"):
        c.take("one-more")
    c.mark_removed("s0")
    with pytest.raises(InvalidTransition):
        c.take("one-more")  # removed but not purged still counts
    c.purged(coalesced={"s0": "s1"})
    c.take("one-more")
    assert len(c.snapshots) == MAX_SNAPSHOTS
