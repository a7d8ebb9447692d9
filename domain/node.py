"""``Node``: a storage node, its disks and the replica bytes scheduled on each disk.

Commands -> events: ``create`` (Registered), ``update`` (Updated), ``cordon`` /
``uncordon`` (Cordoned / Uncordoned), ``add_disk`` (DiskAdded), ``update_disk``
(DiskUpdated), ``remove_disk`` (DiskRemoved), ``schedule_replica`` (ReplicaScheduled),
``release_replica`` (ReplicaReleased), ``remove`` (Removed), ``reregister``
(Reregistered), ``report_unknown_directory`` (UnknownDirectoryFound: something under
a disk's ``replicas/`` that no replica recorded removed owns; the manager leaves it
alone and reports each path once). A cordoned node takes no new replicas; a removed node keeps its
history and can be registered again under the same name.

Presence: a node is not Ready until its own manager says so (``mark_ready`` ->
ReadyReported); the cluster's leader marks it NotReady when that manager's heartbeat
lapses, and a manager stopping cleanly marks its own (``mark_not_ready`` ->
NotReadyDeclared, with a reason and a readable message).
A disk takes replicas only once the node's manager has checked it on the node
(``confirm_disk`` -> DiskConfirmed; ``fail_disk_check`` -> DiskCheckFailed). Each
is recorded only when it changes, so heartbeats never reach the event log.

Used by ``domain.services.Nodes`` / ``Replicas`` and read by ``domain.scheduling``.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import validation
from domain.errors import AlreadyExists, DiskNotFound, InvalidTransition, InvalidValue
from domain.ids import node_id
from domain.values import Disk, NotReadyReason

MAX_DISKS = 256  # per node


def make_disk(path: str, capacity: int, reserved: int = 0, tags: Iterable[str] = (),
              schedulable: bool = True) -> Disk:
    """Validate and build a ``Disk`` (a disk path as ``validation.disk_path`` allows it,
    capacity > 0, 0 <= reserved <= capacity)."""
    path = validation.disk_path("disk path", path)
    capacity = validation.integer("disk capacity", capacity, 1)
    reserved = validation.integer("disk reserved", reserved, 0, capacity)
    if not isinstance(schedulable, bool):
        raise InvalidValue("disk schedulable", schedulable, "must be true or false")
    return Disk(path=path, capacity=capacity, reserved=reserved,
                tags=validation.tags("disk tags", tags), schedulable=schedulable)


class Node(Aggregate):
    # Class defaults: a node restored from a snapshot taken before these existed reads them.
    unknown_directories: tuple[str, ...] = ()
    ready: bool = False
    ready_reason: str = NotReadyReason.NO_MANAGER
    ready_message: str = "no manager has reported for this node yet"
    confirmed_disks: tuple[str, ...] = ()  # paths the node's manager checked (exists, directory, writable)
    disk_problems: tuple[tuple[str, str], ...] = ()  # (path, why its check failed)

    @staticmethod
    def create_id(name: str) -> UUID:
        return node_id(name)

    @classmethod
    def create(cls, name: str, address: str, zone: str = "", tags: Iterable[str] = (),
               disks: Iterable[Disk] = ()) -> Node:
        """Validate and register a node (schedulable, with the given disks)."""
        by_path: dict[str, Disk] = {}
        for disk in disks:
            disk = make_disk(disk.path, disk.capacity, disk.reserved, disk.tags, disk.schedulable)
            if disk.path in by_path:
                raise AlreadyExists("disk", disk.path, f"on node {name!r}")
            by_path[disk.path] = disk
        if len(by_path) > MAX_DISKS:
            raise InvalidValue("disks", len(by_path), f"at most {MAX_DISKS} per node")
        return cls(
            name=validation.name("node name", name),
            address=validation.address("node address", address),
            zone=_zone(zone),
            tags=validation.tags("node tags", tags),
            disks=by_path,
        )

    @event("Registered")
    def __init__(self, name: str, address: str, zone: str, tags: tuple[str, ...],
                 disks: dict[str, Disk]) -> None:
        self.name = name
        self.address = address
        self.zone = zone
        self.tags = tags
        self.disks = dict(disks)
        self.schedulable = True
        self.removed = False
        self.scheduled: dict[str, dict[str, int]] = {path: {} for path in disks}

    def scheduled_bytes(self, path: str) -> int:
        """Bytes of replica data scheduled on disk ``path``."""
        return sum(self.scheduled.get(path, {}).values())

    def _refuse(self, command: str, detail: str = "") -> InvalidTransition:
        state = "removed" if self.removed else ("cordoned" if not self.schedulable else "ready")
        return InvalidTransition("node", self.name, state, command, detail)

    def _live(self, command: str) -> None:
        if self.removed:
            raise self._refuse(command)

    def _disk(self, path: str) -> Disk:
        try:
            return self.disks[path.rstrip("/") or "/"]
        except KeyError:
            raise DiskNotFound(self.name, path) from None

    def update(self, address: str | None = None, zone: str | None = None,
               tags: Iterable[str] | None = None) -> None:
        self._live("update")
        new = (
            self.address if address is None else validation.address("node address", address),
            self.zone if zone is None else _zone(zone),
            self.tags if tags is None else validation.tags("node tags", tags),
        )
        if new != (self.address, self.zone, self.tags):
            self._updated(*new)

    @event("Updated")
    def _updated(self, address: str, zone: str, tags: tuple[str, ...]) -> None:
        self.address, self.zone, self.tags = address, zone, tags

    def cordon(self) -> None:
        self._live("cordon")
        if self.schedulable:
            self._cordoned()

    @event("Cordoned")
    def _cordoned(self) -> None:
        self.schedulable = False

    def uncordon(self) -> None:
        self._live("uncordon")
        if not self.schedulable:
            self._uncordoned()

    @event("Uncordoned")
    def _uncordoned(self) -> None:
        self.schedulable = True

    def add_disk(self, path: str, capacity: int, reserved: int = 0, tags: Iterable[str] = (),
                 schedulable: bool = True) -> None:
        self._live("add a disk to")
        disk = make_disk(path, capacity, reserved, tags, schedulable)
        if len(self.disks) >= MAX_DISKS:
            raise InvalidValue("disks", len(self.disks) + 1, f"at most {MAX_DISKS} per node")
        if disk.path in self.disks:
            raise AlreadyExists("disk", disk.path, f"on node {self.name!r}")
        self._disk_added(disk)

    @event("DiskAdded")
    def _disk_added(self, disk: Disk) -> None:
        self.disks[disk.path] = disk
        self.scheduled[disk.path] = {}

    def update_disk(self, path: str, *, capacity: int | None = None, reserved: int | None = None,
                    tags: Iterable[str] | None = None, schedulable: bool | None = None) -> None:
        self._live("update a disk of")
        old = self._disk(path)
        disk = make_disk(
            old.path,
            old.capacity if capacity is None else capacity,
            old.reserved if reserved is None else reserved,
            old.tags if tags is None else tags,
            old.schedulable if schedulable is None else schedulable,
        )
        if disk != old:
            self._disk_updated(disk)

    @event("DiskUpdated")
    def _disk_updated(self, disk: Disk) -> None:
        self.disks[disk.path] = disk

    def remove_disk(self, path: str) -> None:
        self._live("remove a disk of")
        disk = self._disk(path)
        if self.scheduled[disk.path]:
            raise self._refuse("remove disk", f"replicas scheduled on {disk.path}: "
                                              f"{', '.join(sorted(self.scheduled[disk.path]))}")
        self._disk_removed(disk.path)

    @event("DiskRemoved")
    def _disk_removed(self, path: str) -> None:
        del self.disks[path]
        del self.scheduled[path]
        self.confirmed_disks = tuple(p for p in self.confirmed_disks if p != path)
        self.disk_problems = tuple(p for p in self.disk_problems if p[0] != path)

    def schedule_replica(self, path: str, replica: str, size: int) -> None:
        """Record ``size`` bytes of replica ``replica`` (e.g. "vol/r1") on disk ``path``."""
        self._live("schedule a replica on")
        disk = self._disk(path)
        validation.size("replica size", size)
        if self.scheduled[disk.path].get(replica) != size:
            self._replica_scheduled(disk.path, replica, size)

    @event("ReplicaScheduled")
    def _replica_scheduled(self, path: str, replica: str, size: int) -> None:
        self.scheduled[path][replica] = size

    def release_replica(self, path: str, replica: str) -> None:
        disk = self._disk(path)
        if replica in self.scheduled[disk.path]:
            self._replica_released(disk.path, replica)

    @event("ReplicaReleased")
    def _replica_released(self, path: str, replica: str) -> None:
        del self.scheduled[path][replica]

    def report_unknown_directory(self, path: str) -> bool:
        """Record that ``path`` (under a disk's ``replicas/``) belongs to no replica the log says was
        removed, so the manager leaves it alone; True the first time, a no-op after."""
        path = validation.text("directory", path, 4096)
        if not path.startswith("/"):
            raise InvalidValue("directory", path, "must be an absolute path")
        if path in self.unknown_directories:
            return False
        self._unknown_directory_found(path)
        return True

    @event("UnknownDirectoryFound")
    def _unknown_directory_found(self, path: str) -> None:
        self.unknown_directories = (*self.unknown_directories, path)

    def mark_ready(self, message: str) -> None:
        """The node's manager runs and heartbeats (no-op when already Ready)."""
        self._live("mark ready")
        message = validation.text("ready message", message, 1000)
        if not self.ready:
            self._marked_ready(message)

    @event("ReadyReported")
    def _marked_ready(self, message: str) -> None:
        self.ready, self.ready_reason, self.ready_message = True, "", message

    def mark_not_ready(self, reason: NotReadyReason, message: str) -> None:
        """The node's manager is gone or silent (no-op when already NotReady)."""
        reason = validation.choice("not-ready reason", reason, NotReadyReason)
        message = validation.text("not-ready message", message, 1000)
        if self.ready and not self.removed:
            self._marked_not_ready(reason, message)

    @event("NotReadyDeclared")
    def _marked_not_ready(self, reason: NotReadyReason, message: str) -> None:
        self.ready, self.ready_reason, self.ready_message = False, reason, message

    def disk_confirmed(self, path: str) -> bool:
        return path in self.confirmed_disks

    def confirm_disk(self, path: str) -> None:
        """The node's manager found the disk's path an existing, writable directory."""
        self._live("confirm a disk of")
        disk = self._disk(path)
        if not self.disk_confirmed(disk.path):
            self._disk_confirmed(disk.path)

    @event("DiskConfirmed")
    def _disk_confirmed(self, path: str) -> None:
        self.confirmed_disks = (*self.confirmed_disks, path)
        self.disk_problems = tuple(p for p in self.disk_problems if p[0] != path)

    def fail_disk_check(self, path: str, problem: str) -> None:
        """The node's manager found the disk unusable (no-op when that is already recorded)."""
        self._live("check a disk of")
        disk = self._disk(path)
        problem = validation.text("disk problem", problem, 1000)
        if self.disk_confirmed(disk.path) or (disk.path, problem) not in self.disk_problems:
            self._disk_check_failed(disk.path, problem)

    @event("DiskCheckFailed")
    def _disk_check_failed(self, path: str, problem: str) -> None:
        self.confirmed_disks = tuple(p for p in self.confirmed_disks if p != path)
        self.disk_problems = (*(p for p in self.disk_problems if p[0] != path), (path, problem))

    def remove(self) -> None:
        if self.removed:
            return
        busy = sorted(r for replicas in self.scheduled.values() for r in replicas)
        if busy:
            raise self._refuse("remove", f"replicas live there: {', '.join(busy)} (delete their volumes first)")
        self._removed()

    @event("Removed")
    def _removed(self) -> None:
        self.removed = True

    def reregister(self, address: str, zone: str = "", tags: Iterable[str] = ()) -> None:
        """Bring a removed node back (its disks as they were when removed)."""
        if not self.removed:
            raise AlreadyExists("node", self.name)
        self._reregistered(validation.address("node address", address), _zone(zone),
                           validation.tags("node tags", tags))

    @event("Reregistered")
    def _reregistered(self, address: str, zone: str, tags: tuple[str, ...]) -> None:
        self.address, self.zone, self.tags = address, zone, tags
        self.removed = False
        self.schedulable = True


def _zone(zone: str) -> str:
    return "" if zone == "" else validation.name("zone", zone)
