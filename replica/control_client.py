"""ControlClient: typed wrapper of a replica's gRPC control service.

Returns frozen dataclasses instead of protobuf messages, and raises the
replica's own error types (replica/errors.py), chosen from the gRPC status
code through the inverse of the server's ONE table — never by message text.
Used by the engine (snapshots, revision counter, rebuild), by a rebuild
target pulling from its source, and by tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from proto import replica_pb2 as pb
from proto import replica_pb2_grpc as pb_grpc
from replica import errors, rebuild_stream
from replica.status_codes import ERROR_OF

MAX_MESSAGE = 64 * 1024 * 1024


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    parent: str
    children: tuple[str, ...]
    created: str
    user_created: bool
    removed: bool
    labels: dict[str, str]
    size: int  # volume size when taken
    allocated: int = 0  # bytes the layer's file holds

    @classmethod
    def of(cls, m: pb.SnapshotInfo) -> SnapshotInfo:
        return cls(m.name, m.parent, tuple(m.children), m.created, m.user_created, m.removed,
                   dict(m.labels), m.size, m.allocated)

    def to_pb(self) -> pb.SnapshotInfo:
        return pb.SnapshotInfo(name=self.name, parent=self.parent, children=list(self.children),
                               created=self.created, user_created=self.user_created,
                               removed=self.removed, labels=self.labels, size=self.size,
                               allocated=self.allocated)


@dataclass(frozen=True)
class ReplicaInfo:
    size: int
    sector_size: int
    revision_counter: int
    data_address: str
    data_socket: str
    head: str
    chain: tuple[str, ...]  # active chain snapshot names, bottom first
    snapshots: tuple[SnapshotInfo, ...]
    rebuilding: bool

    @classmethod
    def of(cls, m: pb.ReplicaInfo) -> ReplicaInfo:
        return cls(m.size, m.sector_size, m.revision_counter, m.data_address, m.data_socket, m.head,
                   tuple(m.chain), tuple(SnapshotInfo.of(s) for s in m.snapshots), m.rebuilding)

    def snapshot(self, name: str) -> SnapshotInfo | None:
        return next((s for s in self.snapshots if s.name == name), None)


@dataclass(frozen=True)
class PurgeResult:
    deleted: tuple[str, ...]
    coalesced: tuple[str, ...]
    pruned: tuple[str, ...]


@dataclass(frozen=True)
class ChunkChecksum:
    index: int
    extents: tuple[tuple[int, int], ...]  # (offset, length) of allocated data in the chunk
    digest: bytes  # xxh3-128 over (u64le offset, u64le length, data) of each extent


@dataclass(frozen=True)
class SyncProgress:
    layer: str
    bytes_from_network: int
    bytes_copied_locally: int
    bytes_already_present: int
    layers_done: int
    layers_total: int
    done: bool


def translate(address: str, exc: grpc.RpcError) -> errors.ReplicaError:
    """The replica error type for a failed call, chosen by status code."""
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    return ERROR_OF.get(code, errors.ReplicaError)(f"replica {address}: {details}")


class ControlClient:
    def __init__(self, address: str, timeout: float | None = 30.0) -> None:
        self.address = address.removeprefix("tcp://")
        self.timeout = timeout
        options = [("grpc.max_send_message_length", MAX_MESSAGE), ("grpc.max_receive_message_length", MAX_MESSAGE)]
        self.channel = grpc.insecure_channel(self.address, options=options)
        self.stub = pb_grpc.ReplicaControlStub(self.channel)

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def _unary(self, method: str, request: Any, long_running: bool = False) -> Any:
        """One call; ``long_running`` ones (work proportional to the data) get no deadline."""
        try:
            return getattr(self.stub, method)(request, timeout=None if long_running else self.timeout)
        except grpc.RpcError as exc:
            raise translate(self.address, exc) from None

    def _stream(self, method: str, request: Any) -> Iterator[Any]:
        try:
            yield from getattr(self.stub, method)(request)
        except grpc.RpcError as exc:
            raise translate(self.address, exc) from None

    # --- chain -------------------------------------------------------------------
    def get_info(self) -> ReplicaInfo:
        return ReplicaInfo.of(self._unary("GetInfo", pb.Empty()))

    def snapshot(self, name: str, created: str = "", user_created: bool = True,
                 labels: dict[str, str] | None = None) -> SnapshotInfo:
        request = pb.SnapshotRequest(name=name, created=created, user_created=user_created, labels=labels or {})
        return SnapshotInfo.of(self._unary("Snapshot", request))

    def list_snapshots(self) -> list[SnapshotInfo]:
        return [SnapshotInfo.of(s) for s in self._unary("ListSnapshots", pb.Empty()).snapshots]

    def revert(self, name: str) -> ReplicaInfo:
        return ReplicaInfo.of(self._unary("Revert", pb.RevertRequest(name=name)))

    def mark_removed(self, name: str) -> SnapshotInfo:
        return SnapshotInfo.of(self._unary("MarkRemoved", pb.SnapshotName(name=name)))

    def purge(self) -> PurgeResult:
        reply = self._unary("Purge", pb.Empty(), long_running=True)
        return PurgeResult(tuple(reply.deleted), tuple(reply.coalesced), tuple(reply.pruned))

    def expand(self, size: int) -> ReplicaInfo:
        return ReplicaInfo.of(self._unary("Expand", pb.ExpandRequest(size=size)))

    def check_expand(self, size: int) -> ReplicaInfo:
        """Raises (``CannotHold``, ``InvalidArgument``...) unless ``expand(size)`` would succeed."""
        return ReplicaInfo.of(self._unary("CheckExpand", pb.ExpandRequest(size=size)))

    def undo_expand(self, grown: int, size: int) -> ReplicaInfo:
        """Shrink a replica just grown to ``grown`` bytes back to ``size``."""
        return ReplicaInfo.of(self._unary("UndoExpand", pb.UndoExpandRequest(grown=grown, size=size)))

    def checksum(self, layer: str, recompute: bool = False) -> str:
        request = pb.ChecksumRequest(layer=layer, recompute=recompute)
        return str(self._unary("Checksum", request, long_running=True).sha256)

    def get_revision_counter(self) -> int:
        return int(self._unary("GetRevisionCounter", pb.Empty()).value)

    def set_revision_counter(self, value: int) -> int:
        return int(self._unary("SetRevisionCounter", pb.RevisionCounter(value=value)).value)

    # --- rebuild -------------------------------------------------------------------
    def chunk_checksums(self, layer: str, chunk_size: int, extents_only: bool = False) -> list[ChunkChecksum]:
        """Allocated chunks of ``layer``: index, extents and digest (b"" if ``extents_only``)."""
        request = pb.ChunkChecksumsRequest(layer=layer, chunk_size=chunk_size, extents_only=extents_only)
        reply = self._unary("ChunkChecksums", request, long_running=True)
        return [ChunkChecksum(c.index, tuple(zip(c.extents[::2], c.extents[1::2], strict=True)), c.digest)
                for c in reply.chunks]

    def read_chunks(self, layer: str, chunk_size: int, indices: list[int] | None = None) -> Iterator[pb.ChunkData]:
        """Stream of (offset, data, digest, index) pieces of the allocated extents (digest: xxh3-128)."""
        request = pb.ReadChunksRequest(layer=layer, chunk_size=chunk_size, indices=indices or [])
        return self._stream("ReadChunks", request)

    def stream_chunks(self, layer: str, chunk_size: int, indices: list[int],
                      into: Callable[[int, int], memoryview]) -> Iterator[tuple[int, memoryview, bytes]]:
        """The data of ``read_chunks`` over a plain TCP stream: (offset, data, digest) with ``data``
        received into the view ``into(offset, length)`` returns (format: replica/rebuild_stream.py)."""
        request = pb.ReadChunksRequest(layer=layer, chunk_size=chunk_size, indices=indices)
        reply = self._unary("StreamChunks", request)
        host = self.address.rsplit(":", 1)[0].strip("[]")
        return rebuild_stream.receive(host, reply.port, reply.token, into)

    def prepare_rebuild(self) -> ReplicaInfo:
        return ReplicaInfo.of(self._unary("PrepareRebuild", pb.Empty()))

    def sync_from(self, source: str, layers: list[SnapshotInfo], chunk_size: int = 0) -> Iterator[SyncProgress]:
        """Have this (target) replica pull ``layers`` (bottom first) from ``source``; yields progress."""
        request = pb.SyncFromRequest(source=source, layers=[s.to_pb() for s in layers], chunk_size=chunk_size)
        for p in self._stream("SyncFrom", request):
            yield SyncProgress(p.layer, p.bytes_from_network, p.bytes_copied_locally, p.bytes_already_present,
                               p.layers_done, p.layers_total, p.done)
