"""Replica failures under I/O, a faulted volume, and start-up consistency checks."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures import engines, replicas
from tests.fixtures.engines import EngineStartError, ReplicatedVolume, start_engine
from tests.fixtures.replicas import ReplicaProcess

volume_factory = engines.volume_factory
replica_factory = replicas.replica_factory

MiB = 1 << 20


def qemu_io(target: str, *commands: str) -> subprocess.CompletedProcess[str]:
    args = ["qemu-io", "-f", "raw"] + [a for c in commands for a in ("-c", c)] + [target]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def modes(volume: ReplicatedVolume) -> dict[str, str]:
    with volume.engine.client() as client:
        return {r.address: r.mode for r in client.status().replicas}


def test_killing_a_replica_during_writes_keeps_the_volume_serving(
    volume_factory: Callable[..., ReplicatedVolume], tmp_path: Path
) -> None:
    volume = volume_factory(replicas_count=3, size=64 * MiB)
    victim = volume.replicas[1]
    killer = threading.Timer(1.0, victim.kill)
    killer.start()
    fio = subprocess.run(
        ["fio", "--name=w", "--ioengine=nbd", f"--uri={volume.uri}", "--rw=randwrite", "--bs=4k",
         "--iodepth=16", "--size=48M", "--time_based", "--runtime=3", "--verify=crc32c", "--verify_state_save=0",
         "--verify_backlog=64", "--output", str(tmp_path / "fio.txt")],
        capture_output=True, text=True, timeout=120)
    killer.join()
    assert fio.returncode == 0, (tmp_path / "fio.txt").read_text() + fio.stderr
    assert "err= 0" in (tmp_path / "fio.txt").read_text()
    state = modes(volume)
    assert state[victim.control] == "ERR"
    assert [m for a, m in state.items() if a != victim.control] == ["RW", "RW"]
    with volume.engine.client() as client:
        status = client.status()
    assert status.state == "degraded"
    assert next(r for r in status.replicas if r.address == victim.control).error


def test_all_replicas_down_gives_eio_and_faulted(volume_factory: Callable[..., ReplicatedVolume]) -> None:
    volume = volume_factory(replicas_count=2, size=16 * MiB)
    target = f"nbd:{volume.engine.nbd}"
    assert qemu_io(target, "write -P 0x61 0 64k").returncode == 0
    for replica in volume.replicas:
        replica.kill()
    result = qemu_io(target, "write -P 0x62 0 64k", "read 0 4k")
    assert "Input/output error" in result.stdout + result.stderr
    with volume.engine.client() as client:
        status = client.status()
    assert status.state == "faulted"
    assert {r.mode for r in status.replicas} == {"ERR"}
    assert volume.engine.alive


def test_a_stale_replica_starts_in_err(replica_factory: Callable[..., ReplicaProcess], tmp_path: Path) -> None:
    fresh, stale = replica_factory(size=16 * MiB), replica_factory(size=16 * MiB)
    engine = start_engine("vol", 16 * MiB, [fresh.control], tmp_path / "first")
    try:
        assert qemu_io(f"nbd:{engine.nbd}", "write -P 0x71 0 1m", "flush").returncode == 0
    finally:
        engine.cleanup()
    engine = start_engine("vol", 16 * MiB, [fresh.control, stale.control], tmp_path / "second")
    try:
        with engine.client() as client:
            replicas = {r.address: r for r in client.status().replicas}
        assert replicas[fresh.control].mode == "RW"
        assert replicas[stale.control].mode == "ERR"
        assert "stale" in replicas[stale.control].error
        result = qemu_io(f"nbd:{engine.nbd}", "read -P 0x71 0 1m")
        assert result.returncode == 0 and "verification failed" not in result.stdout
    finally:
        engine.cleanup()


@pytest.mark.parametrize("problem", ["size", "unreachable"])
def test_engine_refuses_to_start_without_a_consistent_replica(
    replica_factory: Callable[..., ReplicaProcess], tmp_path: Path, problem: str
) -> None:
    replica = replica_factory(size=16 * MiB)
    if problem == "unreachable":
        replica.kill()
    with pytest.raises(EngineStartError) as failure:
        start_engine("vol", 8 * MiB if problem == "size" else 16 * MiB, [replica.control], tmp_path,
                     replica_timeout=2)
    assert failure.value.returncode == 1
    log = (tmp_path / "engine-vol.log").read_text()
    assert "no consistent replica" in log and replica.control in log


def test_a_silent_replica_times_out_into_err(volume_factory: Callable[..., ReplicatedVolume]) -> None:
    volume = volume_factory(replicas_count=2, size=16 * MiB, replica_timeout=1.5)
    target = f"nbd:{volume.engine.nbd}"
    assert qemu_io(target, "write -P 0x21 0 64k").returncode == 0
    frozen = volume.replicas[0]
    frozen.kill(signal.SIGSTOP)
    try:
        result = qemu_io(target, "write -P 0x22 0 64k", "read -P 0x22 0 64k")
        assert result.returncode == 0 and "failed" not in result.stdout, result.stdout + result.stderr
        assert modes(volume)[frozen.control] == "ERR"
    finally:
        frozen.kill(signal.SIGCONT)


@pytest.mark.parametrize("taken", ["nbd", "control"])
def test_a_taken_port_is_a_clean_start_failure(volume_factory: Callable[..., ReplicatedVolume],
                                               tmp_path: Path, taken: str) -> None:
    volume = volume_factory(replicas_count=1, size=16 * MiB)
    second = engines.EngineProcess("vol", 16 * MiB, [volume.replicas[0].control], tmp_path / "second.log")
    ports = {"nbd": volume.engine.nbd, "listen": volume.engine.control}
    with pytest.raises(EngineStartError) as failure:
        if taken == "nbd":
            second.start(nbd=ports["nbd"])
        else:
            second.start(listen=ports["listen"])
    assert failure.value.returncode == 1
    log = (tmp_path / "second.log").read_text()
    assert "Traceback" not in log and ("in use" in log or "cannot listen" in log)
    second.cleanup()
