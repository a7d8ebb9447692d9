"""Desired engine state: what processes a volume should have and where, derived from its facts.

``desired_engine(volume, replicas)`` is a pure function of the ``Volume`` aggregate
and its (not removed) ``Replica`` aggregates. It says whether the volume's replica
processes and its engine should run, on which node the engine goes, which
replicas the engine starts with (the RW ones; when none is RW, every replica, so
the engine's start-up picks the freshest consistent ones: auto-salvage), and what
the reconciler should record once the processes match (``attached`` /
``detached``). Nothing here is remembered between passes: the manager's
reconciler (manager/reconciler.py) calls it on every pass and compares the result
with what the supervisor and the engine report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from domain.replica import Replica
from domain.values import ReplicaMode, VolumeState
from domain.volume import Volume

RUNNING_STATES = (VolumeState.ATTACHING, VolumeState.ATTACHED)


class Finish(StrEnum):
    NOTHING = ""
    ATTACH = "attach"  # record Attached(endpoint) once the engine serves
    DETACH = "detach"  # record Detached once the engine is gone


@dataclass(frozen=True)
class DesiredReplica:
    name: str
    node: str
    data_dir: str
    address: str  # last recorded control address ("" before its first start)
    mode: ReplicaMode  # last recorded mode


@dataclass(frozen=True)
class DesiredEngine:
    volume: str
    size: int
    run: bool  # replica processes and the engine should run
    engine_node: str  # "" when no engine should run
    replicas: tuple[DesiredReplica, ...]
    start_with: tuple[str, ...]  # replica names the engine opens when it (re)starts
    finish: Finish

    def replica(self, name: str) -> DesiredReplica | None:
        return next((r for r in self.replicas if r.name == name), None)

    def by_address(self, address: str) -> DesiredReplica | None:
        return next((r for r in self.replicas if r.address and r.address == address), None)


def desired_engine(volume: Volume, replicas: Iterable[Replica]) -> DesiredEngine:
    members = tuple(
        DesiredReplica(r.name, r.node, r.data_dir, r.address, volume.replicas[r.name].mode)
        for r in sorted(replicas, key=lambda r: r.name)
        if not r.removed and r.name in volume.replicas
    )
    run = volume.state in RUNNING_STATES and bool(members)
    healthy = tuple(r.name for r in members if r.mode == ReplicaMode.RW)
    finish = Finish.NOTHING
    if volume.state == VolumeState.ATTACHING:
        finish = Finish.ATTACH
    elif volume.state == VolumeState.DETACHING:
        finish = Finish.DETACH
    return DesiredEngine(
        volume=volume.name,
        size=volume.size,
        run=run,
        engine_node=volume.node if run else "",
        replicas=members,
        start_with=healthy or tuple(r.name for r in members),
        finish=finish,
    )
