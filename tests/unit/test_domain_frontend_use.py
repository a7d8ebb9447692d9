"""The in-use rule before a revert (``domain.frontend_use``), the chain's refusal events and the engine's
control address on ``Attached``."""

from __future__ import annotations

import pytest

from domain.application import ControlPlane
from domain.errors import InvalidTransition, InvalidValue, VolumeInUse
from domain.frontend_use import IDLE, FrontendUse, Mounted, refuse_if_in_use
from domain.services import Snapshots, Volumes
from domain.snapshots import SnapshotChain
from domain.volume import Volume

MOUNTED = FrontendUse((Mounted("/mnt/vol1", "nbdfuse"),), 1)


def names(aggregate: object) -> list[str]:
    return [type(e).__name__ for e in aggregate.collect_events()]  # type: ignore[attr-defined]


def test_the_refusal_says_who_uses_the_volume_and_how_to_proceed() -> None:
    with pytest.raises(VolumeInUse) as raised:
        refuse_if_in_use("vol1", "revert to snapshot 's1'", MOUNTED)
    assert str(raised.value) == ("vol1 is in use (mounted at /mnt/vol1 through nbdfuse, 1 NBD client): "
                                 "unmount it first (pronghorn volume umount /mnt/vol1) or pass --force")
    assert isinstance(raised.value, InvalidTransition)  # exit 5, HTTP 409
    with pytest.raises(VolumeInUse, match=r"^vol1 is in use \(3 NBD clients\): disconnect the NBD clients first"):
        refuse_if_in_use("vol1", "revert", FrontendUse(nbd_clients=3))
    refuse_if_in_use("vol1", "revert", MOUNTED, force=True)
    refuse_if_in_use("vol1", "revert", FrontendUse(nbd_clients=0))
    refuse_if_in_use("vol1", "revert", IDLE)  # unknown (engine not asked) is not in use


def test_revert_request_refused_while_in_use_forced_or_refused_later() -> None:
    c = SnapshotChain(volume="vol1")
    c.take("s1")
    c.take("s2")
    c.collect_events()
    with pytest.raises(VolumeInUse):
        c.request_revert("s1", MOUNTED)
    assert c.revert_request == "" and names(c) == []
    c.request_revert("s1", MOUNTED, force=True)
    c.request_revert("s1", MOUNTED, force=True)  # repeated: no event
    assert (c.revert_request, c.revert_forced) == ("s1", True)
    c.revert("s1")
    assert (c.revert_request, c.revert_forced) == ("", False)
    c.request_revert("s2")
    c.refuse_revert("vol1 is in use (1 NBD client)")
    c.refuse_revert("again")  # nothing pending: no event
    assert (c.revert_request, c.revert_refusal, c.head_parent) == ("", "vol1 is in use (1 NBD client)", "s1")
    assert names(c) == ["RevertRequested", "Reverted", "RevertRequested", "RevertRefused"]
    c.request_revert("s2")
    assert c.revert_refusal == ""  # a new request forgets the old refusal
    with pytest.raises(InvalidValue):
        c.request_revert("s2", force="yes")  # type: ignore[arg-type]


def test_refusal_and_force_survive_the_store() -> None:
    app = ControlPlane()
    Volumes(app).create("vol1", 4096, 1)
    snapshots = Snapshots(app)
    snapshots.take("vol1", "s1")
    with pytest.raises(VolumeInUse):
        snapshots.request_revert("vol1", "s1", MOUNTED)
    snapshots.request_revert("vol1", "s1", MOUNTED, force=True)
    assert snapshots.chain("vol1").revert_forced
    snapshots.request_revert("vol1", "s1")
    snapshots.refuse_revert("vol1", "clients connected")
    chain = snapshots.chain("vol1")
    assert (chain.revert_request, chain.revert_forced, chain.revert_refusal) == ("", False, "clients connected")


def test_attached_records_the_engine_control_address() -> None:
    v = Volume.create("vol1", 4096, 1)
    v.finish_creating()
    v.start_attach("node1")
    v.finish_attach("nbd://127.0.1.1:20001", "127.0.1.1:20000")
    v.finish_attach("nbd://127.0.1.1:20001", "127.0.1.1:20000")  # repeated: no event
    assert (v.endpoint, v.engine_control) == ("nbd://127.0.1.1:20001", "127.0.1.1:20000")
    assert names(v)[-2:] == ["Attached", "ConditionChanged"]  # then no longer waiting for the node
    v.start_detach()
    v.finish_detach()
    assert v.engine_control == ""
