"""A revert rewrites data under the frontend: refused while the volume is in use, unless forced.

On a real local cluster, with a real ext4 filesystem mounted through ``pronghorn
volume mount`` (nbdfuse + a loop device): the CLI refuses at once (exit 5, saying
where it is mounted, how many NBD clients the engine has and how to proceed); the
manager, handed a revert recorded while an NBD client is connected, does not
rewrite anything and records ``RevertRefused``; ``--force`` goes through, the
kernel then logs I/O errors for the loop device, and ``volume umount`` says so
(exit 1) instead of exiting 0.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from domain.services import Snapshots
from domain.store import open_control_plane
from tests.fixtures.local_cluster import LocalCluster, local_cluster, wait_for  # noqa: F401
from tests.fixtures.nbd_client import NbdClient
from tests.fixtures.rest_client import ApiClient
from tests.integration.test_rest_manager import cluster_with_api  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mount need root")
MiB = 1 << 20


def event_types(cluster: LocalCluster, volume: str) -> list[str]:
    return [e["type"] for e in json.loads(cluster.cli("events", volume, "--json").stdout)]


def mounted_volume(cluster: LocalCluster, name: str, replicas: int, mnt: Path) -> None:
    """A new 64 MiB volume attached on node1 and mounted (ext4) at ``mnt`` through the CLI."""
    cluster.cli("volume", "create", name, "--size", "64Mi", "--replicas", str(replicas))
    cluster.cli("volume", "attach", name, "--node", "node1", "--wait")
    mnt.mkdir()
    cluster.cli("volume", "mount", name, str(mnt), "--fs", "ext4")


def test_revert_of_a_mounted_volume_is_refused_unless_forced(local_cluster: LocalCluster,  # noqa: F811
                                                             tmp_path: Path) -> None:
    cluster = local_cluster
    mnt = tmp_path / "mnt"
    mounted_volume(cluster, "mvol", 2, mnt)
    mounted = True
    try:
        (mnt / "first.txt").write_text("before the snapshot\n")
        subprocess.run(["sync", "-f", str(mnt)], check=True)
        cluster.cli("snapshot", "create", "mvol", "s1", "--wait")
        (mnt / "second.txt").write_text("after the snapshot\n")
        subprocess.run(["sync", "-f", str(mnt)], check=True)

        refused = cluster.cli("snapshot", "revert", "mvol", "s1", check=False)
        assert refused.returncode == 5, refused.stderr
        message = refused.stderr.strip()
        assert len(message.splitlines()) == 1
        assert f"mvol is in use (mounted at {mnt} through nbdfuse, " in message
        assert "NBD client" in message
        assert f"unmount it first (pronghorn volume umount {mnt}) or pass --force" in message
        assert "RevertRequested" not in event_types(cluster, "mvol")  # nothing recorded for the manager
        assert (mnt / "second.txt").read_text() == "after the snapshot\n"

        cluster.cli("snapshot", "revert", "mvol", "s1", "--force", "--wait")
        assert cluster.get("mvol")["head_parent"] == "s1"
        # the filesystem's device lost its NBD connections under it: writing now fails in the kernel
        subprocess.run(["dd", "if=/dev/urandom", f"of={mnt}/third.bin", "bs=1M", "count=2", "oflag=direct"],
                       capture_output=True, timeout=120)
        subprocess.run(["sync", "-f", str(mnt)], capture_output=True, timeout=120)

        umount = cluster.cli("volume", "umount", str(mnt), check=False)
        mounted = False
        assert umount.returncode == 1, umount.stderr
        line = umount.stderr.strip()
        assert len(line.splitlines()) == 1
        assert f"{mnt} unmounted, but the kernel logged" in line and "error" in line
    finally:
        if mounted:
            cluster.cli("volume", "umount", str(mnt), check=False)


def test_clean_mount_and_umount_exit_0(local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    mnt = tmp_path / "mnt"
    mounted_volume(cluster, "cvol", 1, mnt)
    (mnt / "file").write_bytes(os.urandom(MiB))
    done = cluster.cli("volume", "umount", str(mnt), check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    cluster.cli("snapshot", "create", "cvol", "s1", "--wait")
    cluster.cli("snapshot", "revert", "cvol", "s1", "--wait")  # not in use any more: no --force needed
    assert cluster.get("cvol")["head_parent"] == "s1"


def test_manager_refuses_a_recorded_revert_while_a_client_is_connected(local_cluster: LocalCluster,  # noqa: F811
                                                                      tmp_path: Path) -> None:
    cluster = local_cluster
    cluster.cli("volume", "create", "nvol", "--size", "8Mi", "--replicas", "2")
    cluster.cli("volume", "attach", "nvol", "--node", "node1", "--wait")
    endpoint = cluster.get("nvol")["endpoint"]
    with NbdClient(endpoint) as client:
        client.write(0, b"A" * 4096)
        client.flush()
        cluster.cli("snapshot", "create", "nvol", "s1", "--wait")
        client.write(0, b"B" * 4096)
        client.flush()
        assert cluster.cli("snapshot", "revert", "nvol", "s1", check=False).returncode == 5  # the CLI sees it
        # a request recorded without the engine's word (e.g. a client that connected just after the check)
        app = open_control_plane(f"sqlite:///{cluster.home}/events.sqlite")
        try:
            Snapshots(app).request_revert("nvol", "s1")
            chain = wait_for("the manager's answer", lambda: (c := Snapshots(app).chain("nvol")).revert_refusal
                             and not c.revert_request and c)
        finally:
            app.close()
        assert "1 NBD client" in chain.revert_refusal and "revert to 's1' not done" in chain.revert_refusal
        assert client.read(0, 4096) == b"B" * 4096  # nothing rewritten under the client, which still works
    types = event_types(cluster, "nvol")
    assert types.count("RevertRefused") == 1 and "Reverted" not in types


def test_rest_refuses_a_revert_while_a_client_is_connected_unless_forced(
        cluster_with_api: tuple[LocalCluster, ApiClient]) -> None:  # noqa: F811
    cluster, api = cluster_with_api
    api.ok("POST", "/v1/volumes", {"name": "avol", "size": "8Mi", "number_of_replicas": 1}, 201)
    api.ok("POST", "/v1/volumes/avol/attach", {"node": "node1"}, 202)
    endpoint = wait_for("avol attached", lambda: (doc := api.ok("GET", "/v1/volumes/avol"))["state"] == "attached"
                        and doc["endpoint"])
    api.ok("POST", "/v1/volumes/avol/snapshots", {"name": "s1"}, 202)
    wait_for("s1 taken", lambda: any(s["name"] == "s1" and s["state"] == "taken"
                                     for s in api.ok("GET", "/v1/volumes/avol/snapshots")["snapshots"]))
    with NbdClient(endpoint) as client:
        error = api.fails(409, "POST", "/v1/volumes/avol/snapshots/s1/revert")
        assert error["code"] == "InvalidTransition"
        assert error["message"].startswith("avol is in use (1 NBD client): ")
        api.ok("POST", "/v1/volumes/avol/snapshots/s1/revert", {"force": True}, 202)
        wait_for("the forced revert", lambda: (c := api.ok("GET", "/v1/volumes/avol/snapshots"))["head_parent"] == "s1"
                 and not c["revert_request"])
        client.close()
    wait_for("the engine to count the client gone",  # then no body and no force is accepted
             lambda: api.call("POST", "/v1/volumes/avol/snapshots/s1/revert")[0] == 202)
