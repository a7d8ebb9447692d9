"""Manager memory and reconcile-pass time at 1,000 volumes, on a SIMULATED data plane.

Run from the repository root: ``python bench/manager_scale.py [--volumes 1000] [--nodes 3]
[--attached 1.0] [--passes 50] [--trickle-seconds 20] [--rate 10] [--sweep N] [--store URL]``.

No replica or engine process runs: ``tests/fixtures/simulated_plane.py`` gives the manager's
``Reconciler`` a fake ``Supervisor`` per node and a fake ``EngineClient`` that answer
like the real ones (instances alive, engines listing their replicas RW). The event
store is real: a SQLite file in a temp dir, ``--store postgresql`` (a throwaway
PostgreSQL cluster, as bench/eventstore.py starts) or ``--store URL`` of an empty store.

1. A child process registers ``--nodes`` nodes, provisions ``--volumes`` volumes x
   ``--replicas`` replicas and asks to attach the ``--attached`` share of them.
2. This process (the "manager") builds the reconciler and runs passes until the
   store is quiet (every volume attached: the warm-up).
3. Steady state: ``--passes`` passes with nothing changing.
4. Trickle: a child process issues ``--rate`` attach/detach requests per second for
   ``--trickle-seconds`` while the manager loops like ``manager.loop`` (a pass when new
   events arrive, polled every 0.2 s, or every 2 s).
5. Restart: a fresh reconciler's first pass (loads every volume, reconciles them all).
Prints pass time p50/p95/p99/max in wall ms, in this process's CPU ms, and in wall ms
minus the time spent in ``app.save`` ("unsaved": store commits wait for SQLite's write
lock, shared with the writer process, and for fsync on a shared disk), RSS (VmRSS)
and peak RSS (VmHWM) from /proc/self/status, events/s processed, and the goals
(RSS < 500 MB, p99 pass < 100 ms). ``--json`` prints one JSON object. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from domain.application import ControlPlane  # noqa: E402
from domain.errors import DomainError  # noqa: E402
from domain.services import Nodes, Volumes  # noqa: E402
from domain.store import open_control_plane  # noqa: E402
from domain.values import Disk, VolumeState  # noqa: E402
from manager.rebuilds import Rebuilds  # noqa: E402
from manager.reconciler import Reconciler  # noqa: E402
from tests.fixtures.pgcluster import running_cluster  # noqa: E402
from tests.fixtures.simulated_plane import SimulatedPlane, SimulatedSupervisor  # noqa: E402

GOAL_RSS_MB = 500
GOAL_P99_MS = 100
POLL_S = 0.2
INTERVAL_S = 2.0
VOLUME_SIZE = 1 << 30


def node(i: int) -> str:
    return f"node{i + 1}"


def memory() -> dict[str, float]:
    """VmRSS and VmHWM of this process, MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"n": len(ordered), "p50": statistics.median(ordered), "p95": at(0.95), "p99": at(0.99),
            "max": ordered[-1]}


# -- child roles ---------------------------------------------------------------------------

def provision(args: argparse.Namespace) -> None:
    with open_control_plane(args.store) as app:
        nodes, volumes = Nodes(app), Volumes(app)
        for i in range(args.nodes):
            nodes.add(node(i), f"127.0.1.{i + 1}", disks=[Disk(path=f"{args.home}/{node(i)}/disk", capacity=1 << 50)])
        for v in range(args.volumes):
            name = f"vol{v:05d}"
            volumes.provision(name, VOLUME_SIZE, args.replicas)
            if v < args.attached * args.volumes:
                volumes.start_attach(name, node(v % args.nodes))


def trickle(args: argparse.Namespace) -> None:
    """Attach/detach requests at ``--rate`` per second until ``--trickle-seconds`` pass."""
    rng = random.Random(4)
    with open_control_plane(args.store) as app:
        volumes = Volumes(app)
        names = volumes.names()
        start = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - start) < args.trickle_seconds:
            if sent >= elapsed * args.rate:
                time.sleep(0.01)
                continue
            name = rng.choice(names)
            try:
                state = volumes.get(name).state
                if state == VolumeState.ATTACHED:
                    volumes.start_detach(name)
                elif state == VolumeState.DETACHED:
                    volumes.start_attach(name, node(rng.randrange(args.nodes)))
            except DomainError:
                pass  # raced with the manager: just another request
            sent += 1


