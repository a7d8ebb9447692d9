"""Manager-driven deletion (manager.deletion) on an in-memory store and real directories.

Each node's manager removes only its own replicas (directory gone, then recorded
removed); the volume stays ``deleting`` — in the aggregate and in the status fold —
until the last one is gone; a directory of an unexpected shape is never removed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.application import ControlPlane
from domain.errors import InvalidTransition
from domain.services import Nodes, Replicas, Volumes
from domain.values import GIB, Disk, VolumeState
from manager.deletion import remove_local_replicas, replica_directory
from manager.supervisor import Supervisor
from projections.volume_status import fold
from tests.fixtures.status_checks import history


def supervisor(tmp_path: Path, node: str) -> Supervisor:
    return Supervisor(node, tmp_path / node, "127.0.0.1")


def status_state(app: ControlPlane) -> VolumeState:
    return fold(history(app, "vol")).state


def test_each_node_removes_its_own_replicas_and_the_last_one_finishes(tmp_path: Path) -> None:
    app = ControlPlane({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    volumes, replicas = Volumes(app), Replicas(app)
    volumes.create("vol", GIB, 2)
    volumes.finish_creating("vol")
    dirs = {}
    for i in (1, 2):
        disk = tmp_path / f"n{i}" / "disk"
        Nodes(app).add(f"n{i}", f"127.0.0.{i}", disks=[Disk(str(disk), 10 * GIB)])
        dirs[i] = disk / "replicas" / f"vol-r{i}"
        dirs[i].mkdir(parents=True)
        (dirs[i] / "volume-head-001.img").write_bytes(b"x" * 4096)
        replicas.add("vol", f"r{i}", f"n{i}", str(disk), data_dir=str(dirs[i]))

    remove_local_replicas(volumes, replicas, volumes.get("vol"), {"n1": supervisor(tmp_path, "n1")})
    assert volumes.get("vol").state == VolumeState.DETACHED and dirs[1].exists()  # not deleting: untouched

    volumes.delete("vol")
    assert status_state(app) == VolumeState.DELETING
    remove_local_replicas(volumes, replicas, volumes.get("vol"), {"n1": supervisor(tmp_path, "n1")})
    assert not dirs[1].exists() and dirs[2].exists()
    assert replicas.get("vol", "r1").removed and sorted(volumes.get("vol").replicas) == ["r2"]
    assert volumes.get("vol").state == VolumeState.DELETING and status_state(app) == VolumeState.DELETING
    with pytest.raises(InvalidTransition):
        volumes.start_attach("vol", "n1")

    remove_local_replicas(volumes, replicas, volumes.get("vol"), {"n2": supervisor(tmp_path, "n2")})
    assert not dirs[2].exists()
    assert volumes.get("vol").state == VolumeState.DELETED and status_state(app) == VolumeState.DELETED
    assert volumes.names() == []


def test_an_attached_volume_is_refused_with_a_hint() -> None:
    app = ControlPlane({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    volumes = Volumes(app)
    volumes.create("vol", GIB, 1)
    volumes.finish_creating("vol")
    Nodes(app).add("n1", "127.0.0.1")
    volumes.start_attach("vol", "n1")
    with pytest.raises(InvalidTransition, match="detach it first"):
        volumes.delete("vol")
    assert volumes.get("vol").state == VolumeState.ATTACHING


def test_only_a_replica_shaped_directory_is_ever_removed(tmp_path: Path) -> None:
    app = ControlPlane({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    Nodes(app).add("n1", "127.0.0.1", disks=[Disk(str(tmp_path), 10 * GIB)])
    Volumes(app).create("vol", GIB, 3)
    replicas = Replicas(app)
    replicas.add("vol", "r1", "n1", str(tmp_path), data_dir=str(tmp_path / "replicas" / "vol-r1"))
    replicas.add("vol", "r2", "n1", str(tmp_path), data_dir=str(tmp_path))  # a disk, not a replica dir
    replicas.add("vol", "r3", "n1", str(tmp_path))
    assert replica_directory(replicas.get("vol", "r1")) == tmp_path / "replicas" / "vol-r1"
    assert replica_directory(replicas.get("vol", "r2")) is None
    assert replica_directory(replicas.get("vol", "r3")) is None
