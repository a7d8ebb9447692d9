"""The garbage pass over ``replicas/`` (manager.deletion.DirectoryCollector) on an in-memory store
and real directories: only the directory of a replica the log says was removed is deleted (also
when volume names hold "-"); everything else stays and is reported once per path."""

from __future__ import annotations

from pathlib import Path

from domain.application import ControlPlane
from domain.services import Nodes, Replicas, Volumes
from domain.values import GIB, Disk
from manager.deletion import DirectoryCollector, removed_owner


def test_only_removed_replicas_directories_go(tmp_path: Path) -> None:
    app = ControlPlane({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    volumes, replicas, nodes = Volumes(app), Replicas(app), Nodes(app)
    disk = tmp_path / "disk"
    nodes.add("n1", "127.0.0.1", disks=[Disk(str(disk), 10 * GIB)])
    volumes.create("my-vol", GIB, 2)
    volumes.finish_creating("my-vol")
    root = disk / "replicas"
    dirs = {name: root / f"my-vol-{name}" for name in ("r1", "r2")}
    for name, path in dirs.items():
        path.mkdir(parents=True)
        replicas.add("my-vol", name, "n1", str(disk), data_dir=str(path))
    replicas.remove("my-vol", "r1")
    aside, notes = root / "my-vol-r2.inspect", root / "notes"
    aside.mkdir()
    notes.mkdir()

    owner = removed_owner(replicas, dirs["r1"])
    assert owner is not None and (owner.volume, owner.name) == ("my-vol", "r1")
    assert removed_owner(replicas, dirs["r2"]) is None  # recorded, not removed
    assert removed_owner(replicas, aside) is None and removed_owner(replicas, notes) is None

    collector = DirectoryCollector(replicas, nodes)
    for _ in range(3):  # several passes
        collector.collect("n1", [dirs["r1"], aside, notes] if dirs["r1"].exists() else [aside, notes])
    assert not dirs["r1"].exists() and aside.is_dir() and notes.is_dir()
    assert nodes.get("n1").unknown_directories == (str(aside), str(notes))
    version = nodes.get("n1").version
    DirectoryCollector(replicas, nodes).collect("n1", [aside, notes])  # a restarted manager: no new events
    assert nodes.get("n1").version == version and aside.is_dir() and notes.is_dir()
