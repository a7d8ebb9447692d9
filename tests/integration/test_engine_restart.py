"""The engine process dies (SIGKILL) during writes and comes back on the same replicas."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable

from tests.fixtures import engines
from tests.fixtures.engines import ReplicatedVolume

volume_factory = engines.volume_factory
MiB = 1 << 20


def qemu_io(nbd: str, *commands: str) -> subprocess.CompletedProcess[str]:
    args = ["qemu-io", "-f", "raw"] + [a for c in commands for a in ("-c", c)] + [f"nbd:{nbd}"]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def test_flushed_writes_survive_an_engine_kill(volume_factory: Callable[..., ReplicatedVolume]) -> None:
    volume = volume_factory(replicas_count=3, size=32 * MiB)
    engine = volume.engine
    acked = [f"write -P 0x{0x10 + i:x} {i}m 1m" for i in range(8)]
    done = qemu_io(engine.nbd, *acked, "flush")
    assert done.returncode == 0 and "error" not in done.stdout.lower()
    stop = threading.Event()

    def unflushed_writes() -> None:  # keeps writing elsewhere until the engine dies
        while not stop.is_set():
            qemu_io(engine.nbd, *(f"write -P 0x77 {16 + i}m 1m" for i in range(8)))

    writer = threading.Thread(target=unflushed_writes)
    writer.start()
    time.sleep(0.5)
    engine.restart()  # SIGKILL, then start again on the same replicas and ports
    stop.set()
    writer.join(timeout=60)
    check = qemu_io(engine.nbd, *(f"read -P 0x{0x10 + i:x} {i}m 1m" for i in range(8)))
    assert check.returncode == 0 and "failed" not in check.stdout, check.stdout + check.stderr
    with engine.client() as client:
        status = client.status()
    assert status.state in ("healthy", "degraded")
    assert any(r.mode == "RW" for r in status.replicas)
