"""The manager's decisions are events with a readable reason, who acted and what caused it, and
``replay --explain`` walks back to them. Real ``pronghorn up`` (three nodes), real replica and
engine processes; the failures are real signals and a replica directory that cannot be made.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.fixtures.local_cluster import LocalCluster, local_cluster, wait_for  # noqa: F401

MiB = 1 << 20


def events(cluster: LocalCluster, volume: str, *args: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(cluster.cli("events", volume, "--json", *args).stdout)
    return found


def replica_events(cluster: LocalCluster, volume: str, replica: str, kind: str) -> list[dict[str, Any]]:
    return events(cluster, volume, "--aggregate", f"Replica/{replica}", "--type", kind)


def attached(cluster: LocalCluster, name: str, replicas: int = 2) -> dict[str, Any]:
    cluster.cli("volume", "create", name, "--size", "8Mi", "--replicas", str(replicas))
    cluster.cli("volume", "attach", name, "--node", "node1", "--wait")
    return cluster.get(name)


def healthy(cluster: LocalCluster, volume: str) -> bool:
    doc = cluster.get(volume)
    return doc["robustness"] == "healthy" and all(r["mode"] == "RW" for r in doc["replicas"])


def test_a_killed_replica_is_failed_by_its_signal_restarted_because_of_it_and_explained(
        local_cluster: LocalCluster) -> None:  # noqa: F811
    cluster = local_cluster
    doc = attached(cluster, "kill")
    node = next(r["node"] for r in doc["replicas"] if r["name"] == "r2")
    victim = cluster.instances(node)["replica:kill/r2"]
    os.kill(victim["pid"], signal.SIGKILL)

    failed = wait_for("the failure to be recorded", lambda: replica_events(cluster, "kill", "r2", "Failed"))[0]
    assert failed["data"]["failure"]["reason"] == "process killed by SIGKILL"
    assert failed["data"]["failure"]["code"] == "ProcessExited"
    assert failed["data"]["actor"].startswith("manager:") and "node1" in failed["data"]["actor"]
    restarted = wait_for("the restart to be recorded",
                         lambda: replica_events(cluster, "kill", "r2", "ProcessRestarted"))[0]
    assert restarted["data"]["cause"] == f"event:{failed['global_position']}"
    assert restarted["data"]["reason"]["code"] == "Restarted"
    wait_for("the volume to be healthy again", lambda: healthy(cluster, "kill"))
    rebuild = replica_events(cluster, "kill", "r2", "RebuildStarted")[0]
    assert rebuild["data"]["cause"] == f"event:{restarted['global_position']}"  # rebuilt because restarted

    attach = events(cluster, "kill", "--type", "AttachStarted")[0]
    assert attach["data"]["actor"].startswith("cli:") and attach["data"]["cause"].startswith("command:cli:")

    # at the failure: the volume is degraded because r2 was killed, and the manager said so
    at_failure = failed["position"] + 1  # with the volume's ReplicaModeChanged saved beside it
    explained = cluster.cli("replay", "kill", "--explain", "--at", str(at_failure)).stdout
    assert "volume is degraded: 1 of 2 wanted replicas are RW, because:" in explained
    assert "replica r2 is ERR, because:" in explained
    assert f"#{failed['position']} " in explained
    assert "replica r2 failed: process killed by SIGKILL [by manager:" in explained
    document = json.loads(cluster.cli("replay", "kill", "--explain", "--at", str(at_failure), "--json").stdout)
    facts = {f["fact"]: f["chain"] for f in document["findings"]}
    assert facts["replica r2 is ERR"][0]["global_position"] == failed["global_position"]
    now = cluster.cli("replay", "kill", "--explain").stdout
    assert "attached, healthy" in now.splitlines()[0]

    refused = cluster.cli("volume", "delete", "kill", check=False)
    assert refused.returncode == 5
    recorded = events(cluster, "kill", "--type", "CommandRefused")
    assert len(recorded) == 1 and recorded[0]["data"]["actor"].startswith("cli:")
    assert recorded[0]["data"]["reason"]["message"] == refused.stderr.strip().split(": ", 1)[1]


def test_a_paused_replica_is_stopped_with_the_reason_and_restarted_because_of_it(
        local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    doc = attached(cluster, "pause")
    node = next(r["node"] for r in doc["replicas"] if r["name"] == "r2")
    victim = cluster.instances(node)["replica:pause/r2"]
    os.kill(victim["pid"], signal.SIGSTOP)
    try:
        data = tmp_path / "data.bin"
        data.write_bytes(os.urandom(4 * MiB))
        subprocess.run(["nbdcopy", str(data), doc["endpoint"]], check=True, timeout=120)  # the engine times it out
        stopped = wait_for("the manager to stop the silent replica",
                           lambda: replica_events(cluster, "pause", "r2", "ProcessStopped"))[0]
    finally:
        try:
            os.kill(victim["pid"], signal.SIGCONT)
        except ProcessLookupError:
            pass
    reason = stopped["data"]["reason"]
    assert reason["code"] == "NoReply"
    assert reason["message"].startswith("no reply within 1 s on ")
    assert reason["message"].endswith("(its process was paused: SIGSTOP)")
    restarted = wait_for("the restart to be recorded",
                         lambda: replica_events(cluster, "pause", "r2", "ProcessRestarted"))[0]
    assert restarted["data"]["cause"] == f"event:{stopped['global_position']}"
    wait_for("the volume to be healthy again", lambda: healthy(cluster, "pause"))
    failed = replica_events(cluster, "pause", "r2", "Failed")
    assert failed and failed[0]["data"]["failure"]["code"] == "EngineReported"
    assert "no reply within " in failed[0]["data"]["failure"]["reason"]
    assert failed[0]["data"]["failure"]["reason"].endswith(" s (--replica-timeout)")
    explained = cluster.cli("replay", "pause", "--explain", "--at", str(failed[0]["position"] + 1)).stdout
    assert "replica r2 is ERR, because:" in explained
    assert "the engine" in explained or failed[0]["data"]["failure"]["reason"] in explained


def test_a_replica_that_keeps_failing_to_start_is_one_event_when_it_starts_and_one_when_it_ends(
        local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    doc = attached(cluster, "stuck")
    node = next(r["node"] for r in doc["replicas"] if r["name"] == "r2")
    directory = cluster.home / "nodes" / node / "disk" / "replicas" / "stuck-r2"
    aside = tmp_path / "stuck-r2"
    cluster.kill_manager(signal.SIGKILL)  # so that nothing restarts it while its directory is swapped
    victim = cluster.instances(node)["replica:stuck/r2"]
    os.killpg(victim["pid"], signal.SIGKILL)
    shutil.move(directory, aside)
    directory.write_text("not a directory: the replica cannot start here\n")
    cluster.start()
    survivor = next(r["name"] for r in doc["replicas"] if r["name"] != "r2")
    adopted = wait_for("the survivors' adoption", lambda: replica_events(cluster, "stuck", survivor, "ProcessAdopted"))
    assert adopted[0]["data"]["reason"]["message"].startswith("a restarted manager found its process running (pid ")
    try:
        trouble = wait_for("the trouble to be recorded",
                           lambda: replica_events(cluster, "stuck", "r2", "TroubleStarted"))[0]
        assert trouble["data"]["reason"]["code"] == "StartFailed"
        assert "cannot create" in trouble["data"]["reason"]["message"]
        passes = cluster.log_path  # the manager keeps trying: wait for several failed passes
        wait_for("several failed starts", lambda: passes.read_text().count("cannot create") >= 5)
        explained = cluster.cli("replay", "stuck", "--explain").stdout
        assert "replica r2 keeps failing: cannot start: replica:stuck/r2: cannot create " in explained
        assert "replica r2 is ERR, because:" in explained
    finally:
        directory.unlink()
        shutil.move(aside, directory)
    ended = wait_for("the trouble to end", lambda: replica_events(cluster, "stuck", "r2", "TroubleEnded"))
    wait_for("the volume to be healthy again", lambda: healthy(cluster, "stuck"))
    assert len(replica_events(cluster, "stuck", "r2", "TroubleStarted")) == 1
    assert len(ended) == 1 and ended[0]["data"]["count"] >= 5
    failed = replica_events(cluster, "stuck", "r2", "Failed")
    assert len(failed) == 1  # not one per failed pass (nor a second one for the same death)
    assert failed[0]["data"]["failure"]["reason"] == \
        "process exited (how is unknown: it was started by an earlier manager)"
    restarted = replica_events(cluster, "stuck", "r2", "ProcessRestarted")
    assert [r["data"]["cause"] for r in restarted] == [f"event:{failed[0]['global_position']}"]


def test_a_replica_whose_disk_fills_up_is_failed_with_disk_full_and_the_engines_time(
        local_cluster: LocalCluster, tmp_path: Path) -> None:  # noqa: F811
    cluster = local_cluster
    disk = cluster.home / "nodes" / "node2" / "disk"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        doc = attached(cluster, "full", replicas=3)
        victim = next(r["name"] for r in doc["replicas"] if r["node"] == "node2")
        data = tmp_path / "data.bin"
        data.write_bytes(os.urandom(8 * MiB))
        subprocess.run(["nbdcopy", str(data), doc["endpoint"]], check=True, timeout=120)  # two replicas take it
        failed = wait_for("the failure to be recorded",
                          lambda: replica_events(cluster, "full", victim, "Failed"))[0]
        failure = failed["data"]["failure"]
        assert failure["code"] == "DiskFull"
        assert failure["reason"].startswith(f"disk full on node2:{disk} (free ")
        assert "B); the engine said: " in failure["reason"]
        # when the engine saw it, by the engine's clock: not later than the manager recorded it
        assert datetime.fromisoformat(failure["at"]) <= datetime.fromisoformat(failed["timestamp"])
        explained = cluster.cli("replay", "full", "--explain").stdout
        assert f"replica {victim} failed: disk full on node2:{disk}" in explained

        # its rebuild keeps failing (retried every 10 s): one RebuildFailed, one TroubleStarted
        wait_for("several failed rebuilds", lambda: cluster.log_path.read_text().count(
            f"rebuild of full/{victim} failed") >= 3, timeout=120)
        rebuild_failed = replica_events(cluster, "full", victim, "RebuildFailed")
        assert len(rebuild_failed) == 1 and rebuild_failed[0]["data"]["failure"]["code"] == "DiskFull"
        trouble = replica_events(cluster, "full", victim, "TroubleStarted")
        assert len(trouble) == 1
        assert trouble[0]["data"]["reason"]["message"].startswith("rebuild keeps failing (retried every 10 s): disk full")
        assert len(replica_events(cluster, "full", victim, "RebuildStarted")) == 1
        assert "keeps failing: rebuild keeps failing" in cluster.cli("replay", "full", "--explain").stdout

        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)  # room again
        ended = wait_for("the trouble to end", lambda: replica_events(cluster, "full", victim, "TroubleEnded"),
                         timeout=120)
        wait_for("the volume to be healthy again", lambda: healthy(cluster, "full"))
        assert ended[0]["data"]["count"] >= 3
        assert len(replica_events(cluster, "full", victim, "RebuildStarted")) == 2  # the first, the one that worked
        completed = replica_events(cluster, "full", victim, "RebuildCompleted")[-1]
        assert completed["data"]["source"] and completed["data"]["from_network"] > 0
    finally:
        cluster.kill_manager()
        for pid in cluster.server_processes():
            os.killpg(pid, signal.SIGKILL)
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_the_managers_starts_and_stops_are_events_with_why_it_stopped(local_cluster: LocalCluster) -> None:  # noqa: F811
    cluster = local_cluster

    def runs() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = json.loads(cluster.cli("events", "--aggregate", "ManagerRun", "--json").stdout)
        return found

    wait_for("the first run's start", lambda: len(runs()) == 2)
    cluster.kill_manager(signal.SIGKILL)
    cluster.start()
    wait_for("the second run's start", lambda: len(runs()) == 3)
    cluster.kill_manager(signal.SIGTERM)
    assert [(e["aggregate_name"], e["type"]) for e in runs()][1:] == [("node1,node2,node3", t)
                                                                    for t in ("Started", "Started", "Stopped")]
    first, second, stopped = runs()[1:]
    assert first["data"]["previous"] == ""
    assert second["data"]["previous"] == "the previous run ended without stopping: killed or crashed"
    assert stopped["data"]["reason"] == {"code": "AskedToStop", "message": "asked to stop by SIGTERM"}
    assert stopped["data"]["actor"] == "manager:node1,node2,node3"