def child(role: str, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    argv = [sys.executable, __file__, "--role", role, "--store", args.store, "--home", str(args.home)]
    for option in ("volumes", "nodes", "replicas", "attached", "rate", "trickle_seconds"):
        argv += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    return subprocess.Popen(argv)


# -- the manager ---------------------------------------------------------------------------

class Passes:
    """Wall ms, CPU ms and ms spent in ``app.save`` (store commits: lock waits, fsync) per pass."""

    def __init__(self, app: ControlPlane, reconciler: Reconciler) -> None:
        self.reconciler = reconciler
        self.saving = 0.0
        real_save = app.save

        def timed_save(*objs: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return real_save(*objs, **kwargs)
            finally:
                self.saving += time.perf_counter() - start

        app.save = timed_save  # type: ignore[method-assign]  # measuring only
        self.reset()

    def reset(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.unsaved: list[float] = []  # wall minus the time in app.save

    def run(self) -> None:
        self.saving = 0.0
        w, c = time.perf_counter(), time.process_time()
        self.reconciler.run_pass()
        wall = (time.perf_counter() - w) * 1000
        self.wall.append(wall)
        self.cpu.append((time.process_time() - c) * 1000)
        self.unsaved.append(wall - self.saving * 1000)

    def summary(self) -> dict[str, Any]:
        return {"wall_ms": percentiles(self.wall), "cpu_ms": percentiles(self.cpu),
                "wall_without_saves_ms": percentiles(self.unsaved)}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"data_plane": "SIMULATED", "volumes": args.volumes, "nodes": args.nodes,
                              "sweep": args.sweep or "default",
                              "replicas": args.replicas, "attached_share": args.attached, "store": args.store}
    started = time.perf_counter()
    if child("provision", args).wait() != 0:
        raise SystemExit("provisioning failed")
    result["provision_s"] = time.perf_counter() - started
    result["memory_before_manager_mb"] = memory()
    with open_control_plane(args.store) as app:
        plane = SimulatedPlane()
        supervisors = {node(i): SimulatedSupervisor(node(i), args.home / node(i), f"127.0.1.{i + 1}", plane)
                       for i in range(args.nodes)}
        reconciler = Reconciler(app, dict(supervisors), Rebuilds(app), engine_client=plane.engine_client(),
                                **({"sweep": args.sweep} if args.sweep else {}))
        def newest() -> int:
            return int(app.recorder.max_notification_id() or 0)  # type: ignore[attr-defined]


        passes = Passes(app, reconciler)
        seen = -1
        while (position := newest()) != seen:  # warm-up: until a pass records nothing
            seen = position
            passes.run()
        result["warmup"] = {"passes": len(passes.wall), "wall_s": sum(passes.wall) / 1000,
                            "cpu_s": sum(passes.cpu) / 1000, "first_pass_ms": passes.wall[0]}
        result["engines"] = len(plane.engines)

        passes.reset()
        for _ in range(args.passes):
            passes.run()
        result["steady"] = passes.summary()
        result["memory_steady_mb"] = memory()

        passes.reset()
        first = newest()
        writer = child("trickle", args)
        started = time.perf_counter()
        seen, due = -1, 0.0
        while writer.poll() is None:
            position, now = newest(), time.monotonic()
            if position != seen or now >= due:
                seen, due = position, now + INTERVAL_S
                passes.run()
            time.sleep(POLL_S)
        passes.run()
        elapsed = time.perf_counter() - started
        events = newest() - first
        result["trickle"] = {**passes.summary(), "events": events, "seconds": elapsed,
                             "events_per_s": events / elapsed, "rate": args.rate}
        result["memory_end_mb"] = memory()

        restarted = Reconciler(app, dict(supervisors), Rebuilds(app), engine_client=plane.engine_client(),
                               **({"sweep": args.sweep} if args.sweep else {}))
        passes = Passes(app, restarted)
        passes.run()  # a restarted manager: reads every volume, reconciles every one
        result["restart_first_pass"] = {"wall_ms": passes.wall[0], "cpu_ms": passes.cpu[0]}
    return result


def report(r: dict[str, Any]) -> None:
    def line(label: str, p: dict[str, float]) -> str:
        return (f"  {label:<9} p50 {p['p50']:7.1f}  p95 {p['p95']:7.1f}  p99 {p['p99']:7.1f}  "
                f"max {p['max']:7.1f}  (n={p['n']})")

    print(f"manager at {r['volumes']} volumes x {r['replicas']} replicas, {r['nodes']} nodes, "
          f"{r['attached_share']:.0%} attached, sweep {r['sweep']} — data plane SIMULATED (no replica/engine processes)")
    print(f"store {r['store']}; provisioning took {r['provision_s']:.1f} s; {r['engines']} simulated engines")
    w = r["warmup"]
    print(f"warm-up: {w['passes']} passes, {w['wall_s']:.1f} s wall, {w['cpu_s']:.1f} s CPU "
          f"(first pass {w['first_pass_ms'] / 1000:.1f} s)")
    for phase in ("steady", "trickle"):
        print(f"{phase} passes (ms):")
        print(line("wall", r[phase]["wall_ms"]))
        print(line("cpu", r[phase]["cpu_ms"]))
        print(line("unsaved", r[phase]["wall_without_saves_ms"]))
    t = r["trickle"]
    print(f"trickle: {t['rate']} attach/detach requests/s -> {t['events']} events in {t['seconds']:.1f} s "
          f"({t['events_per_s']:.1f} events/s processed)")
    restart = r["restart_first_pass"]
    print(f"restart: a fresh reconciler's first pass (loads every volume, reconciles all) "
          f"{restart['wall_ms']:.0f} ms wall, {restart['cpu_ms']:.0f} ms CPU")
    m = r["memory_end_mb"]
    print(f"memory: RSS {m['VmRSS']:.0f} MB, peak {m['VmHWM']:.0f} MB "
          f"(before building the manager: RSS {r['memory_before_manager_mb']['VmRSS']:.0f} MB)")
    print(f"goals: peak RSS {m['VmHWM']:.0f} MB < {GOAL_RSS_MB} MB: {'met' if m['VmHWM'] < GOAL_RSS_MB else 'NOT met'}")
    for measure, label in (("wall_ms", "wall"), ("cpu_ms", "CPU"), ("wall_without_saves_ms", "wall minus saves")):
        p99 = max(r["steady"][measure]["p99"], r["trickle"][measure]["p99"])
        print(f"       p99 pass ({label}) {p99:.1f} ms < {GOAL_P99_MS} ms: {'met' if p99 < GOAL_P99_MS else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=1000, help="volumes provisioned (default 1000)")
    parser.add_argument("--nodes", type=int, default=3, help="nodes registered (default 3)")
    parser.add_argument("--replicas", type=int, default=3, help="replicas per volume (default 3)")
    parser.add_argument("--attached", type=float, default=1.0, help="share of volumes attached (0..1)")
    parser.add_argument("--passes", type=int, default=50, help="steady-state passes")
    parser.add_argument("--trickle-seconds", type=float, default=20.0,
                        help="seconds of passes while attach/detach requests arrive (default 20)")
    parser.add_argument("--rate", type=float, default=10.0, help="attach/detach requests per second")
    parser.add_argument("--sweep", type=int, default=0,
                        help="volumes with no news compared with the data plane per pass (default: the manager's)")
    parser.add_argument("--store", default="", help="store URL of an empty store (default: SQLite in a temp "
                        "dir; 'postgresql': a throwaway PostgreSQL cluster)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--role", choices=("provision", "trickle"), help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "provision":
        provision(args)
        return 0
    if args.role == "trickle":
        trickle(args)
        return 0
    with tempfile.TemporaryDirectory(prefix="pronghorn-bench-scale-") as tmp, ExitStack() as stack:
        args.home = Path(tmp)
        if args.store == "postgresql":  # a throwaway cluster, durable settings
            cluster = stack.enter_context(running_cluster(fast=False))
            args.store = cluster.url(cluster.create_database("scale"))
        args.store = args.store or f"sqlite://{args.home / 'events.sqlite'}"
        result = measure(args)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
