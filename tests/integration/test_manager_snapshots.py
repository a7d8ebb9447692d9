"""Snapshots through the manager: requested by the CLI, taken by the engine, recorded;
revert (the manager stops and restarts the frontend itself); removal purges the replicas.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.fixtures.local_cluster import LocalCluster, local_cluster, wait_for  # noqa: F401

MiB = 1 << 20


def write(path: Path, endpoint: str, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    subprocess.run(["nbdcopy", str(path), endpoint], check=True, timeout=120)
    return data


def read(path: Path, endpoint: str, size: int) -> bytes:
    subprocess.run(["nbdcopy", endpoint, str(path)], check=True, timeout=120)
    return path.read_bytes()[:size]


def test_snapshot_revert_and_remove(local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "snapvol", "--size", "8Mi", "--replicas", "2")
    cluster.cli("volume", "attach", "snapvol", "--node", "node1", "--wait")
    endpoint = cluster.get("snapvol")["endpoint"]
    first = write(tmp_path / "a", endpoint, 4 * MiB)
    cluster.cli("snapshot", "create", "snapvol", "s1", "--label", "why=test", "--wait")
    write(tmp_path / "b", endpoint, 4 * MiB)
    cluster.cli("snapshot", "create", "snapvol", "s2", "--wait")
    listed = json.loads(cluster.cli("snapshot", "ls", "snapvol", "--json").stdout)
    assert [(s["name"], s["parent"], s["labels"]) for s in listed] == [("s1", "", {"why": "test"}),
                                                                        ("s2", "s1", {})]

    cluster.cli("snapshot", "revert", "snapvol", "s1", "--wait")
    assert cluster.get("snapvol")["head_parent"] == "s1"
    assert read(tmp_path / "c", endpoint, 4 * MiB) == first  # the frontend is back, with s1's data

    cluster.cli("snapshot", "rm", "snapvol", "s2")

    wait_for("s2 to be purged", lambda: "s2" not in [s["name"] for s in cluster.get("snapvol")["snapshots"]])
    engine = cluster.instances("node1")["engine:snapvol"]["control"]
    names = json.loads(cluster.cli("engine", "snapshots", "--engine", engine, "--json").stdout)
    assert [s["name"] for s in names["snapshots"]] == ["s1"]

    bad = cluster.cli("snapshot", "create", "snapvol", "s1", check=False)
    assert bad.returncode == 4 and "Traceback" not in bad.stderr
    missing = cluster.cli("snapshot", "revert", "snapvol", "nope", check=False)
    assert missing.returncode == 3
