"""Snapshot and revert requests on the SnapshotChain: recorded by a CLI, fulfilled by the manager."""

from __future__ import annotations

import pytest

from domain.application import ControlPlane
from domain.errors import AlreadyExists, InvalidTransition, SnapshotNotFound
from domain.services import Snapshots, Volumes
from domain.snapshots import SnapshotChain


def test_take_fulfils_a_request_and_keeps_its_labels_apart() -> None:
    c = SnapshotChain(volume="vol")
    c.request("s1", {"job": "daily"})
    c.request("s1", {"job": "daily"})  # the same request again: no event
    assert c.requests == {"s1": {"job": "daily"}}
    with pytest.raises(AlreadyExists):
        c.request("s1", {"job": "other"})
    c.take("s1", labels={"job": "daily"})
    assert c.requests == {} and c.head_parent == "s1"
    with pytest.raises(AlreadyExists):
        c.request("s1")
    assert [type(e).__name__ for e in c.collect_events()] == ["Created", "Requested", "Taken"]


def test_failed_request_is_dropped_and_revert_request_cleared_by_revert() -> None:
    c = SnapshotChain(volume="vol")
    c.request("s1")
    c.fail_request("s1", "volume faulted")
    assert c.requests == {}
    c.take("s1")
    c.take("s2")
    with pytest.raises(SnapshotNotFound):
        c.request_revert("nope")
    c.request_revert("s1")
    assert c.revert_request == "s1"
    c.revert("s1")
    assert (c.revert_request, c.head_parent) == ("", "s1")
    c.mark_removed("s2")
    with pytest.raises(InvalidTransition):
        c.request_revert("s2")


def test_requests_survive_the_store_and_refuse_deleted_volumes() -> None:
    app = ControlPlane()
    Volumes(app).create("vol", 4096, 1)
    snapshots = Snapshots(app)
    snapshots.request("vol", "s1", {"k": "v"})
    assert snapshots.chain("vol").requests == {"s1": {"k": "v"}}
    snapshots.take("vol", "s1")
    assert snapshots.chain("vol").requests == {}
    Volumes(app).delete("vol")
    with pytest.raises(InvalidTransition):
        snapshots.request("vol", "s2")
