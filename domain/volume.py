"""``Volume``: the aggregate of one volume's spec, lifecycle and replica membership.

State machine (commands -> event):
    creating --finish_creating--> detached            (CreationFinished)
    detached --start_attach(node)--> attaching        (AttachStarted)
    attaching --finish_attach(endpoint)--> attached   (Attached)
    attaching --fail_attach(reason)--> detached       (AttachFailed)
    attaching|attached --start_detach--> detaching    (DetachStarted)
    detaching --finish_detach--> detached             (Detached)
    creating|detached --start_delete--> deleting      (DeletionStarted)
    deleting --finish_delete--> deleted (no replicas) (Deleted)
    attaching|attached|detaching --force_detach--> detached (DetachStarted, Detached)
Repeating a command whose effect already holds is a no-op (no event), so
reconcilers and CSI retries are safe. A command a person or a job gave that the
state refuses is recorded too (``note_refused``: CommandRefused, with why).

While attaching or detaching the volume waits on its node's manager (it starts or
stops the engine there): the ``WaitingForNode`` condition is true then and says
which node and what for; ``force_detach`` is the way out when that node is gone
(the engine, if its node comes back, is stopped there as no longer wanted).

Robustness is derived, never stored, from the replica modes the volume knows:
    no replicas known              -> unknown
    RW count >= number_of_replicas -> healthy
    1 <= RW count < number         -> degraded
    replicas known but none RW     -> faulted
The replica modes are facts reported by engines (or the last known ones while
detached), so a detached volume with an ERR replica still shows that it is degraded.

Used by ``domain.services.Volumes`` / ``Replicas``; projections fold its events.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import validation
from domain.errors import AlreadyExists, InvalidTransition, InvalidValue, ReplicaNotFound
from domain.ids import volume_id
from domain.values import (
    Condition,
    ConditionType,
    DataLocality,
    Frontend,
    Reason,
    ReasonCode,
    ReplicaMember,
    ReplicaMode,
    Robustness,
    VolumeState,
)

MAX_REPLICAS = 10
DEFAULT_STALE_REPLICA_TIMEOUT = 2880 * 60  # seconds (48 h, like Longhorn's default)
MAX_STALE_REPLICA_TIMEOUT = 365 * 24 * 3600  # a year: longer is "never", and overflows date arithmetic
GONE = (VolumeState.DELETING, VolumeState.DELETED)


class Volume(Aggregate):
    engine_control = ""  # class default: volumes recorded before the field existed still load
    @staticmethod
    def create_id(name: str) -> UUID:
        return volume_id(name)

    @classmethod
    def create(cls, name: str, size: int, number_of_replicas: int = 3,
               data_locality: DataLocality | str = DataLocality.DISABLED,
               stale_replica_timeout: int = DEFAULT_STALE_REPLICA_TIMEOUT, node_selector: Iterable[str] = (),
               disk_selector: Iterable[str] = (), frontend: Frontend | str = Frontend.NBD,
               standby: bool = False, restore_source: str = "") -> Volume:
        """Validate a new volume's spec and return it (state ``creating``)."""
        if not isinstance(standby, bool):
            raise InvalidValue("standby", standby, "must be true or false")
        return cls(
            name=validation.name("volume name", name),
            size=validation.size("size", size),
            number_of_replicas=validation.integer("number of replicas", number_of_replicas, 1, MAX_REPLICAS),
            data_locality=validation.choice("data locality", data_locality, DataLocality),
            stale_replica_timeout=validation.integer("stale replica timeout", stale_replica_timeout, 0,
                                                     MAX_STALE_REPLICA_TIMEOUT),
            node_selector=validation.tags("node selector", node_selector),
            disk_selector=validation.tags("disk selector", disk_selector),
            frontend=validation.choice("frontend", frontend, Frontend),
            standby=standby,
            restore_source=validation.text("restore source", restore_source),
        )

    def __init__(self, name: str, size: int, number_of_replicas: int, data_locality: DataLocality,
                 stale_replica_timeout: int, node_selector: tuple[str, ...], disk_selector: tuple[str, ...],
                 frontend: Frontend, standby: bool, restore_source: str) -> None:
        self.name = name
        self.size = size
        self.number_of_replicas = number_of_replicas
        self.data_locality = data_locality
        self.stale_replica_timeout = stale_replica_timeout
        self.node_selector = node_selector
        self.disk_selector = disk_selector
        self.frontend = frontend
        self.standby = standby
        self.restore_source = restore_source
        self.state = VolumeState.CREATING
        self.node = ""  # where it is attached / attaching
        self.endpoint = ""  # frontend address while attached
        self.engine_control = ""  # the engine's control address while attached ("" if not recorded)
        self.replicas: dict[str, ReplicaMember] = {}
        self.conditions: dict[str, Condition] = {}

    # -- derived -------------------------------------------------------------------

    @property
    def robustness(self) -> Robustness:
        if not self.replicas:
            return Robustness.UNKNOWN
        rw = sum(1 for r in self.replicas.values() if r.mode == ReplicaMode.RW)
        if rw >= self.number_of_replicas:
            return Robustness.HEALTHY
        return Robustness.DEGRADED if rw else Robustness.FAULTED

    def _refuse(self, command: str, detail: str = "") -> InvalidTransition:
        return InvalidTransition("volume", self.name, self.state, command, detail)

    def _require(self, command: str, *states: VolumeState) -> None:
        if self.state not in states:
            raise self._refuse(command)

    # -- lifecycle -----------------------------------------------------------------

    def finish_creating(self) -> None:
        if self.state == VolumeState.DETACHED:
            return
        self._require("finish creating", VolumeState.CREATING)
        self._creation_finished()

    @event("CreationFinished")
    def _creation_finished(self) -> None:
        self.state = VolumeState.DETACHED

    def start_attach(self, node: str) -> None:
        node = validation.name("node name", node)
        if self.state in (VolumeState.ATTACHING, VolumeState.ATTACHED) and self.node == node:
            return
        self._require("attach", VolumeState.DETACHED)
        self._attach_started(node)
        self._waiting("Attaching", "start")

    @event("AttachStarted")
    def _attach_started(self, node: str) -> None:
        self.state = VolumeState.ATTACHING
        self.node = node

    def finish_attach(self, endpoint: str, control: str = "") -> None:
        """``endpoint``: the frontend's address (``nbd://...``); ``control``: the engine's control
        address (host:port), where it says e.g. how many NBD clients are connected."""
        endpoint = validation.text("endpoint", endpoint)
        control = validation.text("engine control address", control, 255)
        if self.state == VolumeState.ATTACHED and (self.endpoint, self.engine_control) == (endpoint, control):
            return
        self._require("finish attaching", VolumeState.ATTACHING)
        self._attached(endpoint, control)
        self._waiting("")

    @event("Attached")
    def _attached(self, endpoint: str, control: str = "") -> None:
        self.state = VolumeState.ATTACHED
        self.endpoint = endpoint
        self.engine_control = control

    def fail_attach(self, reason: str) -> None:
        reason = validation.text("reason", reason)
        self._require("fail attaching", VolumeState.ATTACHING)
        self._attach_failed(reason)
        self._waiting("")

    @event("AttachFailed")
    def _attach_failed(self, reason: str) -> None:
        self.state = VolumeState.DETACHED
        self.node = ""

    def start_detach(self) -> None:
        if self.state in (VolumeState.DETACHING, VolumeState.DETACHED):
            return
        self._require("detach", VolumeState.ATTACHING, VolumeState.ATTACHED)
        self._detach_started()
        self._waiting("Detaching", "stop")

    @event("DetachStarted")
    def _detach_started(self) -> None:
        self.state = VolumeState.DETACHING

    def finish_detach(self) -> None:
        if self.state == VolumeState.DETACHED:
            return
        self._require("finish detaching", VolumeState.DETACHING)
        self._detached()
        self._waiting("")

    def force_detach(self) -> None:
        """Record the volume detached without its node's manager (a node gone for good)."""
        if self.state == VolumeState.DETACHED:
            return
        self._require("force detach", VolumeState.ATTACHING, VolumeState.ATTACHED, VolumeState.DETACHING)
        node = self.node
        if self.state != VolumeState.DETACHING:
            self._detach_started()
        self._detached()
        self.set_condition(ConditionType.WAITING_FOR_NODE, False, "DetachForced",
                           f"recorded detached without node {node!r}; its engine there is stopped if it comes back")

    @event("Detached")
    def _detached(self) -> None:
        self.state = VolumeState.DETACHED
        self.node = ""
        self.endpoint = ""
        self.engine_control = ""

    def start_delete(self) -> None:
        if self.state in GONE:
            return
        if self.state in (VolumeState.ATTACHING, VolumeState.ATTACHED, VolumeState.DETACHING):
            raise self._refuse("delete", "detach it first ('volume detach NAME --wait')")
        self._require("delete", VolumeState.CREATING, VolumeState.DETACHED)
        self._deletion_started()

    @event("DeletionStarted")
    def _deletion_started(self) -> None:
        self.state = VolumeState.DELETING

    def finish_delete(self) -> None:
        if self.state == VolumeState.DELETED:
            return
        self._require("finish deleting", VolumeState.DELETING)
        if self.replicas:
            raise self._refuse("finish deleting", f"replicas left: {', '.join(sorted(self.replicas))}")
        self._deleted()

    @event("Deleted")
    def _deleted(self) -> None:
        self.state = VolumeState.DELETED

    def note_refused(self, command: str, why: str) -> None:
        """Record that ``command`` was refused (the refusal's message in ``why``); nothing changes."""
        self._command_refused(validation.text("command", command, 255),
                              Reason(ReasonCode.NOT_ALLOWED_NOW, validation.text("reason", why)))

    @event("CommandRefused")
    def _command_refused(self, command: str, reason: Reason) -> None:
        pass

    def _waiting(self, reason: str, action: str = "") -> None:
        """The WaitingForNode condition: true with ``reason`` while the node must ``action`` the engine."""
        message = (f"waiting for node {self.node!r} to {action} the engine (its manager must run there; "
                   f"'pronghorn volume detach {self.name} --force' gives up)") if reason else ""
        self.set_condition(ConditionType.WAITING_FOR_NODE, bool(reason), reason, message)

    # -- spec changes --------------------------------------------------------------

    def expand(self, new_size: int) -> None:
        new_size = validation.size("size", new_size)
        if self.state in GONE or self.state in (VolumeState.ATTACHING, VolumeState.DETACHING):
            raise self._refuse("expand")
        if new_size < self.size:
            raise InvalidValue("size", new_size, f"volumes only grow (current size {self.size})")
        if new_size > self.size:
            self._expanded(new_size)

    @event("Expanded")
    def _expanded(self, size: int) -> None:
        self.size = size

    def revert_expand(self, served: int) -> None:
        """Back to the size the engine serves, after its replicas refused the expand."""
        served = validation.size("size", served)
        if served > self.size:
            raise InvalidValue("size", served, f"more than the volume's {self.size} bytes: not an expand to revert")
        if served < self.size:
            self._expand_reverted(served)

    @event("ExpandReverted")
    def _expand_reverted(self, size: int) -> None:
        self.size = size

    def set_number_of_replicas(self, number: int) -> None:
        number = validation.integer("number of replicas", number, 1, MAX_REPLICAS)
        if self.state in GONE:
            raise self._refuse("change the number of replicas of")
        if number != self.number_of_replicas:
            self._number_of_replicas_changed(number)

    @event("NumberOfReplicasChanged")
    def _number_of_replicas_changed(self, number: int) -> None:
        self.number_of_replicas = number

    def activate(self) -> None:
        """Turn a standby (DR) volume into a normal one."""
        if not self.standby:
            return
        if self.state in GONE:
            raise self._refuse("activate")
        self._activated()

    @event("Activated")
    def _activated(self) -> None:
        self.standby = False

    def set_condition(self, type: str, status: bool, reason: str = "", message: str = "") -> None:
        condition = Condition(
            type=validation.text("condition type", type, 63),
            status=bool(status),
            reason=validation.text("condition reason", reason, 63),
            message=validation.text("condition message", message),
        )
        if self.conditions.get(condition.type) != condition:
            self._condition_changed(condition)

    @event("ConditionChanged")
    def _condition_changed(self, condition: Condition) -> None:
        self.conditions[condition.type] = condition

    # -- replica membership --------------------------------------------------------

    def add_replica(self, name: str, node: str, mode: ReplicaMode | str = ReplicaMode.RW) -> None:
        name = validation.name("replica name", name)
        node = validation.name("node name", node)
        mode = validation.choice("replica mode", mode, ReplicaMode)
        if self.state in GONE:
            raise self._refuse("add a replica to")
        if name in self.replicas:
            raise AlreadyExists("replica", name, f"in volume {self.name!r}")
        self._replica_added(ReplicaMember(name=name, node=node, mode=mode))

    @event("ReplicaAdded")
    def _replica_added(self, replica: ReplicaMember) -> None:
        self.replicas[replica.name] = replica

    def change_replica_mode(self, name: str, mode: ReplicaMode | str) -> None:
        mode = validation.choice("replica mode", mode, ReplicaMode)
        member = self._member(name)
        if member.mode != mode:
            self._replica_mode_changed(name, mode)

    @event("ReplicaModeChanged")
    def _replica_mode_changed(self, name: str, mode: ReplicaMode) -> None:
        member = self.replicas[name]
        self.replicas[name] = ReplicaMember(name=member.name, node=member.node, mode=mode)

    def remove_replica(self, name: str) -> None:
        self._member(name)
        self._replica_removed(name)

    @event("ReplicaRemoved")
    def _replica_removed(self, name: str) -> None:
        del self.replicas[name]

    def _member(self, name: str) -> ReplicaMember:
        try:
            return self.replicas[name]
        except KeyError:
            raise ReplicaNotFound(self.name, name) from None
