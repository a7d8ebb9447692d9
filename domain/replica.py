"""``Replica``: one copy of a volume's data on a node's disk, and its health history.

Commands -> events: ``create`` (Created), ``set_address`` (AddressChanged),
``set_mode`` (ModeChanged), ``fail`` (Failed: mode ERR, failure recorded),
``start_rebuild`` (RebuildStarted: mode WO), ``report_rebuild_progress``
(RebuildProgressed), ``complete_rebuild`` (RebuildCompleted: mode RW),
``fail_rebuild`` (RebuildFailed: mode ERR), ``remove`` (Removed). A removed replica
refuses every further command; its history stays.

What the manager did to its process, and why (each with a ``Reason``):
``note_stopped`` (ProcessStopped, e.g. it did not answer), ``note_restarted``
(ProcessRestarted), ``note_adopted`` (ProcessAdopted: a restarted manager kept it).
A condition that repeats pass after pass (a process that keeps failing to start) is
bounded: ``note_trouble`` records TroubleStarted once per kind of reason, and
``end_trouble(count)`` records TroubleEnded with how many times it was seen.

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
from domain.values import Failure, Reason, ReasonCode, RebuildState, ReplicaMode


class Replica(Aggregate):
    trouble: Reason | None = None  # class default: replicas recorded before the field existed still load

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

    def fail(self, reason: str, at: datetime | None = None, code: ReasonCode = ReasonCode.UNSPECIFIED) -> None:
        """Record a failure (the replica goes ERR); ``at`` defaults to now (UTC): pass the time
        the one who saw it (the engine) saw it."""
        self._live("fail")
        code = validation.choice("reason code", code, ReasonCode)
        failure = Failure(reason=validation.text("reason", reason), at=_when(at), code=code)
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

    def complete_rebuild(self, source: str = "", from_network: int = 0, copied_locally: int = 0,
                         already_present: int = 0) -> None:
        """Completed: where the data came from and how many bytes came how (0s when unknown)."""
        self._rebuilding("complete the rebuild of")
        self._rebuild_completed(
            validation.text("rebuild source", source, 255),
            validation.integer("bytes from the network", from_network, 0),
            validation.integer("bytes copied locally", copied_locally, 0),
            validation.integer("bytes already present", already_present, 0))

    @event("RebuildCompleted")
    def _rebuild_completed(self, source: str = "", from_network: int = 0, copied_locally: int = 0,
                           already_present: int = 0) -> None:
        self.mode = ReplicaMode.RW
        self.rebuild = RebuildState.COMPLETED
        self.rebuild_done = self.rebuild_total
        self.rebuilds += 1

    def fail_rebuild(self, reason: str, at: datetime | None = None,
                     code: ReasonCode = ReasonCode.REBUILD_FAILED) -> None:
        self._rebuilding("fail the rebuild of")
        code = validation.choice("reason code", code, ReasonCode)
        self._rebuild_failed(Failure(reason=validation.text("reason", reason), at=_when(at), code=code))

    @event("RebuildFailed")
    def _rebuild_failed(self, failure: Failure) -> None:
        self.mode = ReplicaMode.ERR
        self.rebuild = RebuildState.FAILED
        self.failures.append(failure)

    # -- what the manager did to its process ------------------------------------------

    def note_stopped(self, reason: Reason) -> None:
        self._live("stop")
        self._process_stopped(_reason(reason))

    @event("ProcessStopped")
    def _process_stopped(self, reason: Reason) -> None:
        pass

    def note_restarted(self, reason: Reason) -> None:
        self._live("restart")
        self._process_restarted(_reason(reason))

    @event("ProcessRestarted")
    def _process_restarted(self, reason: Reason) -> None:
        pass

    def note_adopted(self, reason: Reason) -> None:
        self._live("adopt")
        self._process_adopted(_reason(reason))

    @event("ProcessAdopted")
    def _process_adopted(self, reason: Reason) -> None:
        pass

    def note_trouble(self, reason: Reason) -> bool:
        """Record a repeating condition when it starts (or changes kind); True when recorded."""
        self._live("note trouble with")
        reason = _reason(reason)
        if self.trouble is not None and self.trouble.code == reason.code:
            return False
        self._trouble_started(reason)
        return True

    @event("TroubleStarted")
    def _trouble_started(self, reason: Reason) -> None:
        self.trouble = reason

    def end_trouble(self, count: int) -> None:
        """The condition is over, after being seen ``count`` times; no-op when none is open."""
        count = validation.integer("count", count, 0)
        if self.trouble is not None and not self.removed:
            self._trouble_ended(self.trouble.code, count)

    @event("TroubleEnded")
    def _trouble_ended(self, code: ReasonCode, count: int) -> None:
        self.trouble = None

    def remove(self) -> None:
        if not self.removed:
            self._removed()

    @event("Removed")
    def _removed(self) -> None:
        self.removed = True


def _reason(reason: Reason) -> Reason:
    if not isinstance(reason, Reason):
        raise InvalidValue("reason", reason, "must be a Reason (a code and a message)")
    code = validation.choice("reason code", reason.code, ReasonCode)
    return Reason(code, validation.text("reason", reason.message))


def _when(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise InvalidValue("time", at, "must be a timezone-aware datetime")
    return at
