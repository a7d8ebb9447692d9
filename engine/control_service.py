"""gRPC servicer of the engine's control API (proto/engine.proto).

Thin: each method parses the request, makes one `Controller` (or rebuild)
call and renders the result. Errors map to status codes in ONE table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from engine import errors
from engine.controller import Controller, EngineState
from engine.rebuild import add_replica
from engine.replicas import Mode
from proto import engine_pb2 as pb
from proto import engine_pb2_grpc as pb_grpc
from replica.client import SnapshotInfo

STATUS_OF: dict[type[Exception], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.ExpandRefused: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.StartupRefused: grpc.StatusCode.UNAVAILABLE,
    errors.EngineError: grpc.StatusCode.INTERNAL,
}


def render_status(s: EngineState) -> pb.EngineStatus:
    io = s.io
    total = io.reads + io.writes + io.others + io.errors
    counters = pb.IoCounters(
        reads=io.reads, writes=io.writes, others=io.others, read_bytes=io.read_bytes,
        write_bytes=io.write_bytes, errors=io.errors,
        mean_latency_us=(io.latency_ns / total / 1000) if total else 0.0,
        direct_reads=io.direct_reads, direct_writes=io.direct_writes, overlapped_batches=io.overlapped,
    )
    replicas = [pb.ReplicaStatus(address=r.control, data_address=r.data, mode=r.mode, error=r.error, error_at=r.error_at,
                                 rebuild_bytes_done=r.rebuild_done if r.mode is Mode.WO else 0,
                                 rebuild_bytes_total=r.rebuild_total if r.mode is Mode.WO else 0)
                for r in s.replicas]
    return pb.EngineStatus(volume=s.volume, size=s.size, state=s.state, revision=s.revision,
                           replicas=replicas, io=counters, frontend=s.frontend, nbd=s.nbd,
                           nbd_socket=s.nbd_socket, rebuilding=s.rebuilding,
                           nbd_clients=s.nbd_clients)


def render_snapshot(s: SnapshotInfo) -> pb.SnapshotInfo:
    return pb.SnapshotInfo(name=s.name, parent=s.parent, children=list(s.children), created=s.created,
                           user_created=s.user_created, removed=s.removed, labels=dict(s.labels), size=s.size,
                           allocated=s.allocated)


class EngineControlService(pb_grpc.EngineControlServicer):
    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def _call(self, context: grpc.ServicerContext, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except errors.EngineError as exc:
            code = next(c for kind, c in STATUS_OF.items() if isinstance(exc, kind))
            context.abort(code, str(exc))

    def _status_after(self, context: grpc.ServicerContext, fn: Callable[[], None]) -> pb.EngineStatus:
        self._call(context, fn)
        return render_status(self.controller.status())

    def Status(self, request: pb.Empty, context: grpc.ServicerContext) -> pb.EngineStatus:
        return render_status(self.controller.status())

    def Snapshot(self, request: pb.SnapshotRequest, context: grpc.ServicerContext) -> pb.SnapshotInfo:
        return render_snapshot(self._call(context, lambda: self.controller.snapshot(request.name, dict(request.labels))))

    def ListSnapshots(self, request: pb.Empty, context: grpc.ServicerContext) -> pb.SnapshotList:
        snapshots = self._call(context, self.controller.list_snapshots)
        return pb.SnapshotList(snapshots=[render_snapshot(s) for s in snapshots])

    def Revert(self, request: pb.SnapshotName, context: grpc.ServicerContext) -> pb.EngineStatus:
        return self._status_after(context, lambda: self.controller.revert(request.name))

    def DeleteSnapshot(self, request: pb.SnapshotName, context: grpc.ServicerContext) -> pb.EngineStatus:
        return self._status_after(context, lambda: self.controller.delete_snapshot(request.name))

    def Expand(self, request: pb.ExpandRequest, context: grpc.ServicerContext) -> pb.EngineStatus:
        return self._status_after(context, lambda: self.controller.expand(request.size))

    def AddReplica(self, request: pb.ReplicaAddress, context: grpc.ServicerContext) -> pb.RebuildResult:
        r = self._call(context, lambda: add_replica(self.controller, request.address))
        return pb.RebuildResult(address=r.address, mode=r.mode, source=r.source, layers=r.layers,
                                bytes_from_network=r.bytes_from_network,
                                bytes_copied_locally=r.bytes_copied_locally,
                                bytes_already_present=r.bytes_already_present)

    def RemoveReplica(self, request: pb.ReplicaAddress, context: grpc.ServicerContext) -> pb.EngineStatus:
        return self._status_after(context, lambda: self.controller.remove_replica(request.address))

    def FrontendStart(self, request: pb.Empty, context: grpc.ServicerContext) -> pb.EngineStatus:
        return self._status_after(context, self.controller.frontend_start)

    def FrontendStop(self, request: pb.Empty, context: grpc.ServicerContext) -> pb.EngineStatus:
        return self._status_after(context, self.controller.frontend_stop)
