"""Turning a scheduling decision into replicas: plan, book and name new replicas.

``plan_replicas`` loads the registered nodes and the volume's current replica
locations, runs the pure ``domain.scheduling.schedule`` policy, and returns the new
``Replica`` aggregates plus the ``Node`` aggregates whose disks now book their bytes,
with the volume's membership updated — all unsaved. The caller saves them in the
same transaction as the volume, so a node booked concurrently by another writer
makes the save fail and the whole placement is redone on fresh data (capacity can
never be double-booked). Used by ``Volumes.provision`` and ``Replicas.place``.
"""

from __future__ import annotations

from functools import partial

from domain.errors import NodeNotFound, ReplicaNotFound
from domain.ids import node_id, replica_id
from domain.node import Node
from domain.replica import Replica
from domain.scheduling import Location, Placement, SchedulingSettings, schedule
from domain.service import Service
from domain.values import ReplicaMode, VolumeState
from domain.volume import Volume

NODES = "nodes"


def data_dir(disk: str, volume: str, replica: str) -> str:
    """Where a replica process keeps the volume's data on its disk (DESIGN.md layout)."""
    return f"{disk.rstrip('/')}/replicas/{volume}-{replica}"


def booking(volume: str, replica: str) -> str:
    """The key under which a replica's bytes are booked on its node's disk."""
    return f"{volume}/{replica}"


def describe(placement: Placement) -> str:
    """One line for the ``Scheduled`` condition's message."""
    where = ", ".join(f"{loc.node}:{loc.disk}" for loc in placement.locations)
    relaxed = f" (soft anti-affinity relaxed: {', '.join(placement.relaxed)})" if placement.relaxed else ""
    return f"replicas placed on {where}{relaxed}"


def plan_replicas(service: Service, volume: Volume, count: int,
                  settings: SchedulingSettings) -> tuple[Placement, list[Replica], list[Node]]:
    """Place ``count`` new replicas of ``volume`` (raises ``SchedulingFailed``); nothing saved."""
    nodes = [service._load(Node, node_id(name), partial(NodeNotFound, name))
             for name in service._catalog(NODES).sorted_names()]
    existing = []
    for member in volume.replicas.values():
        replica = service._load(Replica, replica_id(volume.name, member.name),
                                partial(ReplicaNotFound, volume.name, member.name))
        existing.append(Location(replica.node, replica.disk))
    request = settings.request(volume.size, count, volume.node_selector, volume.disk_selector)
    placement = schedule(request, nodes, existing)
    # A fresh volume's replicas are all empty, hence in sync; later ones need a rebuild.
    mode = ReplicaMode.RW if volume.state == VolumeState.CREATING else ReplicaMode.WO
    hosts = {n.name: n for n in nodes}
    touched: dict[str, Node] = {}
    replicas = []
    number = 0
    for location in placement.locations:
        number += 1
        while f"r{number}" in volume.replicas or service._exists(replica_id(volume.name, f"r{number}")):
            number += 1  # replica names are never reused within a volume
        name = f"r{number}"
        replicas.append(Replica.create(volume.name, name, location.node, location.disk,
                                       data_dir(location.disk, volume.name, name), mode=mode))
        volume.add_replica(name, location.node, mode)
        host = touched.setdefault(location.node, hosts[location.node])
        host.schedule_replica(location.disk, booking(volume.name, name), volume.size)
    return placement, replicas, list(touched.values())
