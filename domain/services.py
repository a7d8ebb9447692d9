"""Application services for volumes and nodes (and re-exports of the others).

Each method is one command: load -> command -> save, retried on optimistic
concurrency conflicts (``domain.service.Service``). Methods return the aggregate as
saved. ``Volumes.provision`` creates a volume with its replicas placed by the
scheduling policy and booked on their disks, all in one transaction. Listing reads the ``Catalog`` of live names saved in the same transaction as
each create / delete, so it is right on every persistence module.

Called by adapters (CLI, REST, CSI), the manager and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from domain import causation, validation
from domain.errors import AlreadyExists, InvalidTransition, NodeNotFound, ReplicaNotFound, VolumeNotFound
from domain.ids import node_id, replica_id, volume_id
from domain.node import Node, make_disk
from domain.replica import Replica
from domain.replica_placement import booking, describe, plan_replicas
from domain.replicas_service import Replicas
from domain.scheduling import SchedulingSettings, check_growth
from domain.service import Service
from domain.snapshots_service import Snapshots
from domain.values import ConditionType, Disk, NotReadyReason, ResizeReason, VolumeState
from domain.volume import Volume

__all__ = ["Nodes", "Replicas", "Snapshots", "Volumes"]

VOLUMES = "volumes"
NODES = "nodes"
Bookings = dict[tuple[str, str], list[str]]  # (node, disk) -> booking keys of a volume's replicas there


class Volumes(Service):
    def get(self, name: str) -> Volume:
        """The volume (also when deleted: its history stays readable)."""
        return self._load(Volume, volume_id(name), lambda: VolumeNotFound(name))

    def names(self) -> list[str]:
        """Names of volumes not yet deleted, sorted."""
        return self._catalog(VOLUMES).sorted_names()

    def list(self) -> list[Volume]:
        """Volumes not yet deleted, sorted by name."""
        return [self.get(name) for name in self.names()]

    def create(self, name: str, size: int, number_of_replicas: int = 3, **spec: Any) -> Volume:
        """Create a volume in state ``creating``; see ``Volume.create`` for the spec fields."""
        def command() -> Volume:
            volume = Volume.create(name, size, number_of_replicas, **spec)
            self._refuse_taken(name, volume)
            catalog = self._catalog(VOLUMES)
            catalog.add(name)
            self.app.save(volume, catalog)
            return volume

        return self._retry(f"volume {name!r}", command)

    def provision(self, name: str, size: int, number_of_replicas: int = 3,
                  settings: SchedulingSettings | None = None, **spec: Any) -> Volume:
        """Create a volume with its replicas placed and booked, ready (``detached``),
        in ONE transaction; if no placement exists, raise ``SchedulingFailed`` and
        write nothing. Concurrent bookings of the same nodes are retried on fresh data."""
        def command() -> Volume:
            volume = Volume.create(name, size, number_of_replicas, **spec)
            self._refuse_taken(name, volume)
            placement, replicas, hosts = plan_replicas(self, volume, volume.number_of_replicas,
                                                       settings or SchedulingSettings())
            volume.set_condition(ConditionType.SCHEDULED, True, "", describe(placement))
            volume.finish_creating()
            catalog = self._catalog(VOLUMES)
            catalog.add(name)
            self.app.save(volume, catalog, *replicas, *hosts)
            return volume

        return self._retry(f"volume {name!r}", command)

    def _refuse_taken(self, name: str, volume: Volume) -> None:
        """AlreadyExists if the name is in use. A deleted volume's name stays taken: ids derive
        from names, so its history (``pronghorn events NAME``) stays readable under it."""
        if not self._exists(volume.id):
            return
        state = self.get(name).state
        if state in (VolumeState.DELETING, VolumeState.DELETED):
            raise AlreadyExists("volume", name, f"{state}; a deleted volume's name is not reused, so its history "
                                                f"stays readable: 'pronghorn events {name}'; choose another name")
        raise AlreadyExists("volume", name)

    def _update(self, name: str, change: Callable[[Volume], object]) -> Volume:
        with self._refusals_recorded(name):
            return self._change(f"volume {name!r}", lambda: self.get(name), change)

    @contextmanager
    def _refusals_recorded(self, name: str) -> Iterator[None]:
        """A command a person or a job gave (``domain.causation``) that the volume's state refuses
        is recorded on the volume (CommandRefused) before the refusal is raised; the manager's own
        refusals are not (it retries them pass after pass)."""
        try:
            yield
        except InvalidTransition as refusal:
            actor = causation.current().actor
            if actor and not actor.startswith(causation.MANAGER) and refusal.kind == "volume":
                command, why = refusal.command, str(refusal)
                self._change(f"volume {name!r}", lambda: self.get(name), lambda v: v.note_refused(command, why))
            raise

    def finish_creating(self, name: str) -> Volume:
        return self._update(name, Volume.finish_creating)

    def expand(self, name: str, size: int, settings: SchedulingSettings | None = None) -> Volume:
        """Grow the volume; its replicas' bookings on their disks grow with it, each disk
        checked as a new placement is (``SchedulingFailed`` and nothing written otherwise).
        On an attached volume, the ``Resized`` condition says ``Expanding`` until its engine
        has grown (or refused: ``expand_refused``)."""
        settings = settings or SchedulingSettings()

        def command() -> Volume:
            volume = self.get(name)
            old_size = volume.size
            with self._refusals_recorded(name):
                volume.expand(size)
            if volume.size == old_size:
                return volume
            hosts, growing = self._bookings(volume)
            for (node, disk), bookings in sorted(growing.items()):
                host = hosts[node]
                booked = sum(host.scheduled[disk].get(b, 0) for b in bookings)
                check_growth(settings.request(volume.size, len(bookings)), host, host.disks[disk], booked)
            self._book(volume, hosts, growing)
            if volume.state == VolumeState.ATTACHED:  # detached: its engine starts at the new size or says why
                volume.set_condition(ConditionType.RESIZED, False, ResizeReason.EXPANDING,
                                     "the engine has not grown to the new size yet")
            self.app.save(volume, *hosts.values())
            return volume

        return self._retry(f"volume {name!r}", command)

    def expand_refused(self, name: str, served: int, reason: str) -> Volume:
        """The engine's replicas refused the expand: the volume is back at the ``served``
        size, its bookings too, and the ``Resized`` condition says why."""
        def command() -> Volume:
            volume = self.get(name)
            volume.revert_expand(served)
            hosts, growing = self._bookings(volume)
            self._book(volume, hosts, growing)
            volume.set_condition(ConditionType.RESIZED, False, ResizeReason.REFUSED, reason)
            self.app.save(volume, *hosts.values())
            return volume

        return self._retry(f"volume {name!r}", command)

    def _bookings(self, volume: Volume) -> tuple[dict[str, Node], Bookings]:
        """The nodes holding the volume's replicas, and its bookings by (node, disk)."""
        hosts: dict[str, Node] = {}
        growing: Bookings = {}
        for member in volume.replicas.values():
            replica = self._load(Replica, replica_id(volume.name, member.name),
                                 partial(ReplicaNotFound, volume.name, member.name))
            host = hosts.get(replica.node) or self._load(Node, node_id(replica.node),
                                                         partial(NodeNotFound, replica.node))
            hosts[replica.node] = host
            if replica.disk in host.disks and not host.removed:
                growing.setdefault((replica.node, replica.disk), []).append(booking(volume.name, member.name))
        return hosts, growing

    @staticmethod
    def _book(volume: Volume, hosts: dict[str, Node], bookings: Bookings) -> None:
        for (node, disk), keys in bookings.items():
            for key in keys:
                hosts[node].schedule_replica(disk, key, volume.size)

    def set_number_of_replicas(self, name: str, number: int) -> Volume:
        return self._update(name, lambda v: v.set_number_of_replicas(number))

    def activate(self, name: str) -> Volume:
        return self._update(name, Volume.activate)

    def start_attach(self, name: str, node: str) -> Volume:
        """Ask for the volume's engine on ``node``: NodeNotFound unless it is registered."""
        def change(volume: Volume) -> None:
            Nodes(self.app).get(validation.name("node name", node))
            volume.start_attach(node)

        return self._update(name, change)

    def attached(self, name: str, endpoint: str, control: str = "") -> Volume:
        return self._update(name, lambda v: v.finish_attach(endpoint, control))

    def attach_failed(self, name: str, reason: str) -> Volume:
        return self._update(name, lambda v: v.fail_attach(reason))

    def start_detach(self, name: str) -> Volume:
        return self._update(name, Volume.start_detach)

    def detached(self, name: str) -> Volume:
        return self._update(name, Volume.finish_detach)

    def force_detach(self, name: str) -> Volume:
        """Record the volume detached now, without its node's manager (see ``Volume.force_detach``)."""
        return self._update(name, Volume.force_detach)

    def set_condition(self, name: str, type: str, status: bool, reason: str = "", message: str = "") -> Volume:
        return self._update(name, lambda v: v.set_condition(type, status, reason, message))

    def delete(self, name: str) -> Volume:
        """Start deleting; a volume without replicas is deleted at once.

        With replicas, the volume stays ``deleting`` until they are removed: each
        node's manager stops and wipes its own and records them removed
        (``manager.deletion``); ``Replicas.remove`` finishes the deletion with the
        last one. Refused while attached (detach first).
        """
        def command() -> Volume:
            volume = self.get(name)
            with self._refusals_recorded(name):
                volume.start_delete()
            if not volume.replicas:
                volume.finish_delete()
            catalog = self._catalog(VOLUMES)
            if volume.state == VolumeState.DELETED:
                catalog.drop(name)
            self.app.save(volume, catalog)
            return volume

        return self._retry(f"volume {name!r}", command)

    def deleted(self, name: str) -> Volume:
        """Finish deleting a volume whose replicas are all gone."""
        def command() -> Volume:
            volume = self.get(name)
            volume.finish_delete()
            catalog = self._catalog(VOLUMES)
            catalog.drop(name)
            self.app.save(volume, catalog)
            return volume

        return self._retry(f"volume {name!r}", command)


