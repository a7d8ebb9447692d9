"""``Supervisor`` with real replica processes: a new supervisor (a restarted manager) re-adopts
live processes, finds one spawned before its pid was recorded, marks dead ones, and kills
strays; processes outlive the supervisor that started them.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from manager.instances import Instance, InstanceKind, find_process, process_matches, replica_key
from manager.supervisor import Supervisor
from tests.conftest import PRONGHORN

SIZE = 4 << 20


@pytest.fixture
def node_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "node1"
    directory.mkdir()
    try:
        yield directory
    finally:
        Supervisor("node1", directory, "127.0.0.1").stop_all()
        marker = str(directory) + "/"
        for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
            try:
                line = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in line and "serve" in line:
                os.killpg(pid, signal.SIGKILL)


def test_restarted_supervisor_adopts_and_marks_dead(node_dir: Path) -> None:
    first = Supervisor("node1", node_dir, "127.0.0.1")
    a = first.ensure_replica("vol", "r1", str(node_dir / "disk/replicas/vol-r1"), SIZE)
    b = first.ensure_replica("vol", "r2", str(node_dir / "disk/replicas/vol-r2"), SIZE)
    assert first.ensure_replica("vol", "r1", "ignored", SIZE).pid == a.pid  # running: not started twice
    os.killpg(b.pid, signal.SIGKILL)
    first.children[b.pid].wait()

    second = Supervisor("node1", node_dir, "127.0.0.1")  # the manager restarted
    assert second.alive(replica_key("vol", "r1")) and second.get(replica_key("vol", "r1")).pid == a.pid
    dead = second.get(replica_key("vol", "r2"))
    assert dead is not None and dead.pid == 0 and not second.alive(dead.key)
    again = second.ensure_replica("vol", "r2", str(node_dir / "disk/replicas/vol-r2"), SIZE)
    assert again.control == b.control and again.pid != b.pid  # back on its old address


def test_process_spawned_before_its_pid_was_recorded_is_found_not_duplicated(node_dir: Path) -> None:
    first = Supervisor("node1", node_dir, "127.0.0.1")
    inst = first.ensure_replica("vol", "r1", str(node_dir / "disk/replicas/vol-r1"), SIZE)
    pid = inst.pid
    inst.pid = 0  # as if the manager was killed between the spawn and recording the pid
    first.table.save()
    second = Supervisor("node1", node_dir, "127.0.0.1")
    assert second.get(inst.key).pid == pid
    assert second.ensure_replica("vol", "r1", "x", SIZE).pid == pid
    assert find_process(inst.args) == pid


def test_strays_under_the_node_directory_are_killed(node_dir: Path, tmp_path: Path) -> None:
    Supervisor("node1", node_dir, "127.0.0.1")
    stray_dir = node_dir / "disk/replicas/old-r9"
    args = ["replica", "serve", "--dir", str(stray_dir), "--size", str(SIZE), "--listen", "127.0.0.1:0"]
    with open(tmp_path / "stray.out", "wb") as out:
        stray = subprocess.Popen([PRONGHORN, *args], stdout=out, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while not (tmp_path / "stray.out").read_text():
            assert stray.poll() is None
        assert process_matches(stray.pid, args)
        Supervisor("node1", node_dir, "127.0.0.1")  # a restart: the stray is nobody's
        stray.wait(timeout=30)  # stopped (SIGTERM: a clean exit) by the new supervisor
        assert not process_matches(stray.pid, args)
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()


def test_instance_table_survives_reload(node_dir: Path) -> None:
    sup = Supervisor("node1", node_dir, "127.0.0.1")
    sup.table.put(Instance("engine:v", InstanceKind.ENGINE, "v", ["engine", "serve"], "a:1", "a:2", 0))
    assert Supervisor("node1", node_dir, "127.0.0.1").get("engine:v") is not None  # kept, marked dead
    sup.stop("engine:v")
    assert Supervisor("node1", node_dir, "127.0.0.1").get("engine:v") is None
