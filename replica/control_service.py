"""gRPC servicer of the replica's control port (proto/replica.proto).

Thin: each method parses the request, makes one call on the chain, the chain
edits or the rebuild code, and renders the reply. Domain errors become gRPC
status codes through ONE table, replica/status_codes.py. Started by replica/cli.py.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc

from proto import replica_pb2 as pb
from proto import replica_pb2_grpc as pb_grpc
from replica import chain_edits, chain_size, checksums, rebuild_source, rebuild_target
from replica.chain import SparseFileChain
from replica.metadata import SnapshotMeta, VolumeMeta, snap_file
from replica.status_codes import status_for

F = TypeVar("F", bound=Callable[..., Any])


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
            code = status_for(exc)
            if code is None:
                raise
            context.abort(code, f"{type(exc).__name__}: {exc}")

    return unary  # type: ignore[return-value]


def _guard_stream(items: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
    try:
        yield from items
    except Exception as exc:
        code = status_for(exc)
        if code is None:
            raise
        context.abort(code, f"{type(exc).__name__}: {exc}")


def allocated_bytes(directory: Path, name: str) -> int:
    """Bytes the filesystem allocated to a snapshot's layer file (0 when it is gone)."""
    try:
        return os.stat(directory / snap_file(name)).st_blocks * 512
    except FileNotFoundError:
        return 0


def snapshot_info(meta: VolumeMeta, snap: SnapshotMeta, directory: Path) -> pb.SnapshotInfo:
    return pb.SnapshotInfo(
        name=snap.name,
        parent=snap.parent,
        children=meta.children(snap.name),
        created=snap.created,
        user_created=snap.user_created,
        removed=snap.removed,
        labels=snap.labels,
        size=snap.size,
        allocated=allocated_bytes(directory, snap.name),
    )


class ReplicaControlService(pb_grpc.ReplicaControlServicer):
    def __init__(self, chain: SparseFileChain, data_address: str, data_socket: str, sync_rate_limit: int = 0,
                 stream_host: str = "127.0.0.1") -> None:
        self.chain = chain
        self.stream_host = stream_host  # where rebuild data streams listen: the control host
        self.sync_rate_limit = sync_rate_limit
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
                snapshots=[snapshot_info(meta, s, self.chain.directory) for s in meta.snapshots],
                rebuilding=self.chain.rebuilding,
            )

    @mapped_errors
    def GetInfo(self, request: pb.Empty, context: grpc.ServicerContext) -> pb.ReplicaInfo:
        return self.info()

    @mapped_errors
    def GetRevisionCounter(self, request: pb.Empty, context: grpc.ServicerContext) -> pb.RevisionCounter:
        with self.chain.lock:  # not halfway through folding a retired map's direct-write count
            return pb.RevisionCounter(value=self.chain.revision)

    @mapped_errors
    def SetRevisionCounter(self, request: pb.RevisionCounter, context: grpc.ServicerContext) -> pb.RevisionCounter:
        with self.chain.lock:
            self.chain.revision = request.value
            self.chain.save_revision()
            return pb.RevisionCounter(value=self.chain.revision)

    @mapped_errors
    def Snapshot(self, request: pb.SnapshotRequest, context: grpc.ServicerContext) -> pb.SnapshotInfo:
        snap = chain_edits.snapshot(self.chain, request.name, request.created, request.user_created,
                                    dict(request.labels))
        return snapshot_info(self.chain.meta, snap, self.chain.directory)

    @mapped_errors
    def ListSnapshots(self, request: pb.Empty, context: grpc.ServicerContext) -> pb.SnapshotList:
        with self.chain.lock:
            meta = self.chain.meta
            return pb.SnapshotList(snapshots=[snapshot_info(meta, s, self.chain.directory) for s in meta.snapshots],
                                   chain=meta.active_chain())

    @mapped_errors
    def Revert(self, request: pb.RevertRequest, context: grpc.ServicerContext) -> pb.ReplicaInfo:
        chain_edits.revert(self.chain, request.name)
        return self.info()

    @mapped_errors
    def MarkRemoved(self, request: pb.SnapshotName, context: grpc.ServicerContext) -> pb.SnapshotInfo:
        snap = chain_edits.mark_removed(self.chain, request.name)
        return snapshot_info(self.chain.meta, snap, self.chain.directory)

    @mapped_errors
    def Purge(self, request: pb.Empty, context: grpc.ServicerContext) -> pb.PurgeReply:
        deleted, coalesced, pruned = chain_edits.purge(self.chain)
        return pb.PurgeReply(deleted=deleted, coalesced=coalesced, pruned=pruned)

    @mapped_errors
    def Expand(self, request: pb.ExpandRequest, context: grpc.ServicerContext) -> pb.ReplicaInfo:
        chain_size.expand(self.chain, request.size)
        return self.info()

    @mapped_errors
    def CheckExpand(self, request: pb.ExpandRequest, context: grpc.ServicerContext) -> pb.ReplicaInfo:
        chain_size.check_expand(self.chain, request.size)
        return self.info()

    @mapped_errors
    def UndoExpand(self, request: pb.UndoExpandRequest, context: grpc.ServicerContext) -> pb.ReplicaInfo:
        chain_size.undo_expand(self.chain, request.grown, request.size)
        return self.info()

    @mapped_errors
    def Checksum(self, request: pb.ChecksumRequest, context: grpc.ServicerContext) -> pb.ChecksumReply:
        path = rebuild_source.layer_path(self.chain, request.layer)
        return pb.ChecksumReply(layer=request.layer, sha256=checksums.stored_or_computed(path, request.recompute))

    @mapped_errors
    def ChunkChecksums(self, request: pb.ChunkChecksumsRequest,
                       context: grpc.ServicerContext) -> pb.ChunkChecksumsReply:
        return rebuild_source.chunk_checksums(self.chain, request.layer, request.chunk_size, request.extents_only)

    @mapped_errors
    def ReadChunks(self, request: pb.ReadChunksRequest, context: grpc.ServicerContext) -> Iterator[pb.ChunkData]:
        return rebuild_source.read_chunks(self.chain, request.layer, request.chunk_size, list(request.indices))

    @mapped_errors
    def StreamChunks(self, request: pb.ReadChunksRequest, context: grpc.ServicerContext) -> pb.ChunkStream:
        port, token = rebuild_source.stream_chunks(self.chain, request.layer, request.chunk_size,
                                                   list(request.indices), self.stream_host)
        return pb.ChunkStream(port=port, token=token)

    @mapped_errors
    def PrepareRebuild(self, request: pb.Empty, context: grpc.ServicerContext) -> pb.ReplicaInfo:
        rebuild_target.prepare_rebuild(self.chain)
        return self.info()

    @mapped_errors
    def SyncFrom(self, request: pb.SyncFromRequest, context: grpc.ServicerContext) -> Iterator[pb.SyncProgress]:
        layers = [rebuild_target.LayerSpec(s.name, s.created, s.user_created, dict(s.labels), s.size)
                  for s in request.layers]
        for p in rebuild_target.sync_from(self.chain, request.source, layers, request.chunk_size,
                                            self.sync_rate_limit):
            yield pb.SyncProgress(layer=p.layer, bytes_from_network=p.bytes_from_network,
                                  bytes_copied_locally=p.bytes_copied_locally,
                                  bytes_already_present=p.bytes_already_present,
                                  layers_done=p.layers_done, layers_total=p.layers_total, done=p.done)
