"""EngineClient: typed wrapper of an engine's gRPC control service.

Used by `pronghorn engine <verb>`, tests, and the manager. Raises the engine's
own error types (engine/errors.py), chosen from the gRPC status code through
the inverse of the server's one table — never by message text.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from engine import errors
from engine.control_service import STATUS_OF
from proto import engine_pb2 as pb
from proto import engine_pb2_grpc as pb_grpc

ERROR_OF: dict[grpc.StatusCode, type[errors.EngineError]] = {
    code: kind for kind, code in reversed(list(STATUS_OF.items())) if issubclass(kind, errors.EngineError)
} | {grpc.StatusCode.DEADLINE_EXCEEDED: errors.Unavailable}


def as_dict(message: Any) -> dict[str, Any]:
    """A reply as plain JSON-able data (field names as in the .proto)."""
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True,
                         unquote_int64_if_possible=True)


class EngineClient:
    def __init__(self, address: str, timeout: float | None = 60.0) -> None:
        self.address = address.removeprefix("tcp://")
        self.timeout = timeout
        self.channel = grpc.insecure_channel(self.address)
        self.stub = pb_grpc.EngineControlStub(self.channel)

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def _unary(self, method: str, request: Any, timeout: float | None = None) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=timeout or self.timeout)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise ERROR_OF.get(code, errors.EngineError)(f"engine {self.address}: {details}") from None

    def status(self) -> pb.EngineStatus:
        return self._unary("Status", pb.Empty())

    def snapshot(self, name: str = "", labels: dict[str, str] | None = None) -> pb.SnapshotInfo:
        return self._unary("Snapshot", pb.SnapshotRequest(name=name, labels=labels or {}))

    def snapshots(self) -> list[pb.SnapshotInfo]:
        return list(self._unary("ListSnapshots", pb.Empty()).snapshots)

    def revert(self, name: str) -> pb.EngineStatus:
        return self._unary("Revert", pb.SnapshotName(name=name))

    def delete_snapshot(self, name: str) -> pb.EngineStatus:
        return self._unary("DeleteSnapshot", pb.SnapshotName(name=name), timeout=3600)

    def expand(self, size: int) -> pb.EngineStatus:
        return self._unary("Expand", pb.ExpandRequest(size=size))

    def add_replica(self, address: str, timeout: float = 3600) -> pb.RebuildResult:
        return self._unary("AddReplica", pb.ReplicaAddress(address=address), timeout=timeout)

    def remove_replica(self, address: str) -> pb.EngineStatus:
        return self._unary("RemoveReplica", pb.ReplicaAddress(address=address))

    def frontend_start(self) -> pb.EngineStatus:
        return self._unary("FrontendStart", pb.Empty())

    def frontend_stop(self) -> pb.EngineStatus:
        return self._unary("FrontendStop", pb.Empty())
