"""Volume creation and deletion as the admin CLI does them, without a running manager.

``volume create``: validate the spec, place the replicas with the pure policy
``domain.scheduling.schedule`` over the registered nodes, and only then record
anything — the Volume, one Replica per placement (booked on its node's disk), a
``Scheduled`` condition, and the end of creation (state ``detached``). A
placement that cannot be made raises ``SchedulingFailed`` before any event is
written, so the command can simply be retried after adding nodes or disks.

``volume delete``: start the deletion and, there being no replica processes to
stop, remove every replica (releasing its disk booking); removing the last one
finishes the deletion. Called by :mod:`adapters.cli.volumes` and the demo;
every step is a ``domain.services`` command.
"""

from __future__ import annotations

from typing import Any

from domain.application import ControlPlane
from domain.errors import AlreadyExists
from domain.ids import volume_id
from domain.scheduling import Placement, PlacementRequest, schedule
from domain.services import Nodes, Replicas, Volumes
from domain.values import ConditionType
from domain.volume import Volume


def replica_name(number: int) -> str:
    return f"r{number}"


def replica_data_dir(disk: str, volume: str, replica: str) -> str:
    """Where the replica process keeps the volume's data on its disk (DESIGN.md)."""
    return f"{disk.rstrip('/')}/replicas/{volume}-{replica}"


def provision_volume(app: ControlPlane, name: str, size: int, replicas: int, spec: dict[str, Any]) -> Volume:
    """Create volume ``name`` with its replicas placed; nothing is written if placement fails."""
    wanted = Volume.create(name, size, replicas, **spec)  # validation only: never saved
    if app.recorder.select_events(volume_id(name), limit=1):
        raise AlreadyExists("volume", name)
    placement = schedule(
        PlacementRequest(
            size=wanted.size,
            replicas=wanted.number_of_replicas,
            node_selector=wanted.node_selector,
            disk_selector=wanted.disk_selector,
        ),
        Nodes(app).list(),
    )
    volumes, replica_service = Volumes(app), Replicas(app)
    volumes.create(name, size, replicas, **spec)
    for number, location in enumerate(placement.locations, start=1):
        replica = replica_name(number)
        replica_service.add(
            name, replica, location.node, location.disk, data_dir=replica_data_dir(location.disk, name, replica)
        )
    volumes.set_condition(name, ConditionType.SCHEDULED, True, "", _placement_message(placement))
    return volumes.finish_creating(name)


def delete_volume(app: ControlPlane, name: str) -> Volume:
    """Delete ``name``: start, remove its replicas, and so finish (idempotent if already deleted)."""
    volumes, replica_service = Volumes(app), Replicas(app)
    volume = volumes.delete(name)
    for replica in sorted(volume.replicas):
        replica_service.remove(name, replica)
    return volumes.get(name)


def _placement_message(placement: Placement) -> str:
    where = ", ".join(f"{loc.node}:{loc.disk}" for loc in placement.locations)
    relaxed = f" (soft anti-affinity relaxed: {', '.join(placement.relaxed)})" if placement.relaxed else ""
    return f"replicas placed on {where}{relaxed}"
