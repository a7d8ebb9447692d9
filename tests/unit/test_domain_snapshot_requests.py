"""SnapshotChain requests: intent recorded for the manager (take / fail settle it; revert requests)."""

from __future__ import annotations

import pytest

from domain.application import ControlPlane
from domain.errors import AlreadyExists, InvalidTransition, SnapshotNotFound
from domain.services import Nodes, Snapshots, Volumes
from domain.snapshots import SnapshotChain
from domain.values import GIB, Disk


def test_request_then_take_settles_it() -> None:
    chain = SnapshotChain(volume="vol")
    chain.request("s1", labels={"job": "daily"}, user_created=False)
    assert chain.requests["s1"].labels == {"job": "daily"}
    with pytest.raises(AlreadyExists):
        chain.request("s1")
    chain.take("s1", user_created=False, labels={"job": "daily"})
    assert chain.requests == {} and "s1" in chain.snapshots
    with pytest.raises(AlreadyExists):
        chain.request("s1")


def test_failed_request_is_dropped_and_unknown_one_refused() -> None:
    chain = SnapshotChain(volume="vol")
    chain.request("s1")
    chain.fail_request("s1", "engine unreachable")
    assert chain.requests == {}
    with pytest.raises(SnapshotNotFound):
        chain.fail_request("s1", "again")


def test_revert_request_is_settled_by_revert() -> None:
    chain = SnapshotChain(volume="vol")
    chain.take("s1")
    chain.take("s2")
    chain.request_revert("s1")
    assert chain.revert_requested == "s1"
    chain.revert("s1")
    assert (chain.revert_requested, chain.head_parent) == ("", "s1")
    with pytest.raises(SnapshotNotFound):
        chain.request_revert("nope")


def test_service_requests_survive_reload_and_refuse_deleting_volumes() -> None:
    app = ControlPlane()
    Nodes(app).add("n1", "127.0.0.1", disks=[Disk("/d", 10 * GIB)])
    Volumes(app).provision("v1", GIB, 1)
    snapshots = Snapshots(app)
    snapshots.request("v1", "s1", {"a": "b"})
    assert snapshots.chain("v1").requests["s1"].labels == {"a": "b"}
    Volumes(app).delete("v1")
    with pytest.raises(InvalidTransition):
        snapshots.request("v1", "s2")
