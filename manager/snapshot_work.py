"""Carrying out a volume's snapshot intents through its engine, and recording the outcomes.

Called by ``manager.reconciler`` for each volume whose engine serves. Level-triggered
like the rest: every call compares the ``SnapshotChain`` with the engine's list.

- snapshots the engine has that the chain lacks (system snapshots a rebuild took,
  or one taken just before a manager crash) are recorded ``Taken``; every snapshot
  is recorded with its size: the bytes its layer holds (``allocated`` in the
  engine's list), measured again when a purge coalesced a parent into it (and once
  for a snapshot recorded with size 0 before sizes were known);
- each requested snapshot is taken (``AlreadyExists`` means a previous manager took it
  before it could record it) and recorded ``Taken``; a refusal that will not change
  (invalid name) is recorded ``RequestFailed``;
- snapshots marked removed are deleted on the replicas (mark removed + purge) and
  the purge outcome recorded (``Purged``: leaves removed, others coalesced into
  their only child);
- a revert request runs the maintenance dance: frontend stop, revert, frontend
  start (always restarted), then ``Reverted`` is recorded; unless forced, it is
  first checked against the NBD clients the engine reports (``domain.frontend_use``):
  with clients connected nothing is rewritten and ``RevertRefused`` is recorded
  with the reason (``pronghorn events VOLUME`` shows it; ``snapshot revert --wait``
  exits 5), rather than waiting for them to leave.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from domain.application import ControlPlane
from domain.errors import VolumeInUse
from domain.frontend_use import FrontendUse, refuse_if_in_use
from domain.services import Snapshots
from domain.snapshots import SnapshotChain
from engine import errors
from engine.client import EngineClient
from proto import engine_pb2 as pb

log = logging.getLogger("pronghorn.manager.snapshots")


def _created(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return datetime.now(UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def carry_out(app: ControlPlane, volume: str, client: EngineClient, chain: SnapshotChain | None = None) -> None:
    """``chain``: the volume's chain if the caller holds a current one (else read from the store)."""
    snapshots = Snapshots(app)
    if chain is None:
        chain = snapshots.chain(volume)
    in_engine = {s.name: s for s in client.snapshots()}
    recorded = False
    for name, info in in_engine.items():  # engine order: parents first
        if name not in chain.snapshots and name not in chain.requests and not info.removed:
            snapshots.take(volume, name, _created(info.created), info.user_created, dict(info.labels),
                           info.allocated)
            recorded = True
        elif name in chain.snapshots and chain.snapshots[name].size == 0 and info.allocated:
            snapshots.measure(volume, name, info.allocated, chain.snapshots[name].checksum)
            recorded = True
    for name, labels in dict(chain.requests).items():
        if name not in in_engine:
            try:
                in_engine[name] = client.snapshot(name, labels)
            except errors.InvalidArgument as exc:
                snapshots.request_failed(volume, name, str(exc)[:500])
                continue
            except errors.AlreadyExists:
                in_engine.update({s.name: s for s in client.snapshots()})
        info = in_engine[name]
        snapshots.take(volume, name, _created(info.created), True, labels, info.allocated)
        log.info("%s: snapshot %s taken", volume, name)
    if recorded or chain.requests:
        chain = snapshots.chain(volume)
    doomed = [s.name for s in chain.snapshots.values() if s.removed]
    for name in doomed:
        if name in in_engine and not in_engine[name].removed:
            client.delete_snapshot(name)
    if doomed:
        _record_purge(snapshots, volume, {s.name: s for s in client.snapshots()})
    if chain.revert_request:
        _revert(snapshots, volume, chain.revert_request, chain.revert_forced, client)


def _record_purge(snapshots: Snapshots, volume: str, left: dict[str, pb.SnapshotInfo]) -> None:
    chain = snapshots.chain(volume)
    gone = [s for s in chain.snapshots.values() if s.removed and s.name not in left]
    removed = [s.name for s in gone if not s.children]
    coalesced = {s.name: s.children[0] for s in gone if len(s.children) == 1}
    if removed or coalesced:
        snapshots.purged(volume, removed, coalesced)
    for into in set(coalesced.values()) & set(chain.snapshots) & set(left):  # grew by its parent's data
        snapshots.measure(volume, into, left[into].allocated, chain.snapshots[into].checksum)


def _revert(snapshots: Snapshots, volume: str, name: str, forced: bool, client: EngineClient) -> None:
    use = FrontendUse(nbd_clients=client.status().nbd_clients)
    try:
        refuse_if_in_use(volume, f"revert to snapshot {name!r}", use, forced)
    except VolumeInUse as refused:
        snapshots.refuse_revert(volume, f"revert to {name!r} not done: {refused}")
        log.warning("%s: revert to %s refused: %s", volume, name, refused)
        return
    client.frontend_stop()
    try:
        client.revert(name)
    finally:
        client.frontend_start()
    snapshots.revert(volume, name)
    log.info("%s: reverted to %s", volume, name)
