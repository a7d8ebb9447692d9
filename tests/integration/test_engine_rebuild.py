"""Rebuild through the engine: fresh, delta after a restart, interrupted and resumed."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine import errors
from replica.client import DataClient
from tests.fixtures import engines, replicas
from tests.fixtures.engines import ReplicatedVolume
from tests.fixtures.replicas import ReplicaProcess, start_replica

volume_factory = engines.volume_factory
replica_factory = replicas.replica_factory
MiB = 1 << 20


def write(volume: ReplicatedVolume, *commands: str) -> None:
    args = ["qemu-io", "-f", "raw"] + [a for c in commands for a in ("-c", c)] + [f"nbd:{volume.engine.nbd}"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "error" not in proc.stdout.lower(), proc.stdout + proc.stderr


def digest(replica: ReplicaProcess, size: int) -> str:
    """sha256 of a replica's whole volume, read through its own data server."""
    h = hashlib.sha256()
    with DataClient(replica.data) as client:
        for offset in range(0, size, 4 * MiB):
            h.update(client.read(offset, 4 * MiB))
    return h.hexdigest()


def modes(volume: ReplicatedVolume) -> dict[str, str]:
    with volume.engine.client() as client:
        return {r.address: r.mode for r in client.status().replicas}


def test_add_replica_rebuilds_while_writes_flow(volume_factory: Callable[..., ReplicatedVolume],
                                                tmp_path: Path) -> None:
    size = 32 * MiB
    volume = volume_factory(replicas_count=2, size=size)
    write(volume, "write -P 0x31 0 8m", "write -P 0x32 20m 4m", "flush")
    target = start_replica(tmp_path / "new", size, "target", data_socket=True)
    try:
        done = threading.Event()

        def writer() -> None:
            n = 0
            while not done.is_set():
                write(volume, f"write -P 0x{0x40 + n % 16:x} {(n % 24) * 1024}k 256k")
                n += 1

        background = threading.Thread(target=writer)
        background.start()
        try:
            with volume.engine.client() as client:
                result = client.add_replica(target.control)
        finally:
            done.set()
            background.join()
        assert result.mode == "RW"
        assert result.bytes_from_network > 0
        assert modes(volume) == {r.control: "RW" for r in [*volume.replicas, target]}
        write(volume, "flush")
        sums = {digest(r, size) for r in [*volume.replicas, target]}
        assert len(sums) == 1
    finally:
        target.cleanup()


def test_failed_replica_comes_back_with_a_delta_rebuild(volume_factory: Callable[..., ReplicatedVolume]) -> None:
    size = 32 * MiB
    volume = volume_factory(replicas_count=2, size=size)
    write(volume, "write -P 0x51 0 24m", "flush")
    lost = volume.replicas[1]
    lost.kill()
    write(volume, "write -P 0x52 1m 1m", "flush")
    assert modes(volume)[lost.control] == "ERR"
    lost.start(listen=lost.control, data_listen=lost.data)
    with volume.engine.client() as client:
        result = client.add_replica(lost.control)
    assert result.mode == "RW"
    assert result.bytes_from_network < 8 * MiB  # most of the 24 MiB was already there
    assert digest(volume.replicas[0], size) == digest(lost, size)


