"""Snapshots through the engine: take, list, revert (frontend stopped), delete; CLI and gRPC."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from engine import errors
from tests.conftest import PRONGHORN
from tests.fixtures import engines
from tests.fixtures.engines import ReplicatedVolume

volume_factory = engines.volume_factory
MiB = 1 << 20


def qemu_io(volume: ReplicatedVolume, *commands: str) -> str:
    args = ["qemu-io", "-f", "raw"] + [a for c in commands for a in ("-c", c)] + [f"nbd:{volume.engine.nbd}"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "failed" not in proc.stdout, proc.stdout + proc.stderr
    return proc.stdout


def cli(volume: ReplicatedVolume, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PRONGHORN, "engine", args[0], "--engine", volume.engine.control, *args[1:]],
                          capture_output=True, text=True, timeout=120)


def test_snapshot_revert_and_delete(volume_factory: Callable[..., ReplicatedVolume]) -> None:
    volume = volume_factory(replicas_count=2, size=16 * MiB)
    qemu_io(volume, "write -P 0xa1 0 1m", "flush")
    taken = cli(volume, "snapshot", "s1", "--json")
    assert taken.returncode == 0, taken.stderr
    assert json.loads(taken.stdout)["name"] == "s1"
    qemu_io(volume, "write -P 0xb2 0 512k", "flush")
    listed = json.loads(cli(volume, "snapshots", "--json").stdout)["snapshots"]
    assert "s1" in [s["name"] for s in listed]
    for replica in volume.replicas:  # the same snapshot on every replica
        with replica.control_client() as client:
            assert "s1" in client.get_info().chain
    again = cli(volume, "snapshot", "s1")
    assert again.returncode == 1 and "already exists" in again.stderr

    refused = cli(volume, "revert", "s1")
    assert refused.returncode == 1 and "frontend" in refused.stderr
    assert cli(volume, "frontend-stop").returncode == 0
    assert cli(volume, "revert", "s1").returncode == 0
    assert cli(volume, "frontend-start").returncode == 0
    qemu_io(volume, "read -P 0xa1 0 1m")

    with volume.engine.client() as client:
        client.snapshot("s2")
        qemu_io(volume, "write -P 0xc3 2m 64k", "flush")
        client.delete_snapshot("s2")
        names = [s.name for s in client.snapshots() if not s.removed]
        assert "s2" not in names and "s1" in names
        with pytest.raises(errors.NotFound):
            client.delete_snapshot("no-such-snapshot")
        assert client.status().state == "healthy"
    qemu_io(volume, "read -P 0xa1 0 1m", "read -P 0xc3 2m 64k")


def test_expand_grows_every_replica(volume_factory: Callable[..., ReplicatedVolume]) -> None:
    volume = volume_factory(replicas_count=2, size=16 * MiB)
    qemu_io(volume, "write -P 0x5a 0 64k")
    assert cli(volume, "expand", "32M").returncode == 0
    shrink = cli(volume, "expand", "8M")
    assert shrink.returncode == 1
    info = json.loads(subprocess.run(["nbdinfo", "--json", volume.uri], capture_output=True, text=True).stdout)
    assert info["exports"][0]["export-size"] == 32 * MiB
    for replica in volume.replicas:
        with replica.control_client() as client:
            assert client.get_info().size == 32 * MiB
    qemu_io(volume, "write -P 0x6b 30m 1m", "read -P 0x6b 30m 1m", "read -P 0x5a 0 64k")
