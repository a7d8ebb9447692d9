"""The desired engine state is a pure function of a volume and its replicas."""

from __future__ import annotations

from domain.application import ControlPlane
from domain.services import Nodes, Replicas, Volumes
from domain.values import Disk, ReplicaMode
from projections.desired_engine import Finish, desired_engine
from tests.fixtures.nodes import managed


def cluster() -> ControlPlane:
    app = ControlPlane()
    for i in (1, 2, 3):
        Nodes(app).add(f"node{i}", f"127.0.1.{i}", disks=[Disk(path=f"/d{i}", capacity=1 << 40)])
        managed(app)
    Volumes(app).provision("vol", 1 << 20, 3)
    return app


def desired(app: ControlPlane):  # type: ignore[no-untyped-def]
    return desired_engine(Volumes(app).get("vol"), Replicas(app).list_for("vol"))


def test_detached_volume_runs_nothing() -> None:
    d = desired(cluster())
    assert (d.run, d.engine_node, d.finish) == (False, "", Finish.NOTHING)
    assert [r.name for r in d.replicas] == ["r1", "r2", "r3"] and d.size == 1 << 20


def test_attaching_runs_everything_on_the_requested_node_and_finishes_attach() -> None:
    app = cluster()
    Volumes(app).start_attach("vol", "node2")
    d = desired(app)
    assert (d.run, d.engine_node, d.finish) == (True, "node2", Finish.ATTACH)
    assert d.start_with == ("r1", "r2", "r3")
    Volumes(app).attached("vol", "nbd://127.0.1.2:1")
    assert desired(app).finish == Finish.NOTHING


def test_engine_starts_with_rw_replicas_only_and_salvages_when_none_is_rw() -> None:
    app = cluster()
    Volumes(app).start_attach("vol", "node1")
    Replicas(app).fail("vol", "r2", "gone")
    Replicas(app).set_address("vol", "r1", "127.0.1.1:20000")
    d = desired(app)
    assert d.start_with == ("r1", "r3")
    assert d.replica("r2").mode == ReplicaMode.ERR  # type: ignore[union-attr]
    assert d.by_address("127.0.1.1:20000").name == "r1"  # type: ignore[union-attr]
    assert d.by_address("") is None
    for name in ("r1", "r3"):
        Replicas(app).fail("vol", name, "gone")
    assert desired(app).start_with == ("r1", "r2", "r3")  # auto-salvage: the engine picks the freshest


def test_detaching_stops_everything_and_finishes_detach() -> None:
    app = cluster()
    Volumes(app).start_attach("vol", "node1")
    Volumes(app).start_detach("vol")
    d = desired(app)
    assert (d.run, d.engine_node, d.finish) == (False, "", Finish.DETACH)


def test_removed_replicas_are_not_desired() -> None:
    app = cluster()
    Replicas(app).remove("vol", "r3")
    assert [r.name for r in desired(app).replicas] == ["r1", "r2"]