@pytest.mark.parametrize("victim", ["target", "source"])
def test_interrupted_rebuild_resumes(volume_factory: Callable[..., ReplicatedVolume], tmp_path: Path,
                                     victim: str) -> None:
    size = 128 * MiB
    volume = volume_factory(replicas_count=2, size=size)
    subprocess.run(["fio", "--name=fill", "--ioengine=nbd", f"--uri={volume.uri}", "--rw=write", "--bs=1m",
                    "--iodepth=8", f"--size={size}", "--buffer_compress_percentage=0", "--output=/dev/null"],
                   check=True, timeout=300)
    # capped, so that the rebuild is still running when it is interrupted (uncapped it can take 0.1 s)
    target = start_replica(tmp_path / "new", size, "target", data_socket=True,
                           extra_args=["--sync-rate-limit", "64M"])
    try:
        failure: list[BaseException] = []

        def rebuild() -> None:
            try:
                with volume.engine.client() as client:
                    client.add_replica(target.control)
            except errors.EngineError as exc:
                failure.append(exc)

        first = threading.Thread(target=rebuild)
        first.start()
        deadline = time.monotonic() + 120
        while _partial_bytes(target.directory) < 32 * MiB and first.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.is_alive(), "the rebuild finished before it could be interrupted"
        killed = target if victim == "target" else volume.replicas[0]
        killed.kill(signal.SIGKILL)
        first.join(timeout=120)
        assert failure, "the interrupted rebuild reported success"
        killed.start(listen=killed.control, data_listen=killed.data)
        if victim == "source":  # the source is ERR now: bring it back first, from the other replica
            with volume.engine.client() as client:
                client.add_replica(killed.control)
        with volume.engine.client() as client:
            result = client.add_replica(target.control)
        assert result.mode == "RW"
        assert result.bytes_from_network < size - 24 * MiB  # resumed: not the full data again
        assert len({digest(r, size) for r in [*volume.replicas, target]}) == 1
    finally:
        target.cleanup()


def _partial_bytes(directory: Path) -> int:
    total = 0
    for path in directory.rglob("*"):
        if path.is_file() and ".partial" in path.name:
            try:
                total += path.stat().st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def test_zeroes_and_trims_during_a_rebuild_keep_replicas_identical(
        volume_factory: Callable[..., ReplicatedVolume], tmp_path: Path) -> None:
    size = 128 * MiB
    volume = volume_factory(replicas_count=1, size=size)
    subprocess.run(["fio", "--name=fill", "--ioengine=nbd", f"--uri={volume.uri}", "--rw=write", "--bs=1m",
                    "--iodepth=8", f"--size={size}", "--output=/dev/null"], check=True, timeout=300)
    target = start_replica(tmp_path / "new", size, "target", data_socket=True)
    try:
        results: list[object] = []

        def rebuild() -> None:
            with volume.engine.client() as client:
                results.append(client.add_replica(target.control))

        thread = threading.Thread(target=rebuild)
        thread.start()
        deadline = time.monotonic() + 60
        while _partial_bytes(target.directory) < 4 * MiB and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        write(volume, "write -z -u 0 8m", "write -z -u 20m 100k", "write -P 0x55 40m 8m", "discard 40m 8m",
              "write -P 0x99 60m 64k")
        with volume.engine.client() as client:
            try:
                client.snapshot("during-rebuild")
                assert not thread.is_alive(), "a user snapshot was taken in the middle of a rebuild"
            except errors.FailedPrecondition as refused:
                assert "rebuild" in str(refused)
        thread.join(timeout=120)
        assert results and modes(volume)[target.control] == "RW"
        write(volume, "read -P 0 0 8m", "read -P 0x99 60m 64k")
        assert digest(volume.replicas[0], size) == digest(target, size)
    finally:
        target.cleanup()


def test_remove_replica_stops_its_writes_and_keeps_the_last_rw(
        volume_factory: Callable[..., ReplicatedVolume]) -> None:
    size = 16 * MiB
    volume = volume_factory(replicas_count=2, size=size)
    kept, removed = volume.replicas
    write(volume, "write -P 0x11 0 1m", "flush")
    with volume.engine.client() as client:
        status = client.remove_replica(removed.control)
        assert [r.address for r in status.replicas] == [kept.control]
        with pytest.raises(errors.FailedPrecondition):
            client.remove_replica(kept.control)
        with pytest.raises(errors.NotFound):
            client.remove_replica(removed.control)
    write(volume, "write -P 0x22 0 1m", "flush")
    with DataClient(kept.data) as client:
        assert client.read(0, MiB) == b"\x22" * MiB
    with DataClient(removed.data) as client:
        assert client.read(0, MiB) == b"\x11" * MiB
