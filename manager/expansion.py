"""Growing a volume's engine to the volume's size, and what happens when it cannot.

The engine grows its replicas itself, in two phases (engine/controller.py): every
replica checks it can take the size before any grows, so a refusal changes
nothing. An engine therefore starts at the size its replicas hold
(``start_size``), also after an expand made while detached, and is grown once it
runs (``Expansion.reconcile``), before ``Attached`` is recorded for a fresh engine.
``Volumes.expand`` of an attached volume records the ``Resized`` condition False
(``Expanding``); the outcome replaces it: True (``Expanded``) once the engine serves
the size, or False (``ExpandRefused``, with the engine's reason, also recorded when
an engine starting after an expand cannot grow), then not retried at that size:
expanding again, or a restarted manager, tries again. Called by ``manager.reconciler``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from domain.services import Volumes
from domain.values import ConditionType, ResizeReason
from domain.volume import Volume
from engine.client import EngineClient
from engine.errors import EngineError
from manager.supervisor import replica_size
from projections.desired_engine import DesiredReplica
from replica.client import ControlClient

log = logging.getLogger("pronghorn.manager.expansion")

TIMEOUT_S = 5.0
REASON_LIMIT = 300


def start_size(replicas: list[DesiredReplica], local: Collection[str], size: int) -> int:
    """The size an engine on ``replicas`` starts at: what they hold, at most ``size``.
    Replicas on ``local`` nodes are read from their directory, others asked."""
    held = []
    for replica in replicas:
        if replica.node in local:
            held.append(replica_size(replica.data_dir))
        else:
            with ControlClient(replica.address, timeout=TIMEOUT_S) as control:
                held.append(control.get_info().size)
    return min([size, *(h for h in held if h > 0)])


class Expansion:
    def __init__(self, volumes: Volumes) -> None:
        self.volumes = volumes
        self.refused: dict[str, int] = {}  # volume -> the size its engine refused to grow to

    def reconcile(self, volume: Volume, size: int, client: EngineClient) -> None:
        """Grow the engine, serving ``size`` bytes, to ``volume.size``; record the outcome."""
        if size >= volume.size:
            self._resized(volume, ResizeReason.EXPANDED, f"serving {size} bytes")
            return
        if self.refused.get(volume.name) == volume.size:
            return
        try:
            client.expand(volume.size)
        except EngineError as exc:
            self.refused[volume.name] = volume.size
            log.warning("%s: expand to %d bytes refused: %s", volume.name, volume.size, exc)
            reason = " ".join(f"serving {size} bytes, not {volume.size}: {exc}".split())[:REASON_LIMIT]
            self._resized(volume, ResizeReason.REFUSED, reason)
            return
        self.refused.pop(volume.name, None)
        self._resized(volume, ResizeReason.EXPANDED, f"serving {volume.size} bytes")

    def _resized(self, volume: Volume, reason: ResizeReason, message: str) -> None:
        """Record the outcome of the last expand: a refusal once, a success when one was awaited."""
        last = volume.conditions.get(ConditionType.RESIZED)
        if reason == ResizeReason.REFUSED:
            if last is not None and last.reason == ResizeReason.REFUSED:
                return
        elif last is None or last.status:
            return
        self.volumes.set_condition(volume.name, ConditionType.RESIZED, reason == ResizeReason.EXPANDED,
                                   reason, message)
