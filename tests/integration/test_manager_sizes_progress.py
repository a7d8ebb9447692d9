"""What the manager measures while it works, through a real ``pronghorn up`` cluster.

- Snapshot sizes: a snapshot is recorded with the bytes its layer holds (written
  with qemu-io through the NBD endpoint), shown by ``snapshot ls`` (human) and
  ``--json`` (bytes), and measured again when a purge coalesces its parent into it.
- Rebuild progress: a replica rebuilt in full from a volume holding 64 MiB records
  ``RebuildProgressed`` events (a few, not one per chunk) with at least one value
  between 0 and 100 %, then 100 %; ``replica ls --json`` shows the bytes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from tests.fixtures.local_cluster import LocalCluster, cluster_factory, local_cluster, wait_for  # noqa: F401

MiB = 1 << 20
SLACK = 256 * 1024  # filesystem metadata blocks a layer file may hold beyond its data


def qemu_write(endpoint: str, offset: int, length: int, pattern: int) -> None:
    subprocess.run(["qemu-io", "-f", "raw", endpoint, "-c", f"write -P {pattern} {offset} {length}"],
                   check=True, capture_output=True, timeout=120)


def snapshot_sizes(cluster: LocalCluster, volume: str) -> dict[str, int]:
    listed = json.loads(cluster.cli("snapshot", "ls", volume, "--json").stdout)
    return {s["name"]: s["size"] for s in listed}


def test_snapshots_are_recorded_with_the_bytes_their_layer_holds(local_cluster: LocalCluster) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "sized", "--size", "64Mi", "--replicas", "2")
    cluster.cli("volume", "attach", "sized", "--node", "node1", "--wait")
    endpoint = cluster.get("sized")["endpoint"]
    qemu_write(endpoint, 0, 8 * MiB, 0xAB)
    cluster.cli("snapshot", "create", "sized", "s1", "--wait")
    qemu_write(endpoint, 32 * MiB, 4 * MiB, 0xCD)
    cluster.cli("snapshot", "create", "sized", "s2", "--wait")

    sizes = snapshot_sizes(cluster, "sized")
    assert 8 * MiB <= sizes["s1"] <= 8 * MiB + SLACK, sizes
    assert 4 * MiB <= sizes["s2"] <= 4 * MiB + SLACK, sizes
    table = cluster.cli("snapshot", "ls", "sized").stdout
    assert "8.0Mi" in table and "4.0Mi" in table, table

    cluster.cli("snapshot", "rm", "sized", "s1")  # s1 is coalesced into its only child s2
    wait_for("s1 to be purged and s2 measured again",
             lambda: "s1" not in (now := snapshot_sizes(cluster, "sized")) and now["s2"] >= 12 * MiB)
    assert snapshot_sizes(cluster, "sized")["s2"] <= 12 * MiB + SLACK


def rebuild_events(cluster: LocalCluster, volume: str, replica: str) -> list[dict[str, Any]]:
    """The replica's rebuild events since its last RebuildStarted."""
    entries = [e for e in json.loads(cluster.cli("events", volume, "--json").stdout)
               if e["aggregate"] == "Replica" and e["aggregate_name"].endswith(replica)
               and e["type"].startswith("Rebuild")]
    starts = [i for i, e in enumerate(entries) if e["type"] == "RebuildStarted"]
    return entries[starts[-1]:] if starts else []


def test_a_full_rebuild_records_its_progress(cluster_factory: Any, tmp_path: Path) -> None:  # noqa: F811
    size = 64 * MiB
    cluster = cluster_factory(nodes=2, extra=("--rebuild-rate-limit", "6Mi"))  # about 11 s for 64 MiB
    cluster.cli("volume", "create", "reb", "--size", "64Mi", "--replicas", "2")
    cluster.cli("volume", "attach", "reb", "--node", "node1", "--wait")
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(size))
    subprocess.run(["nbdcopy", str(data), cluster.get("reb")["endpoint"]], check=True, timeout=120)

    # With the manager down, r2 dies and loses its disk: the next manager rebuilds it in full.
    cluster.lose_replica("reb", "r2", "node2")

    def shown_rebuilding() -> re.Match[str] | None:
        return re.search(r"^r2 .* rebuilding (\d+)%", cluster.cli("replica", "ls", "reb").stdout, re.MULTILINE)

    shown = wait_for("replica ls to show r2's rebuild progress", shown_rebuilding, timeout=90)
    assert 0 <= int(shown.group(1)) <= 100
    wait_for("r2 to be RW again", lambda: cluster.get("reb")["robustness"] == "healthy", timeout=120)

    events = rebuild_events(cluster, "reb", "r2")
    assert [e["type"] for e in events][-1] == "RebuildCompleted", events
    progress = [(e["data"]["done"], e["data"]["total"]) for e in events if e["type"] == "RebuildProgressed"]
    assert any(0 < done < total for done, total in progress), progress  # seen mid-way
    assert progress[-1][0] == progress[-1][1] >= size, progress  # 100 % at the end
    assert all(done <= total for done, total in progress)
    assert len(progress) <= 15, progress  # coarse: a few events, not one per chunk
    r2 = next(r for r in json.loads(cluster.cli("replica", "ls", "reb", "--json").stdout) if r["name"] == "r2")
    assert r2["rebuild"] == "completed" and r2["rebuild_bytes_done"] == r2["rebuild_bytes_total"] >= size, r2
    doc = cluster.get("reb")
    r2_status = next(r for r in doc["replicas"] if r["name"] == "r2")
    assert r2_status["rebuild_bytes_done"] == r2_status["rebuild_bytes_total"] == progress[-1][1]
