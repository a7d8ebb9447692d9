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
stops their processes and removes their directories (nothing live wants them).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from domain.replica import Replica
from domain.services import Replicas, Volumes
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

