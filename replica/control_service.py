"""gRPC servicer of the replica's control port (proto/replica.proto).

Thin: each method parses the request, makes one call on the chain, the chain
edits or the rebuild code, and renders the reply. Domain errors become gRPC
status codes through ONE table, ``STATUS_OF``. Started by replica/cli.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc

from proto import replica_pb2 as pb
from proto import replica_pb2_grpc as pb_grpc
from replica import errors
from replica.chain import SparseFileChain
from replica.metadata import SnapshotMeta, VolumeMeta

STATUS_OF: dict[type[Exception], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Corrupt: grpc.StatusCode.DATA_LOSS,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    OSError: grpc.StatusCode.INTERNAL,
}

F = TypeVar("F", bound=Callable[..., Any])


def _status_for(exc: Exception) -> grpc.StatusCode | None:
    for kind in type(exc).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return None


def mapped_errors(method: F) -> F:
    """Turn a domain error raised by ``method`` into its gRPC status (also mid-stream)."""

    @functools.wraps(method)
    def unary(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            result = method(self, request, context)
            if isinstance(result, Iterator):
                return _guard_stream(result, context)
            return result
        except Exception as exc:
            code = _status_for(exc)
            if code is None:
                raise
            context.abort(code, f"{type(exc).__name__}: {exc}")

    return unary  # type: ignore[return-value]


def _guard_stream(items: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
    try:
        yield from items
    except Exception as exc:
        code = _status_for(exc)
        if code is None:
            raise
        context.abort(code, f"{type(exc).__name__}: {exc}")


def snapshot_info(meta: VolumeMeta, snap: SnapshotMeta) -> pb.SnapshotInfo:
    return pb.SnapshotInfo(
        name=snap.name,
        parent=snap.parent,
        children=meta.children(snap.name),
        created=snap.created,
        user_created=snap.user_created,
        removed=snap.removed,
        labels=snap.labels,
        size=snap.size,
    )


class ReplicaControlService(pb_grpc.ReplicaControlServicer):
    def __init__(self, chain: SparseFileChain, data_address: str, data_socket: str) -> None:
        self.chain = chain
        self.data_address = data_address
        self.data_socket = data_socket

    def info(self) -> pb.ReplicaInfo:
        with self.chain.lock:
            meta = self.chain.meta
            return pb.ReplicaInfo(
                size=meta.size,
                sector_size=meta.sector_size,
                revision_counter=self.chain.revision,
                data_address=self.data_address,
                data_socket=self.data_socket,
                head=meta.head,
                chain=meta.active_chain(),
                snapshots=[snapshot_info(meta, s) for s in meta.snapshots],
                rebuilding=self.chain.rebuilding,
            )

    @mapped_errors
    def GetInfo(self, request: pb.Empty, context: grpc.ServicerContext) -> pb.ReplicaInfo:
        return self.info()

    @mapped_errors
    def GetRevisionCounter(self, request: pb.Empty, context: grpc.ServicerContext) -> pb.RevisionCounter:
        return pb.RevisionCounter(value=self.chain.revision)

    @mapped_errors
    def SetRevisionCounter(self, request: pb.RevisionCounter, context: grpc.ServicerContext) -> pb.RevisionCounter:
        with self.chain.lock:
            self.chain.revision = request.value
            self.chain.save_revision()
            return pb.RevisionCounter(value=self.chain.revision)
