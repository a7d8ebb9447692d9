"""Create -> attached -> writable time of volumes through a real ``pronghorn up`` cluster.

Run from the repository root: ``python bench/manager_attach.py [--volumes 20] [--replicas 3]``.
Starts ``pronghorn up`` (3 nodes) in a temp directory, then for each volume in turn:
``Volumes.provision`` + ``start_attach`` recorded in the store (what ``volume create``
and ``volume attach`` do, without the CLI's interpreter start), waits until the
manager records ``Attached``, then writes and flushes one 4 KiB block through the
``nbd://`` endpoint; the clock stops when the flush is acknowledged. Each volume is
detached afterwards (so the machine never holds more than one volume's processes).
Prints p50/p95/max seconds (goal: p50 under 1 s). Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain.services import Volumes  # noqa: E402
from domain.store import open_control_plane  # noqa: E402
from domain.values import VolumeState  # noqa: E402
from tests.conftest import PRONGHORN  # noqa: E402
from tests.fixtures.nbd_client import NbdClient  # noqa: E402


def wait_state(volumes: Volumes, name: str, state: VolumeState, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while volumes.get(name).state != state:
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} not {state} after {timeout}s")
        time.sleep(0.005)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=20)
    parser.add_argument("--replicas", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pronghorn-bench-attach-") as tmp:
        home = Path(tmp)
        log = open(home / "manager.log", "wb")
        out = home / "manager.out"
        manager = subprocess.Popen([PRONGHORN, "up", "--home", str(home), "--interval", "1"],
                                   stdout=open(out, "wb"), stderr=log, start_new_session=True)
        try:
            while "cluster up" not in out.read_text():
                time.sleep(0.05)
            times = []
            with open_control_plane(f"sqlite://{home / 'events.sqlite'}") as app:
                volumes = Volumes(app)
                for i in range(args.volumes):
                    name = f"bench{i}"
                    start = time.perf_counter()
                    volumes.provision(name, 64 << 20, args.replicas)
                    volumes.start_attach(name, f"node{i % 3 + 1}")
                    wait_state(volumes, name, VolumeState.ATTACHED)
                    with NbdClient(volumes.get(name).endpoint) as client:
                        client.write(0, os.urandom(4096))
                        client.flush()
                    times.append(time.perf_counter() - start)
                    volumes.start_detach(name)
                    wait_state(volumes, name, VolumeState.DETACHED)
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            print(f"create -> attached -> writable, {args.volumes} volumes x {args.replicas} replicas: "
                  f"p50 {statistics.median(times):.2f} s, p95 {p95:.2f} s, max {times[-1]:.2f} s (goal: p50 < 1 s)")
        finally:
            os.killpg(manager.pid, signal.SIGTERM)
            manager.wait(60)
            subprocess.run([PRONGHORN, "down", "--home", str(home)], capture_output=True, timeout=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
