"""The per-node launcher with real replica and engine processes: instances are forked by it
under their own ``pronghorn ... serve`` command line, serve NBD, outlive the launcher and the
supervisor that asked for them and are re-adopted; a killed launcher is restarted and new
instances still start; without a launcher, instances start as new processes (fallback).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from manager import launcher as launcher_module
from manager.instances import cmdline, process_matches, pronghorn_servers_under, replica_key
from manager.supervisor import Supervisor
from tests.fixtures.local_cluster import LocalCluster, local_cluster, wait_for  # noqa: F401
from tests.integration.test_supervisor import SIZE, node_dir  # noqa: F401

MiB = 1 << 20


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def session(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])


@pytest.fixture
def supervisor(node_dir: Path) -> Iterator[Supervisor]:  # noqa: F811
    sup = Supervisor("node1", node_dir, "127.0.0.1", launcher=True)
    try:
        yield sup
    finally:
        sup.close()


def replica_dir(node: Path, name: str) -> str:
    return str(node / "disk/replicas" / f"vol-{name}")


def test_instances_are_forked_by_the_launcher_and_serve(supervisor: Supervisor, node_dir: Path) -> None:  # noqa: F811
    launcher = supervisor.launcher
    assert launcher is not None
    r1 = supervisor.ensure_replica("vol", "r1", replica_dir(node_dir, "r1"), SIZE)
    r2 = supervisor.ensure_replica("vol", "r2", replica_dir(node_dir, "r2"), SIZE)
    engine = supervisor.ensure_engine("vol", SIZE, [r1.control, r2.control])
    for inst in (r1, r2, engine):
        assert parent(inst.pid) == launcher.pid and inst.pid not in supervisor.children
        assert session(inst.pid) == inst.pid  # its own session: killpg stops it, and only it
        assert cmdline(inst.pid)[-len(inst.args):] == inst.args and cmdline(inst.pid)[1] == supervisor.executable
        assert Path(f"/proc/{inst.pid}/comm").read_text().strip() == "pronghorn"
    assert sorted(pronghorn_servers_under(node_dir)) == sorted([r1.pid, r2.pid, engine.pid])
    done = subprocess.run(["qemu-io", "-f", "raw", f"nbd://{engine.service}", "-c", "write -P 0x5a 0 1M",
                           "-c", "read -P 0x5a 0 1M"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Pattern verification failed" not in done.stdout, done.stdout + done.stderr
    log = (node_dir / "logs" / "engine_vol.log").read_text()
    assert f"engine[{engine.pid}] INFO pronghorn.engine: serving volume vol" in log  # its stderr went to its log
    supervisor.stop(engine.key)
    assert not process_matches(engine.pid, engine.args) and supervisor.get(engine.key) is None


def test_instances_outlive_the_launcher_and_are_readopted(node_dir: Path) -> None:  # noqa: F811
    first = Supervisor("node1", node_dir, "127.0.0.1", launcher=True)
    inst = first.ensure_replica("vol", "r1", replica_dir(node_dir, "r1"), SIZE)
    assert first.launcher is not None and parent(inst.pid) == first.launcher.pid
    launcher_pid = first.launcher.pid
    first.close()  # the manager stopped: its launcher ends with it
    assert parent(inst.pid) != launcher_pid  # reparented: the launcher is gone
    assert process_matches(inst.pid, inst.args)

    second = Supervisor("node1", node_dir, "127.0.0.1", launcher=True)  # the manager restarted
    try:
        assert second.alive(inst.key) and second.get(inst.key).pid == inst.pid
        assert second.ensure_replica("vol", "r1", replica_dir(node_dir, "r1"), SIZE).pid == inst.pid
    finally:
        second.close()


def test_killed_launcher_is_restarted_and_new_instances_start(
        supervisor: Supervisor, node_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(launcher_module, "RESTART_AFTER_S", 0.0)
    launcher = supervisor.launcher
    assert launcher is not None
    before = supervisor.ensure_replica("vol", "r1", replica_dir(node_dir, "r1"), SIZE)
    old = launcher.pid
    os.kill(old, signal.SIGKILL)
    launcher.proc.wait()  # type: ignore[union-attr]

    after = supervisor.ensure_replica("vol", "r2", replica_dir(node_dir, "r2"), SIZE)
    assert launcher.pid not in (0, old) and parent(after.pid) == launcher.pid  # forked by the new launcher
    assert supervisor.alive(before.key)  # the old launcher's child kept running
    assert supervisor.alive(replica_key("vol", "r2"))


def test_without_a_launcher_instances_start_as_new_processes(
        supervisor: Supervisor, node_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(launcher_module, "RESTART_AFTER_S", 3600.0)
    launcher = supervisor.launcher
    assert launcher is not None
    launcher.close()  # gone, and not due a restart
    inst = supervisor.ensure_replica("vol", "r1", replica_dir(node_dir, "r1"), SIZE)
    assert inst.pid in supervisor.children and parent(inst.pid) == os.getpid()
    assert process_matches(inst.pid, inst.args) and supervisor.alive(inst.key)


def test_launcher_that_cannot_start_falls_back(node_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(launcher_module.sys, "executable", "/nonexistent/python")
    sup = Supervisor("node1", node_dir, "127.0.0.1", launcher=True)
    try:
        assert sup.launcher is not None and sup.launcher.proc is None
        inst = sup.ensure_replica("vol", "r1", replica_dir(node_dir, "r1"), SIZE)
        assert inst.pid in sup.children and sup.alive(inst.key)
    finally:
        sup.close()


def test_manager_restart_readopts_forked_instances(local_cluster: LocalCluster) -> None:  # noqa: F811
    cluster = local_cluster
    # on a loaded machine a launcher may take longer than a spawn waits for it (then: a plain spawn)
    wait_for("the launchers", lambda: cluster.log_path.read_text().count("launcher ready") == 3)
    cluster.cli("volume", "create", "fork1", "--size", "16Mi", "--replicas", "3")
    cluster.cli("volume", "attach", "fork1", "--node", "node1", "--wait")
    before = {key: inst["pid"] for key, inst in cluster.all_instances().items()}
    assert len(before) == 4
    launchers = {parent(pid) for pid in before.values()}
    assert all("manager.launcher_process" in " ".join(cmdline(pid)) for pid in launchers), launchers

    cluster.kill_manager(signal.SIGKILL)  # the manager's process group: its launchers die with it
    wait_for("the launchers to die", lambda: all(not cmdline(pid) for pid in launchers))
    assert sorted(cluster.server_processes()) == sorted(before.values())  # the instances did not

    cluster.start()
    cluster.cli("volume", "create", "fork2", "--size", "16Mi", "--replicas", "3")
    cluster.cli("volume", "attach", "fork2", "--node", "node2", "--wait")
    after = {key: inst["pid"] for key, inst in cluster.all_instances().items()}
    assert {key: after[key] for key in before} == before  # re-adopted, not restarted
    assert len(after) == 8 and sorted(cluster.server_processes()) == sorted(after.values())
    for volume in ("fork1", "fork2"):
        done = subprocess.run(["nbdinfo", "--size", cluster.get(volume)["endpoint"]], capture_output=True,
                              text=True, timeout=60)
        assert done.stdout.strip() == str(16 * MiB), done.stderr


def test_bad_request_is_refused_and_the_launcher_keeps_serving(supervisor: Supervisor, node_dir: Path) -> None:  # noqa: F811
    launcher = supervisor.launcher
    assert launcher is not None
    with open(os.devnull, "rb") as devnull:
        with pytest.raises(launcher_module.LauncherUnavailable, match="refused"):
            launcher.spawn(["pronghorn"], [], (devnull.fileno(),) * 3)  # no arguments to run
    inst = supervisor.ensure_replica("vol", "r1", replica_dir(node_dir, "r1"), SIZE)
    assert parent(inst.pid) == launcher.pid and supervisor.alive(inst.key)
