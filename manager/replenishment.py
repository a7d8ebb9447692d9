"""The leader's replica decisions: replace replicas that stay failed, drop stale ones.

``replenish``: an attached volume with fewer working (not ERR) replicas than it
should have gets new ones placed by the domain's scheduling policy
(``Replicas.place``: on failure the ``Scheduled=False`` condition with its reason is
recorded) — but not while a failed replica may still come back: the newest failure
must be older than ``replenishment_wait`` (a replica back in time is reused with a
delta rebuild instead). ``remove_stale``: a replica ERR for longer than the volume's
``stale_replica_timeout`` is removed (its process and directory then go away), as
long as another replica works. Called by ``manager.reconciler`` on the leader.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from domain.errors import SchedulingFailed
from domain.replica import Replica
from domain.scheduling import SchedulingSettings
from domain.services import Replicas
from domain.values import ReplicaMode
from domain.volume import Volume

log = logging.getLogger("pronghorn.manager.replenishment")

DEFAULT_REPLENISHMENT_WAIT_S = 600.0


@dataclass(frozen=True)
class ReplicaPolicy:
    replenishment_wait: float = DEFAULT_REPLENISHMENT_WAIT_S
    scheduling: SchedulingSettings = field(default_factory=SchedulingSettings)


def _failed_for(replica: Replica, now: datetime) -> float:
    """Seconds since the replica's last failure (0 when it is not ERR)."""
    if replica.mode != ReplicaMode.ERR or replica.last_failure is None:
        return 0.0
    return (now - replica.last_failure.at).total_seconds()


def replenish(replicas: Replicas, volume: Volume, members: list[Replica], policy: ReplicaPolicy,
              now: datetime) -> None:
    working = sum(1 for r in members if r.mode != ReplicaMode.ERR)
    if working >= volume.number_of_replicas:
        return
    if any(r.mode == ReplicaMode.ERR and _failed_for(r, now) < policy.replenishment_wait for r in members):
        return  # a failed replica may still come back: reuse it rather than copy everything
    try:
        placed = replicas.place(volume.name, settings=policy.scheduling)
    except SchedulingFailed as exc:
        log.info("%s: cannot place replicas: %s", volume.name, exc)
        return
    for replica in placed:
        log.info("%s: placed replica %s on %s", volume.name, replica.name, replica.node)


def remove_stale(replicas: Replicas, volume: Volume, members: list[Replica], now: datetime) -> None:
    if not any(r.mode != ReplicaMode.ERR for r in members):
        return  # all failed: keep them for salvage
    for replica in members:
        if replica.mode == ReplicaMode.ERR and _failed_for(replica, now) > volume.stale_replica_timeout:
            log.info("%s: removing replica %s, failed for more than %ds", volume.name, replica.name,
                     volume.stale_replica_timeout)
            replicas.remove(volume.name, replica.name)
