"""Growing a volume's engine to the volume's size, and what happens when it cannot.

The engine grows its replicas itself, in two phases (engine/controller.py): every
replica checks it can take the size before any grows, so a refusal changes
nothing. An engine therefore starts at the size its replicas hold
(``start_size``), also after an expand made while detached, and is grown once it
runs (``Expansion.reconcile``), before ``Attached`` is recorded for a fresh engine.
``Volumes.expand`` of an attached volume records the ``Resized`` condition False
(``Expanding``); the outcome replaces it: True (``Expanded``) once the engine serves
the size; or, when the replicas refused (also for an engine starting after an
expand made while detached), ``Volumes.expand_refused``: the volume is back at the
size the engine serves, its disk bookings too, and the condition is False
(``ExpandRefused``) with the engine's reason. Called by ``manager.reconciler``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from domain.services import Volumes
from domain.values import ConditionType, ResizeReason
from domain.volume import Volume
from engine.client import EngineClient
from engine.errors import ExpandRefused
from manager.supervisor import replica_size
from projections.desired_engine import DesiredReplica
from replica.client import ControlClient
from replica.errors import ReplicaError

log = logging.getLogger("pronghorn.manager.expansion")

TIMEOUT_S = 5.0
REASON_LIMIT = 300


def start_size(replicas: list[DesiredReplica], local: Collection[str], size: int) -> int:
    """The size an engine on ``replicas`` starts at: what they hold, at most ``size``.
    Replicas on ``local`` nodes are read from their directory, others asked (one that
    does not answer does not count)."""
    held = []
    for replica in replicas:
        if replica.node in local:
            held.append(replica_size(replica.data_dir))
        else:
            try:
                with ControlClient(replica.address, timeout=TIMEOUT_S) as control:
                    held.append(control.get_info().size)
            except ReplicaError:
                continue  # silent: the engine's start-up check leaves it out anyway
    return min([size, *(h for h in held if h > 0)])


class Expansion:
    def __init__(self, volumes: Volumes) -> None:
        self.volumes = volumes

    def reconcile(self, volume: Volume, size: int, client: EngineClient) -> None:
        """Grow the engine, serving ``size`` bytes, to ``volume.size``; record the outcome."""
        if size < volume.size:
            try:
                client.expand(volume.size)
            except ExpandRefused as exc:  # other errors: retried on a later pass
                log.warning("%s: expand to %d bytes refused: %s", volume.name, volume.size, exc)
                reason = " ".join(f"not grown to {volume.size} bytes: {exc}".split())[:REASON_LIMIT]
                self.volumes.expand_refused(volume.name, size, reason)
                return
        last = volume.conditions.get(ConditionType.RESIZED)
        if last is not None and last.reason == ResizeReason.EXPANDING:
            self.volumes.set_condition(volume.name, ConditionType.RESIZED, True, ResizeReason.EXPANDED,
                                       f"serving {volume.size} bytes")
