"""Engine start-up: open the given replicas and decide which are consistent.

Called once by `engine.cli serve`. Each replica is asked for its info over
gRPC; one that is unreachable, has another size, is mid-rebuild, or whose
revision counter or snapshot chain differs from the best (highest counter)
replicas becomes ERR. With no consistent replica the engine refuses to start.
"""

from __future__ import annotations

import os

from engine.errors import StartupRefused
from engine.replicas import Mode, Replica, ReplicaFailure, ReplicaSet
from replica.client import ControlClient, ReplicaInfo
from replica.errors import ReplicaError


def data_address(info: ReplicaInfo) -> str:
    """Prefer the replica's unix socket when it is on this node (faster than loopback TCP)."""
    if info.data_socket and os.path.exists(info.data_socket):
        return f"unix:{info.data_socket}"
    return info.data_address


def fetch_info(control: str, timeout: float) -> ReplicaInfo:
    with ControlClient(control, timeout=timeout) as client:
        return client.get_info()


def open_replicas(controls: list[str], size: int, timeout: float) -> tuple[ReplicaSet, int]:
    """Return the replica set (consistent ones RW, others ERR) and the revision counter."""
    infos: dict[str, ReplicaInfo] = {}
    failures: dict[str, str] = {}
    for control in controls:
        control = control.removeprefix("tcp://")
        try:
            info = fetch_info(control, timeout)
        except ReplicaError as exc:
            failures[control] = f"unreachable: {exc.__class__.__name__}: {exc}"
            continue
        if info.size != size:
            failures[control] = f"size {info.size} differs from the volume's {size}"
        elif info.rebuilding:
            failures[control] = "in the middle of a rebuild"
        else:
            infos[control] = info
    revision = max((i.revision_counter for i in infos.values()), default=0)
    best = [i for i in infos.values() if i.revision_counter == revision]
    chain = best[0].chain if best else ()
    for control, info in infos.items():
        if info.revision_counter != revision:
            failures[control] = f"stale: revision {info.revision_counter} < {revision}"
        elif info.chain != chain:
            failures[control] = f"snapshot chain {list(info.chain)} differs from {list(chain)}"
    replica_set = ReplicaSet()
    for control in dict.fromkeys(c.removeprefix("tcp://") for c in controls):
        if control in failures:
            data = data_address(infos[control]) if control in infos else ""
            replica_set.add(Replica(control, data, Mode.ERR, failures[control]))
        else:
            replica_set.add(Replica(control, data_address(infos[control]), Mode.RW))
    if replica_set.faulted:
        named = [ReplicaFailure(c, r) for c, r in failures.items()]
        raise StartupRefused("no consistent replica: " + "; ".join(f"{f.control}: {f.reason}" for f in named))
    return replica_set, revision
