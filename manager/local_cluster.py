"""The embedded local cluster of ``pronghorn up``: nodes as directories and loopback addresses.

Node ``nodeN`` lives in ``PRONGHORN_HOME/nodes/nodeN`` (its disk is the ``disk``
directory there) and listens on ``127.0.1.N`` (all of 127/8 is loopback), or on
the address ``NodeLayout`` gives it; a node given a network namespace runs its
processes there and listens on the namespace's address unless told another. The
nodes are registered as ``Node`` aggregates once; a later ``up`` reuses them (and
records a changed address). ``node_setup`` does the same for one node of
``pronghorn manager``. Used by ``manager.cli``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from domain.application import ControlPlane
from domain.errors import NodeNotFound
from domain.services import Nodes
from domain.values import Disk
from manager.netns import NetworkNamespace
from manager.supervisor import Supervisor

SQLITE_FILENAME = "events.sqlite"


def node_name(index: int) -> str:
    return f"node{index}"


def node_address(index: int) -> str:
    return f"127.0.1.{index}"


def store_url(home: Path) -> str:
    return f"sqlite://{home.resolve() / SQLITE_FILENAME}"


@dataclass(frozen=True)
class NodeLayout:
    """Where the local cluster's nodes listen: per-node addresses and network namespaces."""

    addresses: dict[str, str] = field(default_factory=dict)
    namespaces: dict[str, NetworkNamespace] = field(default_factory=dict)
    replica_timeout: float | None = None  # for the engines (None: the engine's default)

    def address(self, index: int) -> str:
        name = node_name(index)
        if name in self.addresses:
            return self.addresses[name]
        if name in self.namespaces:
            return self.namespaces[name].address()
        return node_address(index)


def node_setup(app: ControlPlane, home: Path, name: str, address: str, netns: NetworkNamespace | None = None,
               replica_timeout: float | None = None) -> Supervisor:
    """Register ``name`` (if new) with one disk under ``home/nodes/name`` and return its supervisor."""
    directory = (home / "nodes" / name).resolve()
    disk = directory / "disk"
    disk.mkdir(parents=True, exist_ok=True)
    nodes = Nodes(app)
    try:
        if nodes.get(name).address != address:
            nodes.update(name, address=address)
    except NodeNotFound:
        capacity = shutil.disk_usage(disk).total
        nodes.add(name, address, disks=[Disk(path=str(disk), capacity=capacity)])
    return Supervisor(name, directory, address, netns=netns, replica_timeout=replica_timeout)


def local_cluster(app: ControlPlane, home: Path, count: int, layout: NodeLayout | None = None) -> dict[str, Supervisor]:
    """Nodes node1..nodeN of a local cluster, registered, each with its supervisor."""
    layout = layout or NodeLayout()
    return {node_name(i): node_setup(app, home, node_name(i), layout.address(i), layout.namespaces.get(node_name(i)),
                                     layout.replica_timeout)
            for i in range(1, count + 1)}
