"""The embedded local cluster of ``pronghorn up``: nodes as directories and loopback addresses.

Node ``nodeN`` lives in ``PRONGHORN_HOME/nodes/nodeN`` (its disk is the ``disk``
directory there) and listens on ``127.0.1.N`` (all of 127/8 is loopback). The
nodes are registered as ``Node`` aggregates once; a later ``up`` reuses them.
``node_setup`` does the same for one node of ``pronghorn manager``. Used by
``manager.cli``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from domain.application import ControlPlane
from domain.errors import NodeNotFound
from domain.services import Nodes
from domain.values import Disk
from manager.supervisor import Supervisor

SQLITE_FILENAME = "events.sqlite"


def node_name(index: int) -> str:
    return f"node{index}"


def node_address(index: int) -> str:
    return f"127.0.1.{index}"


def store_url(home: Path) -> str:
    return f"sqlite://{home.resolve() / SQLITE_FILENAME}"


def node_setup(app: ControlPlane, home: Path, name: str, address: str, launcher: bool = False) -> Supervisor:
    """Register ``name`` (if new) with one disk under ``home/nodes/name`` and return its supervisor
    (``launcher``: its instances are forked by a launcher process, see manager/launcher.py)."""
    directory = (home / "nodes" / name).resolve()
    disk = directory / "disk"
    disk.mkdir(parents=True, exist_ok=True)
    nodes = Nodes(app)
    try:
        nodes.get(name)
    except NodeNotFound:
        capacity = shutil.disk_usage(disk).total
        nodes.add(name, address, disks=[Disk(path=str(disk), capacity=capacity)])
    return Supervisor(name, directory, address, launcher=launcher)


def local_cluster(app: ControlPlane, home: Path, count: int, launcher: bool = False) -> dict[str, Supervisor]:
    """Nodes node1..nodeN of a local cluster, registered, each with its supervisor."""
    return {node_name(i): node_setup(app, home, node_name(i), node_address(i), launcher)
            for i in range(1, count + 1)}
