"""``pronghorn up --api``: the REST API served by the manager drives a real local cluster.

Through HTTP only: create a volume, attach it, request a snapshot, and see the
manager carry both out (replica + engine processes, the snapshot taken through the
engine); then detach and delete (202; the manager removes the replicas and finishes it). Processes are cleaned up by the local cluster fixture's rules.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PRONGHORN
from tests.fixtures.local_cluster import LocalCluster, wait_for
from tests.fixtures.rest_client import ApiClient

BANNER = "REST API on "


@pytest.fixture
def cluster_with_api(tmp_path: Path) -> Iterator[tuple[LocalCluster, ApiClient]]:
    cluster = LocalCluster(tmp_path / "home", nodes=1)
    cluster.home.mkdir()
    out = cluster.home / "manager.out"
    try:
        with open(out, "wb") as stdout, open(cluster.log_path, "wb") as stderr:
            cluster.proc = subprocess.Popen(
                [PRONGHORN, "up", "--home", str(cluster.home), "--nodes", "1", "--interval", "0.5",
                 "--api", "127.0.0.1:0"], stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                start_new_session=True)
        line = wait_for("the REST API banner", lambda: next(
            (text for text in out.read_text().splitlines() if text.startswith(BANNER)), None)
            or (cluster.proc.poll() is not None and "exited"), 60)
        assert line != "exited", cluster.log_path.read_text()[-3000:]
        yield cluster, ApiClient(line[len(BANNER):].split()[0])
    finally:
        cluster.cleanup()


def test_volume_lifecycle_through_the_managers_api(cluster_with_api: tuple[LocalCluster, ApiClient]) -> None:
    cluster, api = cluster_with_api
    assert [n["name"] for n in api.ok("GET", "/v1/nodes")] == ["node1"]
    api.ok("POST", "/v1/volumes", {"name": "vol1", "size": "64Mi", "number_of_replicas": 1}, 201)
    api.ok("POST", "/v1/volumes/vol1/attach", {"node": "node1"}, 202)
    attached = wait_for("vol1 attached", lambda: (doc := api.ok("GET", "/v1/volumes/vol1"))["state"] == "attached"
                        and doc)
    assert attached["endpoint"].startswith("nbd://")
    api.ok("POST", "/v1/volumes/vol1/snapshots", {"name": "s1", "labels": {"by": "rest"}}, 202)
    wait_for("s1 taken", lambda: [(s["name"], s["state"]) for s in api.ok("GET", "/v1/volumes/vol1/snapshots")
                                  ["snapshots"]] == [("s1", "taken")])
    assert api.ok("GET", "/v1/volumes/vol1")["snapshots"][0]["labels"] == {"by": "rest"}
    api.ok("POST", "/v1/jobs", {"name": "nightly", "cron": "0 3 * * *", "retain": 2, "volumes": ["vol1"]}, 201)
    api.ok("POST", "/v1/volumes/vol1/detach", expect=202)
    wait_for("vol1 detached", lambda: api.ok("GET", "/v1/volumes/vol1")["state"] == "detached")
    assert api.ok("DELETE", "/v1/volumes/vol1", expect=202)["state"] in ("deleting", "deleted")
    wait_for("the manager to finish deleting vol1",
             lambda: api.ok("GET", "/v1/volumes/vol1")["state"] == "deleted")
    assert not list(cluster.home.glob("nodes/*/disk/replicas/vol1-*")) and not cluster.server_processes()
    cluster.kill_manager(signal.SIGTERM)
    assert cluster.proc is not None and cluster.proc.returncode == 0
