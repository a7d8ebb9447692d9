"""``pronghorn up --no-local-io``: the manager starts engines that never touch a same-machine
replica's files, so every write of an attached volume goes through the replicas' sockets.
Real manager, launcher, engine and replica processes on the local cluster."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import PRONGHORN
from tests.fixtures.local_cluster import LocalCluster, cluster_factory  # noqa: F401

MiB = 1 << 20


def engine_io(cluster: LocalCluster, volume: str) -> dict[str, Any]:
    engine = cluster.instances("node1")[f"engine:{volume}"]
    done = subprocess.run([PRONGHORN, "engine", "status", "--engine", engine["control"], "--json"],
                          capture_output=True, text=True, check=True, timeout=60)
    return json.loads(done.stdout)["io"]


def test_engines_started_with_no_local_io_write_only_through_sockets(
        cluster_factory: Any, tmp_path: Path) -> None:  # noqa: F811
    cluster: LocalCluster = cluster_factory(3, extra=("--no-local-io",))
    cluster.cli("volume", "create", "vol1", "--size", "8Mi", "--replicas", "3")
    cluster.cli("volume", "attach", "vol1", "--node", "node1", "--wait")
    assert "--no-local-io" in cluster.instances("node1")["engine:vol1"]["args"]
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(4 * MiB))
    subprocess.run(["nbdcopy", str(data), cluster.get("vol1")["endpoint"]], check=True, timeout=120)
    io = engine_io(cluster, "vol1")
    assert io["writes"] > 0 and io["direct_writes"] == 0 and io["direct_reads"] == 0, io
