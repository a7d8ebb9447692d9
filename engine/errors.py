"""Typed errors of the engine's control operations.

Raised by `engine.controller` and `engine.rebuild`; the gRPC service maps each
type to a status code in ONE table (engine/control_service.py) and the client
maps codes back (engine/client.py), so nobody matches message text.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error the engine reports to a caller."""


class InvalidArgument(EngineError):
    """A request names an invalid value."""


class NotFound(EngineError):
    """No such replica or snapshot."""


class AlreadyExists(EngineError):
    """The replica or snapshot is already there."""


class FailedPrecondition(EngineError):
    """Not possible in the current state (frontend running, rebuild in progress, faulted)."""


class ExpandRefused(FailedPrecondition):
    """A replica cannot hold the size asked: nothing grew, the volume serves its old size."""


class Unavailable(EngineError):
    """Replicas could not be reached or failed; retrying later may work."""


class StartupRefused(EngineError):
    """No consistent replica to serve the volume from."""
