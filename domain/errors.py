"""The domain's typed errors: one small tree, each ``str()`` a one-line human message.

Raised by aggregates (validation, transitions), the scheduling policy and the
application services; adapters map these types (never their text) to exit codes,
HTTP or gRPC statuses. ``temporary`` says whether retrying the same call may succeed.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    temporary = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(DomainError):
    """An aggregate with that name does not exist."""

    kind = "object"

    def __init__(self, name: str, message: str | None = None) -> None:
        super().__init__(message or f"{self.kind} {name!r} not found")
        self.name = name


class VolumeNotFound(NotFound):
    kind = "volume"


class NodeNotFound(NotFound):
    kind = "node"


class ReplicaNotFound(NotFound):
    kind = "replica"

    def __init__(self, volume: str, name: str) -> None:
        super().__init__(name, f"replica {name!r} of volume {volume!r} not found")
        self.volume = volume


class SnapshotNotFound(NotFound):
    kind = "snapshot"

    def __init__(self, volume: str, name: str) -> None:
        super().__init__(name, f"snapshot {name!r} of volume {volume!r} not found")
        self.volume = volume


class DiskNotFound(NotFound):
    kind = "disk"

    def __init__(self, node: str, path: str) -> None:
        super().__init__(path, f"disk {path!r} not found on node {node!r}")
        self.node = node


class AlreadyExists(DomainError):
    def __init__(self, kind: str, name: str, detail: str = "") -> None:
        suffix = f" ({detail})" if detail else ""
        super().__init__(f"{kind} {name!r} already exists{suffix}")
        self.kind = kind
        self.name = name


class InvalidValue(DomainError):
    """A command argument is out of its allowed range or malformed."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"invalid {field} {value!r}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


class InvalidTransition(DomainError):
    """A command is not allowed in the aggregate's current state."""

    def __init__(self, kind: str, name: str, state: str, command: str, detail: str = "") -> None:
        suffix = f": {detail}" if detail else ""
        super().__init__(f"cannot {command} {kind} {name!r} while it is {state}{suffix}")
        self.kind = kind
        self.name = name
        self.state = state
        self.command = command


class SchedulingFailed(DomainError):
    """No placement satisfies the request; ``reason`` is a ``SchedulingReason`` value."""

    temporary = True  # nodes or disks may be added or freed

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.detail = message


class ConcurrencyConflict(DomainError):
    """Other writers kept changing the same aggregate; every retry lost the race."""

    temporary = True

    def __init__(self, what: str, attempts: int) -> None:
        super().__init__(f"{what} kept changing concurrently; gave up after {attempts} attempts")
        self.attempts = attempts


class JobNotFound(NotFound):
    kind = "recurring job"


class VolumeInUse(InvalidTransition):
    """A command that rewrites data under the frontend, refused while clients use the volume.

    ``use`` says who (mounts, NBD clients); ``advice`` how to proceed."""

    def __init__(self, name: str, command: str, use: str, advice: str) -> None:
        super().__init__("volume", name, "in use", command)
        self.message = f"{name} is in use ({use}): {advice}"
        self.use = use
        self.advice = advice