class Nodes(Service):
    def get(self, name: str) -> Node:
        """The node; NodeNotFound if it was never registered or was removed."""
        node = self._load(Node, node_id(name), lambda: NodeNotFound(name))
        if node.removed:
            raise NodeNotFound(name)
        return node

    def names(self) -> list[str]:
        return self._catalog(NODES).sorted_names()

    def list(self) -> list[Node]:
        """Registered (not removed) nodes, sorted by name."""
        return [self.get(name) for name in self.names()]

    def add(self, name: str, address: str, zone: str = "", tags: Iterable[str] = (),
            disks: Iterable[Disk] = ()) -> Node:
        """Register a node; a removed node of that name comes back with its old disks
        plus any new ones given."""
        disks = [make_disk(d.path, d.capacity, d.reserved, d.tags, d.schedulable) for d in disks]

        def command() -> Node:
            node = Node.create(name, address, zone, tags, disks)
            if self._exists(node.id):
                node = self._load(Node, node.id, lambda: NodeNotFound(name))
                node.reregister(address, zone, tags)  # AlreadyExists unless removed
                for disk in disks:
                    if disk.path not in node.disks:
                        node.add_disk(disk.path, disk.capacity, disk.reserved, disk.tags, disk.schedulable)
            catalog = self._catalog(NODES)
            catalog.add(name)
            self.app.save(node, catalog)
            return node

        return self._retry(f"node {name!r}", command)

    def _update(self, name: str, change: Callable[[Node], object]) -> Node:
        return self._change(f"node {name!r}", lambda: self.get(name), change)

    def update(self, name: str, address: str | None = None, zone: str | None = None,
               tags: Iterable[str] | None = None) -> Node:
        return self._update(name, lambda n: n.update(address, zone, tags))

    def cordon(self, name: str) -> Node:
        return self._update(name, Node.cordon)

    def uncordon(self, name: str) -> Node:
        return self._update(name, Node.uncordon)

    def add_disk(self, name: str, path: str, capacity: int, reserved: int = 0,
                 tags: Iterable[str] = (), schedulable: bool = True) -> Node:
        make_disk(path, capacity, reserved, tags, schedulable)  # fail fast, before loading
        return self._update(name, lambda n: n.add_disk(path, capacity, reserved, tags, schedulable))

    def update_disk(self, name: str, path: str, *, capacity: int | None = None, reserved: int | None = None,
                    tags: Iterable[str] | None = None, schedulable: bool | None = None) -> Node:
        return self._update(name, lambda n: n.update_disk(
            path, capacity=capacity, reserved=reserved, tags=tags, schedulable=schedulable))

    def report_unknown_directory(self, name: str, path: str) -> bool:
        """Record ``UnknownDirectoryFound`` once per path; True when this call recorded it."""
        first = []
        self._update(name, lambda n: first.append(n.report_unknown_directory(path)))
        return first[-1]

    def remove_disk(self, name: str, path: str) -> Node:
        return self._update(name, lambda n: n.remove_disk(path))

    def mark_ready(self, name: str, message: str) -> Node:
        """Called by the node's own manager (at start-up, and after a lapse it outlived)."""
        return self._update(name, lambda n: n.mark_ready(message))

    def mark_not_ready(self, name: str, reason: NotReadyReason, message: str) -> Node:
        """Called by the cluster's leader when the node's manager stopped heartbeating."""
        return self._update(name, lambda n: n.mark_not_ready(reason, message))

    def confirm_disk(self, name: str, path: str) -> Node:
        return self._update(name, lambda n: n.confirm_disk(path))

    def fail_disk_check(self, name: str, path: str, problem: str) -> Node:
        return self._update(name, lambda n: n.fail_disk_check(path, problem))

    def remove(self, name: str) -> Node:
        """Unregister a node with no replicas scheduled on it and no volume attached or
        attaching there (its history stays; ``add`` brings it back)."""
        def command() -> Node:
            node = self.get(name)
            served = [v.name for v in Volumes(self.app).list() if v.node == name]
            if served and not node.removed:
                raise InvalidTransition("node", name, "serving volumes", "remove",
                                        f"volumes attached there: {', '.join(served)} (detach them first)")
            node.remove()
            catalog = self._catalog(NODES)
            catalog.drop(name)
            self.app.save(node, catalog)
            return node

        return self._retry(f"node {name!r}", command)
