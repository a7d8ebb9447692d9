"""The engine's two-phase expand: refused whole, or rolled back, never a faulted volume.

Real engine and replica processes. A size no replica filesystem holds is refused
by the check on every replica: nothing changes and every replica stays RW. A
replica that passes the check but fails to commit (its volume.meta made immutable)
makes the engine shrink back the replica already grown: the volume keeps serving
at its old size from that one, and the caller may retry (``Unavailable``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine import errors
from tests.fixtures import engines
from tests.fixtures.engines import ReplicatedVolume
from tests.integration.test_engine_snapshots import qemu_io

volume_factory = engines.volume_factory
MiB = 1 << 20


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_expand_no_replica_can_hold_is_refused(volume_factory: Callable[..., ReplicatedVolume]) -> None:
    volume = volume_factory(replicas_count=2, size=16 * MiB)
    qemu_io(volume, "write -P 0x5a 0 64k")
    with volume.engine.client() as client:
        with pytest.raises(errors.ExpandRefused, match="CannotHold"):
            client.expand(1 << 60)
        status = client.status()
    assert status.size == 16 * MiB and status.state == "healthy"
    assert [r.mode for r in status.replicas] == ["RW", "RW"]
    for replica in volume.replicas:
        with replica.control_client() as control:
            assert control.get_info().size == 16 * MiB
    qemu_io(volume, "read -P 0x5a 0 64k", "write -P 0x6b 1m 64k", "read -P 0x6b 1m 64k")


def test_expand_failing_on_a_later_replica_is_rolled_back(volume_factory: Callable[..., ReplicatedVolume]) -> None:
    volume = volume_factory(replicas_count=2, size=16 * MiB)
    qemu_io(volume, "write -P 0x5a 0 64k")
    with volume.engine.client() as client:
        order = [r.address for r in client.status().replicas]
        last = next(r for r in volume.replicas if r.control in order[-1])
        with immutable(last.directory / "volume.meta"), pytest.raises(errors.Unavailable, match="failed"):
            client.expand(32 * MiB)
        status = client.status()
    assert status.size == 16 * MiB and status.state == "degraded"
    modes = {r.address: r.mode for r in status.replicas}
    assert modes[order[0]] == "RW" and modes[order[-1]] == "ERR"
    for replica in volume.replicas:
        with replica.control_client() as control:
            assert control.get_info().size == 16 * MiB
    qemu_io(volume, "read -P 0x5a 0 64k", "write -P 0x6b 1m 64k", "read -P 0x6b 1m 64k")
