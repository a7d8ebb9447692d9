"""Typed errors of the replica's storage and control service.

Raised by the chain, the snapshot edits and the rebuild code; the gRPC service
maps each type to a status code in ONE table (replica/control_service.py) and
the control client maps the codes back to these types, so nobody matches text.
"""

from __future__ import annotations


class ReplicaError(Exception):
    """Base of every error the replica reports to a caller."""


class InvalidArgument(ReplicaError):
    """A request names an invalid value (bad name, size not a multiple of 4096...)."""


class NotFound(ReplicaError):
    """A named snapshot or layer does not exist."""


class AlreadyExists(ReplicaError):
    """A snapshot with that name already exists."""


class FailedPrecondition(ReplicaError):
    """The chain is not in a state that allows the operation (e.g. shrink, purge of head)."""


class CannotHold(ReplicaError):
    """The replica's filesystem cannot hold the volume at the size asked (file too large)."""


class Corrupt(ReplicaError):
    """On-disk data or a transferred chunk failed verification."""


class Unavailable(ReplicaError):
    """A peer (rebuild source) could not be reached; retrying later may work."""
