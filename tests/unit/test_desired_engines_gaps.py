"""``DesiredEngines`` trusts the store when the log it follows skips events (a gap).

Events the model never folded (its position moved past them, as if the log had
skipped ids) are recovered from the store when the next event of that aggregate
shows the gap: the aggregate is reloaded. A gap in the volumes catalog reloads it
and every live volume counts as changed; a volume seen for the first time is loaded
whole (volume, replicas, chain).
"""

from __future__ import annotations

from domain.application import ControlPlane
from domain.services import Nodes, Snapshots, Volumes
from domain.values import Disk, VolumeState
from projections.desired_engines import DesiredEngines
from tests.fixtures.nodes import managed


def cluster() -> ControlPlane:
    app = ControlPlane({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for i in (1, 2, 3):
        Nodes(app).add(f"node{i}", f"127.0.1.{i}", disks=[Disk(f"/d{i}", 1 << 40)])
        managed(app)
    Volumes(app).provision("vol", 1 << 20, 3)
    return app


def skip_ahead(model: DesiredEngines) -> None:
    """Move the model past every event saved so far without folding them."""
    model.position = int(model.app.recorder.max_notification_id() or 0)  # type: ignore[attr-defined]


def fresh(app: ControlPlane) -> DesiredEngines:
    model = DesiredEngines(app)
    model.load()
    return model


def test_a_gap_in_a_volume_reloads_it_from_the_store() -> None:
    app = cluster()
    model = fresh(app)
    Volumes(app).start_attach("vol", "node1")
    skip_ahead(model)
    assert model.volume("vol").state == VolumeState.DETACHED  # the skipped event is unseen
    Volumes(app).attached("vol", "nbd://127.0.1.1:1")
    model.catch_up()
    assert model.volume("vol").state == VolumeState.ATTACHED and model.volume("vol").node == "node1"
    assert vars(model.volume("vol")).keys() == vars(fresh(app).volume("vol")).keys()
    assert model.desired("vol") == fresh(app).desired("vol")
    assert "vol" in model.take_changed()


def test_a_gap_in_the_catalog_reloads_it_and_loads_the_unseen_volumes_whole() -> None:
    app = cluster()
    model = fresh(app)
    Volumes(app).provision("unseen", 1 << 20, 2)
    Snapshots(app).take("unseen", "snap1")
    skip_ahead(model)
    Volumes(app).provision("seen", 1 << 20, 2)
    model.catch_up()
    assert model.names() == ["seen", "unseen", "vol"]
    assert model.desired("unseen") == fresh(app).desired("unseen")
    assert "snap1" in model.chain("unseen").snapshots
    assert model.take_changed() == {"seen", "unseen", "vol"}
