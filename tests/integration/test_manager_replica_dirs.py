"""The manager deletes only the replica directories the event log says were removed.

On a real local cluster: an operator copies a replica's directory aside to inspect
it, moves another aside, and leaves a directory of their own under ``replicas/``.
All three survive many reconcile passes and each is reported exactly once
(``UnknownDirectoryFound`` on the node). A replica the log says was removed still
has its directory deleted by the garbage pass.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from domain.ids import node_id
from domain.node import Node
from domain.services import Replicas
from domain.store import open_control_plane
from tests.fixtures.local_cluster import LocalCluster, local_cluster, wait_for  # noqa: F401

PASSES_S = 4.0  # the cluster reconciles every 0.5 s: several passes


def node_events(cluster: LocalCluster, node: str) -> list[tuple[str, str]]:
    """(event type, path) of the node's UnknownDirectoryFound events, in order."""
    app = open_control_plane(f"sqlite:///{cluster.home}/events.sqlite")
    try:
        stored = app.recorder.select_events(node_id(node))
        found = []
        for item in stored:
            event = app.mapper.to_domain_event(item)
            if type(event).__name__ == "UnknownDirectoryFound":
                found.append(("UnknownDirectoryFound", event.path))
        return found
    finally:
        app.close()


def test_unknown_directories_are_left_alone_and_reported_once(local_cluster: LocalCluster) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "dvol", "--size", "8Mi", "--replicas", "1")
    cluster.cli("volume", "create", "gone", "--size", "8Mi", "--replicas", "1")
    cluster.cli("volume", "attach", "dvol", "--node", "node1", "--wait")
    replica = cluster.get("dvol")["replicas"][0]
    replicas_dir = Path(replica["disk"]) / "replicas"
    node = replica["node"]
    live = replicas_dir / "dvol-r1"
    assert live.is_dir()

    copied = replicas_dir / "dvol-r1.inspect"
    shutil.copytree(live, copied)
    own = replicas_dir / "operator-notes"
    own.mkdir()
    (own / "README").write_text("mine\n")
    # a detached volume's replica directory moved aside (its replica is not running)
    cluster.cli("volume", "attach", "gone", "--node", "node1", "--wait")
    cluster.cli("volume", "detach", "gone", "--wait")
    moved_from = Path(cluster.get("gone")["replicas"][0]["disk"]) / "replicas" / "gone-r1"
    moved = moved_from.with_name("gone-r1-broken")
    moved_from.rename(moved)

    time.sleep(PASSES_S)  # several passes
    assert copied.is_dir() and (own / "README").read_text() == "mine\n" and moved.is_dir()
    wait_for("the reports", lambda: len(node_events(cluster, node)) >= 2
             and any(p == str(moved) for _, p in _all_reports(cluster)))
    time.sleep(PASSES_S)  # more passes: nothing deleted, nothing reported again
    assert copied.is_dir() and (own / "README").read_text() == "mine\n" and moved.is_dir()
    assert sorted(p for _, p in _all_reports(cluster)) == sorted([str(copied), str(own), str(moved)])
    shown = json.loads(cluster.cli("node", "get", node, "--json").stdout)["unknown_directories"]
    assert sorted(shown) == sorted([str(copied), str(own)] + ([str(moved)] if moved.is_relative_to(
        cluster.home / "nodes" / node) else []))
    assert live.is_dir()


def _all_reports(cluster: LocalCluster) -> list[tuple[str, str]]:
    return [r for n in range(1, cluster.nodes + 1) for r in node_events(cluster, f"node{n}")]


def test_directory_of_a_replica_the_log_removed_is_deleted(local_cluster: LocalCluster) -> None:  # noqa: F811
    cluster = local_cluster
    cluster.cli("volume", "create", "rvol", "--size", "8Mi", "--replicas", "2")
    cluster.cli("volume", "attach", "rvol", "--node", "node1", "--wait")
    doomed = next(r for r in cluster.get("rvol")["replicas"] if r["name"] == "r2")
    directory = Path(doomed["disk"]) / "replicas" / "rvol-r2"
    assert directory.is_dir()
    app = open_control_plane(f"sqlite:///{cluster.home}/events.sqlite")
    try:
        Replicas(app).remove("rvol", "r2")  # what the leader records for a stale replica
        wait_for(f"{directory} to be deleted", lambda: not directory.exists())
        node: Node = app.repository.get(node_id(doomed["node"]))
        assert str(directory) not in getattr(node, "unknown_directories", ())  # deleted, not reported
    finally:
        app.close()
