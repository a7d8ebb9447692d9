"""THE table mapping replica error types to gRPC status codes.

The control service uses it to abort failed calls; the control client uses
its inverse to raise the same error type on the caller's side.
"""

from __future__ import annotations

import grpc

from replica import errors

STATUS_OF: dict[type[Exception], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.CannotHold: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Corrupt: grpc.StatusCode.DATA_LOSS,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    OSError: grpc.StatusCode.INTERNAL,
}

ERROR_OF: dict[grpc.StatusCode, type[errors.ReplicaError]] = {
    code: kind for kind, code in STATUS_OF.items() if issubclass(kind, errors.ReplicaError)
} | {grpc.StatusCode.DEADLINE_EXCEEDED: errors.Unavailable}


def status_for(exc: Exception) -> grpc.StatusCode | None:
    """The code for ``exc`` (most specific type wins), or None if it is not a domain error."""
    for kind in type(exc).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return None
