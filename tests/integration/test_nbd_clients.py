"""Real NBD clients (nbdinfo, nbdcopy, qemu-io, fio) against a real engine on real replicas."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from replica.client import DataClient
from tests.fixtures import engines
from tests.fixtures.engines import ReplicatedVolume

volume_factory = engines.volume_factory

MiB = 1 << 20


def run(*args: str, timeout: float = 120) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args[0]} failed: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_nbdinfo_shows_size_and_flags(volume_factory: Callable[..., ReplicatedVolume]) -> None:
    volume = volume_factory(replicas_count=1, size=48 * MiB)
    info = json.loads(run("nbdinfo", "--json", volume.uri))
    export = info["exports"][0]
    assert export["export-size"] == 48 * MiB
    assert export["can_flush"] and export["can_fua"] and export["can_trim"] and export["can_zero"]
    assert export["can_multi_conn"] and not export["is_read_only"]
    assert export["block_size_maximum"] == 32 * MiB
    assert export["block_size_preferred"] == 4096
    listed = run("nbdinfo", "--list", volume.uri)
    assert 'export="vol"' in listed


@pytest.mark.parametrize("replicas_count", [1, 3])
def test_nbdcopy_256mib_round_trip_is_identical(
    volume_factory: Callable[..., ReplicatedVolume], tmp_path: Path, replicas_count: int
) -> None:
    size = 256 * MiB
    volume = volume_factory(replicas_count=replicas_count, size=size)
    source, back = tmp_path / "in.img", tmp_path / "out.img"
    source.write_bytes(os.urandom(size))
    run("nbdcopy", str(source), volume.uri, timeout=300)
    run("nbdcopy", volume.uri, str(back), timeout=300)
    assert source.read_bytes() == back.read_bytes()
    # every replica holds the same bytes (read through each replica's own data server)
    expected = source.read_bytes()
    for replica in volume.replicas:
        with DataClient(replica.data) as client:
            for offset in (0, 100 * MiB, size - MiB):
                assert client.read(offset, MiB) == expected[offset : offset + MiB]


def test_qemu_io_patterns_aligned_and_unaligned(volume_factory: Callable[..., ReplicatedVolume]) -> None:
    volume = volume_factory(replicas_count=3, size=16 * MiB)
    target = f"nbd:{volume.engine.nbd}"
    writes = [
        "write -P 0x11 0 64k",
        "write -P 0x22 512 1k",  # unaligned inside sector 0
        "write -P 0x33 4000 200",  # crosses the sector 0/1 boundary
        "write -P 0x44 1m 4k",
        "write -P 0x55 1100k 12345",  # unaligned start and end, several sectors
        "write -z 8190 10000",  # unaligned write-zeroes
        "flush",
    ]
    run("qemu-io", "-f", "raw", *sum((["-c", c] for c in writes), []), target)
    checks = [
        "read -P 0x11 0 512",
        "read -P 0x22 512 1k",
        "read -P 0x11 1536 2464",
        "read -P 0x33 4000 200",
        "read -P 0x11 4200 3990",
        "read -P 0x0 8190 10000",
        "read -P 0x11 18190 47346",
        "read -P 0x44 1m 4k",
        "read -P 0x55 1100k 12345",
    ]
    out = run("qemu-io", "-f", "raw", *sum((["-c", c] for c in checks), []), target)
    assert "Pattern verification failed" not in out
    assert out.count("read ") == len(checks)


def test_fio_verify_on_three_replicas(volume_factory: Callable[..., ReplicatedVolume], tmp_path: Path) -> None:
    volume = volume_factory(replicas_count=3, size=64 * MiB)
    run("fio", "--name=verify", "--ioengine=nbd", f"--uri={volume.uri}", "--rw=randwrite", "--bs=4k",
        "--iodepth=16", "--size=32M", "--verify=crc32c", "--verify_state_save=0", "--do_verify=1", "--output", str(tmp_path / "fio.txt"),
        timeout=300)
    report = (tmp_path / "fio.txt").read_text()
    assert "err= 0" in report


def test_unix_socket_frontend(volume_factory: Callable[..., ReplicatedVolume], tmp_path: Path) -> None:
    volume = volume_factory(replicas_count=1, size=8 * MiB)
    engine = volume.engine
    engine.kill()
    engine.nbd_socket = tmp_path / "vol.sock"
    engine.start()
    uri = f"nbd+unix:///vol?socket={engine.nbd_socket}"
    assert json.loads(run("nbdinfo", "--json", uri))["exports"][0]["export-size"] == 8 * MiB
    run("qemu-io", "-f", "raw", "-c", "write -P 0x3c 0 64k", f"nbd+unix:///vol?socket={engine.nbd_socket}")
    out = run("qemu-io", "-f", "raw", "-c", "read -P 0x3c 0 64k", f"nbd://{engine.nbd}/vol")
    assert "verification failed" not in out


def test_largest_requests_mixed_reads_and_writes(volume_factory: Callable[..., ReplicatedVolume],
                                                 tmp_path: Path) -> None:
    volume = volume_factory(replicas_count=2, size=128 * MiB)
    run("fio", "--name=big", "--ioengine=nbd", f"--uri={volume.uri}", "--rw=randrw", "--bsrange=1m-32m",
        "--iodepth=4", "--size=128M", "--io_size=512M", "--verify=crc32c", "--verify_state_save=0", "--do_verify=1",
        "--output", str(tmp_path / "fio.txt"), timeout=300)
    assert "err= 0" in (tmp_path / "fio.txt").read_text()
