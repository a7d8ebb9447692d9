"""Create -> attached -> writable time of volumes through a real ``pronghorn up`` cluster.

Run from the repository root:
``python bench/manager_attach.py [--volumes 20] [--replicas 3] [--modes launcher,exec] [--rounds 1]``.
For each round and each mode (``launcher``: instances forked by the per-node launcher;
``exec``: ``pronghorn up --no-launcher``, a fresh interpreter per instance) it starts
``pronghorn up`` (3 nodes) in a temp directory, then for each volume in turn:
``Volumes.provision`` + ``start_attach`` recorded in the store (what ``volume create``
and ``volume attach`` do, without the CLI's interpreter start), waits until the
manager records ``Attached``, then writes and flushes one 4 KiB block through the
``nbd://`` endpoint; the clock stops when the flush is acknowledged. Each volume is
detached afterwards and its processes stopped before the next one is created (so the
machine never holds more than one volume's processes, and each attach finds the
manager idle).
Modes alternate round by round, so both see the same machine load.

Prints p50/p95/max seconds per mode (goal: p50 under 1 s) and the median of each
phase, taken from the manager's log (``spawning``/``started`` lines of the supervisor):
record (the two store writes), pickup (until the first replica spawn), replicas (first
spawn to the last replica ready), gap (to the engine's spawn), engine (spawn to ready),
attached (engine ready to ``Attached`` seen in the store), write (NBD connect, write,
flush); and cpu: the CPU seconds the attach cost (the manager's and its launchers' from
create to writable, plus all the volume's new processes'), which depends little on the
machine's load. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain.services import Volumes  # noqa: E402
from domain.store import open_control_plane  # noqa: E402
from domain.values import VolumeState  # noqa: E402
from tests.conftest import PRONGHORN  # noqa: E402
from tests.fixtures.nbd_client import NbdClient  # noqa: E402

PHASES = ("record", "pickup", "replicas", "gap", "engine", "attached", "write", "cpu")
LOG_LINE = re.compile(r"^(\S+ \S+) manager\[\d+\] INFO pronghorn\.manager\.supervisor: \S+: "
                      r"(spawning|started) (replica|engine):(\w+)")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15


def control_plane_pids(manager: int) -> list[int]:
    """The manager and its launchers."""
    children = [int(pid) for pid in Path(f"/proc/{manager}/task/{manager}/children").read_text().split()]
    return [manager, *(pid for pid in children if b"manager.launcher_process" in _cmdline(pid))]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def instance_pids(home: Path, volume: str) -> list[int]:
    pids = []
    for table in home.glob("nodes/*/instances.json"):
        pids += [inst["pid"] for key, inst in json.loads(table.read_text()).items()
                 if key.split(":", 1)[1].split("/")[0] == volume]
    return pids


def wait_state(volumes: Volumes, name: str, state: VolumeState, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while volumes.get(name).state != state:
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} not {state} after {timeout}s")
        time.sleep(0.005)


def log_marks(log: Path) -> dict[tuple[str, str, str], list[float]]:
    """(volume, spawning|started, replica|engine) -> wall-clock times from the manager's log."""
    marks: dict[tuple[str, str, str], list[float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        found = LOG_LINE.match(line)
        if found:
            stamp = datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            marks.setdefault((found[4], found[2], found[3]), []).append(stamp)
    return marks


def phases(name: str, bench: dict[str, float], marks: dict[tuple[str, str, str], list[float]]) -> dict[str, float]:
    """One volume's phase durations (seconds); a phase whose log lines are missing is left out."""
    out = {"record": bench["recorded"] - bench["start"], "write": bench["written"] - bench["attached"],
           "cpu": bench["cpu"]}
    spawned = marks.get((name, "spawning", "replica"), [])
    ready = marks.get((name, "started", "replica"), [])
    engine_spawned = marks.get((name, "spawning", "engine"), [])
    engine_ready = marks.get((name, "started", "engine"), [])
    if spawned and ready and engine_spawned and engine_ready:
        out["pickup"] = min(spawned) - bench["recorded"]
        out["replicas"] = max(ready) - min(spawned)
        out["gap"] = engine_spawned[0] - max(ready)
        out["engine"] = engine_ready[-1] - engine_spawned[0]
        out["attached"] = bench["attached"] - engine_ready[-1]
    return out


def run_cluster(mode: str, count: int, replicas: int) -> tuple[list[float], list[dict[str, float]]]:
    """Attach ``count`` volumes one after another on a fresh cluster; (totals, phases) per volume."""
    with tempfile.TemporaryDirectory(prefix="pronghorn-bench-attach-") as tmp:
        home = Path(tmp)
        log = home / "manager.log"
        out = home / "manager.out"
        extra = ["--no-launcher"] if mode == "exec" else []
        manager = subprocess.Popen([PRONGHORN, "up", "--home", str(home), "--interval", "1", *extra],
                                   stdout=open(out, "wb"), stderr=open(log, "wb"), start_new_session=True)
        try:
            while "cluster up" not in out.read_text():
                time.sleep(0.05)
            deadline = time.monotonic() + 60  # the launchers start with the manager (a spawn would wait for them)
            while mode == "launcher" and log.read_text().count("launcher ready") < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            totals, marks = [], []
            with open_control_plane(f"sqlite://{home / 'events.sqlite'}") as app:
                volumes = Volumes(app)
                for i in range(count):
                    name = f"bench{i}"
                    control_cpu = sum(cpu_seconds(pid) for pid in control_plane_pids(manager.pid))
                    mark = {"start": time.time()}
                    volumes.provision(name, 64 << 20, replicas)
                    volumes.start_attach(name, f"node{i % 3 + 1}")
                    mark["recorded"] = time.time()
                    wait_state(volumes, name, VolumeState.ATTACHED)
                    mark["attached"] = time.time()
                    with NbdClient(volumes.get(name).endpoint) as client:
                        client.write(0, os.urandom(4096))
                        client.flush()
                    mark["written"] = time.time()
                    mark["cpu"] = (sum(cpu_seconds(pid) for pid in control_plane_pids(manager.pid)) - control_cpu
                                   + sum(cpu_seconds(pid) for pid in instance_pids(home, name)))
                    totals.append(mark["written"] - mark["start"])
                    marks.append(mark)
                    volumes.start_detach(name)
                    wait_state(volumes, name, VolumeState.DETACHED)
                    while instance_pids(home, name):  # the next volume starts on an idle manager
                        time.sleep(0.01)
            logged = log_marks(log)
            return totals, [phases(f"bench{i}", m, logged) for i, m in enumerate(marks)]
        finally:
            os.killpg(manager.pid, signal.SIGTERM)
            manager.wait(60)
            subprocess.run([PRONGHORN, "down", "--home", str(home)], capture_output=True, timeout=120)


def report(mode: str, totals: list[float], breakdown: list[dict[str, float]], replicas: int) -> None:
    totals = sorted(totals)
    p95 = totals[min(len(totals) - 1, round(0.95 * (len(totals) - 1)))]
    print(f"{mode}: create -> attached -> writable, {len(totals)} volumes x {replicas} replicas: "
          f"p50 {statistics.median(totals):.2f} s, p95 {p95:.2f} s, max {totals[-1]:.2f} s (goal: p50 < 1 s)")
    medians = {p: statistics.median(values) for p in PHASES
               if (values := [b[p] for b in breakdown if p in b])}
    print(f"{mode}: medians (s): " + ", ".join(f"{p} {v:.3f}" for p, v in medians.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=20, help="volumes per round and mode")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--modes", default="launcher", help="comma-separated: launcher, exec (default launcher)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds; each runs every mode once, in turn")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("launcher", "exec") for m in modes):
        parser.error("--modes takes launcher and/or exec")
    results: dict[str, tuple[list[float], list[dict[str, float]]]] = {m: ([], []) for m in modes}
    for _ in range(args.rounds):
        for mode in modes:
            totals, breakdown = run_cluster(mode, args.volumes, args.replicas)
            results[mode][0].extend(totals)
            results[mode][1].extend(breakdown)
    for mode in modes:
        report(mode, *results[mode], args.replicas)
    return 0


if __name__ == "__main__":
    sys.exit(main())
