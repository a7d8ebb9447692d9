"""``Replica``: one copy of a volume's data on a node's disk, and its health history.

Commands -> events: ``create`` (Created), ``set_address`` (AddressChanged),
``set_mode`` (ModeChanged), ``fail`` (Failed: mode ERR, failure recorded),
``start_rebuild`` (RebuildStarted: mode WO), ``report_rebuild_progress``
(RebuildProgressed), ``complete_rebuild`` (RebuildCompleted: mode RW),
``fail_rebuild`` (RebuildFailed: mode ERR), ``remove`` (Removed). A removed replica
refuses every further command; its history stays.

The Volume keeps a copy of each replica's mode (its robustness derives from them);
``domain.services.Replicas`` changes both in one transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import validation
from domain.errors import InvalidTransition, InvalidValue
from domain.ids import replica_id
from domain.values import Failure, RebuildState, ReplicaMode


class Replica(Aggregate):
    @staticmethod
    def create_id(volume: str, name: str) -> UUID:
        return replica_id(volume, name)

    @classmethod
    def create(cls, volume: str, name: str, node: str, disk: str, data_dir: str = "",
               address: str = "", mode: ReplicaMode | str = ReplicaMode.RW) -> Replica:
        if not isinstance(disk, str) or not disk.startswith("/"):
            raise InvalidValue("disk path", disk, "must be an absolute path")
        return cls(
            volume=validation.name("volume name", volume),
            name=validation.name("replica name", name),
            node=validation.name("node name", node),
            disk=disk.rstrip("/") or "/",
            data_dir=validation.text("data directory", data_dir),
            address=validation.text("address", address, 255),
            mode=validation.choice("replica mode", mode, ReplicaMode),
        )

    def __init__(self, volume: str, name: str, node: str, disk: str, data_dir: str, address: str,
                 mode: ReplicaMode) -> None:
        self.volume = volume
        self.name = name
        self.node = node
        self.disk = disk
        self.data_dir = data_dir
        self.address = address
        self.mode = mode
        self.removed = False
        self.failures: list[Failure] = []
        self.rebuild = RebuildState.NONE
        self.rebuild_source = ""
        self.rebuild_done = 0  # bytes
        self.rebuild_total = 0  # bytes
        self.rebuilds = 0  # completed rebuilds

    @property
    def last_failure(self) -> Failure | None:
        return self.failures[-1] if self.failures else None

    def _live(self, command: str) -> None:
        if self.removed:
            raise InvalidTransition("replica", f"{self.volume}/{self.name}", "removed", command)

    def set_address(self, address: str) -> None:
        self._live("change the address of")
        address = validation.text("address", address, 255)
        if address != self.address:
            self._address_changed(address)

    @event("AddressChanged")
    def _address_changed(self, address: str) -> None:
        self.address = address

    def set_mode(self, mode: ReplicaMode | str) -> None:
        self._live("change the mode of")
        mode = validation.choice("replica mode", mode, ReplicaMode)
        if mode != self.mode:
            self._mode_changed(mode)

    @event("ModeChanged")
    def _mode_changed(self, mode: ReplicaMode) -> None:
        self.mode = mode

    def fail(self, reason: str, at: datetime | None = None) -> None:
        """Record a failure (the replica goes ERR); ``at`` defaults to now (UTC)."""
        self._live("fail")
        failure = Failure(reason=validation.text("reason", reason), at=_when(at))
        self._failed(failure)

    @event("Failed")
    def _failed(self, failure: Failure) -> None:
        self.mode = ReplicaMode.ERR
        self.failures.append(failure)
        if self.rebuild == RebuildState.RUNNING:
            self.rebuild = RebuildState.FAILED

    def start_rebuild(self, source: str = "") -> None:
        """Start (or restart) copying data from ``source`` (a replica name); mode WO."""
        self._live("rebuild")
        self._rebuild_started(validation.text("rebuild source", source, 255))

    @event("RebuildStarted")
    def _rebuild_started(self, source: str) -> None:
        self.mode = ReplicaMode.WO
        self.rebuild = RebuildState.RUNNING
        self.rebuild_source = source
        self.rebuild_done = 0
        self.rebuild_total = 0

    def _rebuilding(self, command: str) -> None:
        self._live(command)
        if self.rebuild != RebuildState.RUNNING:
            raise InvalidTransition("replica", f"{self.volume}/{self.name}", "not rebuilding", command)

    def report_rebuild_progress(self, done: int, total: int) -> None:
        self._rebuilding("report rebuild progress of")
        total = validation.integer("rebuild total bytes", total, 0)
        done = validation.integer("rebuild done bytes", done, 0, total)
        if (done, total) != (self.rebuild_done, self.rebuild_total):
            self._rebuild_progressed(done, total)

    @event("RebuildProgressed")
    def _rebuild_progressed(self, done: int, total: int) -> None:
        self.rebuild_done = done
        self.rebuild_total = total

    def complete_rebuild(self) -> None:
        self._rebuilding("complete the rebuild of")
        self._rebuild_completed()

    @event("RebuildCompleted")
    def _rebuild_completed(self) -> None:
        self.mode = ReplicaMode.RW
        self.rebuild = RebuildState.COMPLETED
        self.rebuild_done = self.rebuild_total
        self.rebuilds += 1

    def fail_rebuild(self, reason: str, at: datetime | None = None) -> None:
        self._rebuilding("fail the rebuild of")
        self._rebuild_failed(Failure(reason=validation.text("reason", reason), at=_when(at)))

    @event("RebuildFailed")
    def _rebuild_failed(self, failure: Failure) -> None:
        self.mode = ReplicaMode.ERR
        self.rebuild = RebuildState.FAILED
        self.failures.append(failure)

    def remove(self) -> None:
        if not self.removed:
            self._removed()

    @event("Removed")
    def _removed(self) -> None:
        self.removed = True


def _when(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise InvalidValue("time", at, "must be a timezone-aware datetime")
    return at
