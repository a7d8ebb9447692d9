"""Finishing a volume's deletion: each node's manager removes its own replicas.

``volume delete`` (CLI, REST) only records ``DeletionStarted`` (state ``deleting``).
On every pass, the reconciler calls ``remove_local_replicas`` for a deleting volume:
for each of its replicas on a node this manager runs, in this order,

1. the replica process is stopped (and the engine, should one still run here);
2. its data directory is removed;
3. ``Replica.Removed`` is recorded (``Replicas.remove``; the last one also records
   the volume ``Deleted`` in the same transaction).

A manager killed between two steps repeats them on its next pass (stopping a
stopped process and removing a missing directory are no-ops), so nothing is
orphaned and "deleted" is only recorded once the data is gone. A node whose
manager is down keeps its replicas (and the volume ``deleting``) until that
manager comes back (a node cannot be unregistered while replicas are booked on
it); for a node gone for good, ``pronghorn volume delete NAME --force`` records
them removed at once, and should the node return, its manager's garbage pass
stops their processes and removes their directories (the log says they were removed).

``collect_directories`` is that garbage pass over a node's ``<disk>/replicas/``: a
directory no live replica uses is deleted only when it is the recorded data
directory of a replica the log says was removed. Anything else (a replica's
directory an operator copied or moved aside to inspect, a directory of unknown
origin) is left alone and reported once per path as ``UnknownDirectoryFound`` on
the node (``Nodes.report_unknown_directory``; ``pronghorn events`` shows it).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from domain.errors import DomainError, ReplicaNotFound
from domain.replica import Replica
from domain.services import Nodes, Replicas, Volumes
from domain.values import VolumeState
from domain.volume import Volume
from manager.instances import engine_key, replica_key
from manager.supervisor import Supervisor

log = logging.getLogger("pronghorn.manager.deletion")


def replica_directory(replica: Replica) -> Path | None:
    """The replica's own data directory (``<disk>/replicas/<volume>-<name>``), or None when the
    recorded path does not have that shape (never remove anything else)."""
    if not replica.data_dir:
        return None
    path = Path(replica.data_dir)
    if path.name != f"{replica.volume}-{replica.name}" or path.parent.name != "replicas":
        return None
    return path


class DirectoryCollector:
    """Deletes replica directories the log says were removed; reports others once (remembered
    here too, so a reported path costs no store reads on later passes)."""

    def __init__(self, replicas: Replicas, nodes: Nodes) -> None:
        self.replicas = replicas
        self.nodes = nodes
        self.reported: set[tuple[str, str]] = set()  # (node, path)

    def collect(self, node: str, unused: list[Path]) -> None:
        """``unused``: paths under the node's ``<disk>/replicas/`` no live replica or process uses."""
        for path in unused:
            if (node, str(path)) in self.reported:
                continue
            owner = removed_owner(self.replicas, path)
            if owner is not None:
                log.info("%s: removing %s (replica %s/%s was removed)", node, path, owner.volume, owner.name)
                shutil.rmtree(path, ignore_errors=True)
                continue
            try:
                if self.nodes.report_unknown_directory(node, str(path)):
                    log.warning("%s: leaving %s alone: no replica the log says was removed owns it", node, path)
            except DomainError as exc:  # an unregistered node, an unprintable name: still left alone
                log.warning("%s: leaving %s alone (%s)", node, path, exc)
            self.reported.add((node, str(path)))


def removed_owner(replicas: Replicas, path: Path) -> Replica | None:
    """The removed replica whose recorded data directory is ``path``, if the log has one.

    A replica's directory is named ``<volume>-<replica>``; names may hold "-", so every
    split is tried (a few store reads, once per unknown path)."""
    name = path.name
    for volume, replica in ((name[:i], name[i + 1:]) for i, c in enumerate(name) if c == "-"):
        try:
            found = replicas.get(volume, replica)
        except ReplicaNotFound:
            continue
        if found.removed and found.data_dir == str(path):
            return found
    return None


def remove_local_replicas(volumes: Volumes, replicas: Replicas, volume: Volume,
                          supervisors: dict[str, Supervisor]) -> None:
    """Stop, wipe and record removed the deleting volume's replicas on this manager's nodes;
    finish the deletion when none is left."""
    if volume.state != VolumeState.DELETING:
        return
    for each in supervisors.values():
        each.stop(engine_key(volume.name))
    for name in sorted(volume.replicas):
        replica = replicas.get(volume.name, name)
        sup = supervisors.get(replica.node)
        if sup is None:
            continue  # its own node's manager removes it
        sup.stop(replica_key(volume.name, name))
        directory = replica_directory(replica)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
            if directory.exists():
                log.warning("%s: could not remove %s; retrying next pass", volume.name, directory)
                continue
        replicas.remove(volume.name, name)
        log.info("%s: replica %s stopped, %s removed", volume.name, name, directory)
    left = volumes.get(volume.name)
    if left.state == VolumeState.DELETING and not left.replicas:
        volumes.deleted(volume.name)  # normally the last Replicas.remove already did

