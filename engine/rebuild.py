"""Rebuild orchestration: add a replica in WO mode and bring it to RW.

Called by the control service's AddReplica. Steps: a target smaller than the
volume (it missed an expand) is grown; the target moves any old chain aside (PrepareRebuild) and joins in WO mode, so writes reach it at once;
a system snapshot is taken on every RW replica; the target pulls every layer
from one RW source (SyncFrom: delta and resume are the replica's job); the
chains are compared (names and per-layer checksums); with I/O paused the
target's revision counter is aligned and it turns RW. A failure leaves the
target ERR and the source untouched; calling AddReplica again resumes.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from engine import errors
from engine.controller import Controller
from engine.replicas import Mode, Replica
from engine.startup import data_address
from replica import errors as replica_errors
from replica.client import ControlClient

log = logging.getLogger("pronghorn.engine.rebuild")


@dataclass
class RebuildResult:
    address: str
    mode: Mode
    source: str = ""
    layers: list[str] = field(default_factory=list)
    bytes_from_network: int = 0
    bytes_copied_locally: int = 0
    bytes_already_present: int = 0


def add_replica(controller: Controller, address: str) -> RebuildResult:
    address = address.removeprefix("tcp://")
    volume = controller.volume
    with controller.exclusive():
        existing = volume.replicas.find(address)
        if existing is not None and existing.mode is not Mode.ERR:
            raise errors.AlreadyExists(f"replica {address} is already {existing.mode}")
        sources = volume.replicas.by_mode(Mode.RW)
        if not sources:
            raise errors.FailedPrecondition("no RW replica to rebuild from")
        controller.rebuilding = True
        try:
            return _rebuild(controller, address, existing, sources[0])
        finally:
            controller.rebuilding = False


def _rebuild(controller: Controller, address: str, existing: Replica | None, source: Replica) -> RebuildResult:
    volume = controller.volume
    result = RebuildResult(address, Mode.WO, source.control)
    target_client = ControlClient(address, timeout=max(volume.timeout, 30.0))
    try:
        try:
            size = target_client.get_info().size
            if size > volume.size:
                raise errors.InvalidArgument(f"target {address} has size {size}, the volume {volume.size}")
            if size < volume.size:  # it missed an expand (out of the engine since): grown before it is written
                target_client.expand(volume.size)
            info = target_client.prepare_rebuild()
        except replica_errors.ReplicaError as exc:
            raise errors.Unavailable(f"target {address}: {exc}") from exc
        target = Replica(address, data_address(info), Mode.WO)
        with volume.gate.paused():
            if existing is not None:
                volume.replicas.remove(existing)
            volume.replicas.add(target)
        try:
            name = f"rebuild-{uuid.uuid4().hex[:12]}"
            with volume.gate.paused():
                controller.take_snapshot(name, datetime.now(UTC).isoformat(), False, {})
            with controller.client(source) as source_client:
                _sync(source_client, target_client, result, target)
                with volume.gate.paused():
                    revision = source_client.get_revision_counter()
                    target_client.set_revision_counter(revision)
                    volume.replicas.set_mode(target, Mode.RW)
        except (replica_errors.ReplicaError, errors.EngineError) as exc:
            volume.replicas.mark_err(target, f"rebuild failed: {exc}")
            _check_source(controller, source)
            if isinstance(exc, errors.EngineError):
                raise
            raise errors.Unavailable(f"rebuild of {address} from {source.control} failed: {exc}") from exc
    finally:
        target_client.close()
    result.mode = Mode.RW
    log.info("rebuilt %s from %s: %d bytes over the network, %d copied locally",
             address, source.control, result.bytes_from_network, result.bytes_copied_locally)
    return result


def _check_source(controller: Controller, source: Replica) -> None:
    """After a failed rebuild: a source that no longer answers is ERR too."""
    try:
        with ControlClient(source.control, timeout=5) as client:
            client.get_info()
    except replica_errors.ReplicaError as exc:
        controller.volume.replicas.mark_err(source, f"rebuild source did not answer: {exc}")


def _sync(source: ControlClient, target: ControlClient, result: RebuildResult, replica: Replica) -> None:
    info = source.get_info()
    layers = [s for name in info.chain if (s := info.snapshot(name)) is not None]
    result.layers = [s.name for s in layers]
    replica.rebuild_total = sum(s.allocated for s in layers)  # allocated blocks: about the data extents
    started = time.monotonic()
    for progress in target.sync_from(source.address, layers):
        result.bytes_from_network = progress.bytes_from_network
        result.bytes_copied_locally = progress.bytes_copied_locally
        result.bytes_already_present = progress.bytes_already_present
        done = progress.bytes_from_network + progress.bytes_copied_locally + progress.bytes_already_present
        replica.rebuild_total = max(replica.rebuild_total, done)
        replica.rebuild_done = done
    replica.rebuild_total = replica.rebuild_done  # exact, now that every layer is in place
    synced = time.monotonic()
    target_chain = target.get_info().chain
    if tuple(target_chain) != tuple(info.chain):
        raise errors.Unavailable(f"chains differ after sync: {list(target_chain)} vs {list(info.chain)}")
    for name in info.chain:
        if source.checksum(name) != target.checksum(name):
            raise errors.Unavailable(f"layer {name} checksum differs after sync")
    log.info("synced %d layers in %.2fs, verified checksums in %.2fs", len(layers), synced - started,
             time.monotonic() - synced)
