"""Value objects of the control-plane domain: states, modes and small frozen records.

Imported by the aggregates, the scheduling policy, projections and adapters. Every
type here round-trips through the event store (see ``domain.transcoding``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

SECTOR = 4096  # sizes are whole sectors
KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


class VolumeState(StrEnum):
    CREATING = "creating"
    DETACHED = "detached"
    ATTACHING = "attaching"
    ATTACHED = "attached"
    DETACHING = "detaching"
    DELETING = "deleting"
    DELETED = "deleted"


class Robustness(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAULTED = "faulted"
    UNKNOWN = "unknown"


class ReplicaMode(StrEnum):
    RW = "RW"  # in sync: serves reads and writes
    WO = "WO"  # rebuilding: receives writes, serves no reads
    ERR = "ERR"  # failed: out of the data path


class DataLocality(StrEnum):
    DISABLED = "disabled"
    BEST_EFFORT = "best-effort"
    STRICT_LOCAL = "strict-local"


class Frontend(StrEnum):
    NBD = "nbd"
    BLOCKDEV = "blockdev"


class RebuildState(StrEnum):
    NONE = "none"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class SchedulingReason(StrEnum):
    """Machine-readable reasons a placement failed (become condition reasons)."""

    INSUFFICIENT_NODES = "InsufficientNodes"  # too few distinct eligible nodes
    INSUFFICIENT_ZONES = "InsufficientZones"  # hard zone anti-affinity cannot be met
    INSUFFICIENT_DISKS = "InsufficientDisks"  # hard disk anti-affinity cannot be met
    NO_MATCHING_NODES = "NoMatchingNodes"  # node selector / cordons leave no node
    NO_MATCHING_DISKS = "NoMatchingDisks"  # disk selector / disk flags leave no disk
    DISK_PRESSURE = "DiskPressure"  # available space would drop under the minimum
    OVER_PROVISIONED = "OverProvisioned"  # scheduled total would exceed the limit


class NotReadyReason(StrEnum):
    """Why a node is not Ready (its manager decides Ready; the leader decides NotReady)."""

    NO_MANAGER = "NoManager"  # registered, but no manager of the node has reported yet
    MANAGER_STOPPED = "ManagerStopped"  # nobody holds the node's lease any more
    HEARTBEAT_LAPSED = "HeartbeatLapsed"  # the lease is held, but its heartbeat stopped


class ConditionType(StrEnum):
    SCHEDULED = "Scheduled"
    RESTORE = "Restore"
    TOO_MANY_SNAPSHOTS = "TooManySnapshots"
    RESIZED = "Resized"  # the engine serves the volume's size (False: growing, or refused and why)
    WAITING_FOR_NODE = "WaitingForNode"  # attaching / detaching: the node's manager must act


class ResizeReason(StrEnum):
    """Reasons of the ``Resized`` condition: what became of the last expand."""

    EXPANDING = "Expanding"  # recorded with the expand; the engine has not grown yet (or is detached)
    EXPANDED = "Expanded"  # the engine serves the new size
    REFUSED = "ExpandRefused"  # the engine's replicas refused it; it serves the old size


@dataclass(frozen=True)
class Disk:
    """A disk of a node: a directory holding replica data."""

    path: str
    capacity: int  # bytes
    reserved: int = 0  # bytes kept free for other users of the filesystem
    tags: tuple[str, ...] = ()
    schedulable: bool = True


@dataclass(frozen=True)
class Condition:
    """A Kubernetes-style condition: a named boolean with why and a message."""

    type: str
    status: bool
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class ReplicaMember:
    """What a Volume knows of one of its replicas (robustness derives from these)."""

    name: str
    node: str
    mode: ReplicaMode


class ReasonCode(StrEnum):
    """Why the manager or the data plane decided something (a ``Reason``'s machine half)."""

    UNSPECIFIED = "Unspecified"  # recorded before reasons had codes, or by a caller that gave none
    PROCESS_EXITED = "ProcessExited"  # its process ended (exit status, or the signal that killed it)
    NO_REPLY = "NoReply"  # did not answer within its timeout
    ENGINE_REPORTED = "EngineReported"  # the engine saw it fail (I/O error, timeout) and took it out
    START_FAILED = "StartFailed"  # its process could not be started
    DISK_FULL = "DiskFull"  # the filesystem under it has no space left
    REBUILD_FAILED = "RebuildFailed"  # copying data into it failed
    RESTARTED = "Restarted"  # its process was started again after it ended
    ADOPTED = "Adopted"  # a restarted manager found its process still running and kept it
    ASKED_TO_STOP = "AskedToStop"  # told to stop (a signal, a shutdown)
    NOT_ALLOWED_NOW = "NotAllowedNow"  # a command refused in the aggregate's current state
    STORE_UNREACHABLE = "StoreUnreachable"  # the event store did not answer
    NODE_NOT_READY = "NodeNotReady"  # its node's manager is gone or silent


@dataclass(frozen=True)
class Reason:
    """A decision's why: a ``code`` to act on and a ``message`` a person reads
    ("no reply within 8 s (--replica-timeout)"); never an exception class name."""

    code: ReasonCode
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Failure:
    """Why and when a replica failed (``code``: the kind of reason; UNSPECIFIED in old events)."""

    reason: str
    at: datetime
    code: ReasonCode = ReasonCode.UNSPECIFIED


@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot of a volume's chain (``parent`` "" = the bottom of the chain)."""

    name: str
    parent: str
    created: datetime
    user_created: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    children: tuple[str, ...] = ()
    removed: bool = False
    size: int = 0  # bytes of data in this layer, as the replicas reported
    checksum: str = ""

