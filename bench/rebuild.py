"""Rebuild throughput: AddReplica of an empty replica against `cp --sparse=always`, A/B over trees.

Usage: python bench/rebuild.py [--data 1G] [--rounds 3] [--tree DIR ...] [--json]

For each source tree (default: this one; e.g. ``git archive main | tar -x -C /tmp/a``
and a worktree, to compare two versions in one run), an engine on one replica
(processes importing that tree) gets ``--data`` bytes written through NBD (fio,
sequential 1 MiB writes of fresh random buffers) and a snapshot. Each round then
copies the source replica's files with ``cp --sparse=always`` (and again followed
by ``sync``), and for every tree, in alternating order, rebuilds a fresh empty
replica through the engine's AddReplica RPC (the target is removed afterwards).
The rebuild ends durable (fdatasync'd, verified, RW), so **cp+sync is the fair
reference**; plain cp leaves the copy in the page cache (not durable) and is shown
too. Prints medians of the rounds: seconds, MiB/s, CPU seconds per GiB of
source, target and engine (from /proc, so less sensitive to a loaded machine),
and the ratios (goal: >= 0.5). The `pronghorn engine add-replica` CLI's own
start-up (Python imports) comes on top and is not counted; one `engine status`
call per tree and round shows what it costs.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the repository importable, here and in child processes
    sys.path.insert(0, str(ROOT))

from bench.fio_jobs import cpu_seconds  # noqa: E402
from bench.targets import parse_size  # noqa: E402
from engine.client import EngineClient  # noqa: E402
from engine.errors import EngineError  # noqa: E402
from tests.conftest import PRONGHORN  # noqa: E402
from tests.fixtures.engines import EngineProcess, start_engine  # noqa: E402
from tests.fixtures.fio import run_fio  # noqa: E402
from tests.fixtures.replicas import ReplicaProcess, start_replica  # noqa: E402

EXIT_OK, EXIT_FAILED = 0, 1
MiB, GiB = 1 << 20, 1 << 30
CP, CP_SYNC = "cp --sparse=always", "cp --sparse=always+sync"


@dataclass
class Volume:
    """One tree's engine and source replica, holding the data."""

    name: str
    tree: Path
    workdir: Path
    source: ReplicaProcess
    engine: EngineProcess


@contextlib.contextmanager
def tree_env(tree: Path) -> Any:
    """Processes started inside import ``tree``'s code."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(tree)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


def allocated_bytes(directory: Path) -> int:
    return sum(f.stat().st_blocks * 512 for f in directory.glob("*.img"))


def setup(stack: contextlib.ExitStack, index: int, tree: Path, data: int, workdir: Path) -> Volume:
    work = workdir / f"tree{index}"
    with tree_env(tree):
        source = start_replica(work, data, "source", data_socket=True)
        stack.callback(source.cleanup)
        engine = start_engine("rebuild", data, [source.control], work)
        stack.callback(engine.cleanup)
    print(f"{tree}: writing {data // MiB} MiB through {engine.uri}", file=sys.stderr)
    run_fio(["--name=fill", "--ioengine=nbd", f"--uri={engine.uri}", "--rw=write", "--bs=1M", "--iodepth=8",
             f"--size={data}", "--refill_buffers=1"], work / "fill.json")
    with EngineClient(engine.control) as client:
        client.snapshot("bench-base")  # the data sits in a snapshot layer, as after use
    return Volume(f"{index}:{tree.name}", tree, work, source, engine)


def copy_with_cp(source: Path, target: Path) -> dict[str, float]:
    """Seconds to cp --sparse=always every layer file, and to sync them too."""
    target.mkdir()
    files = sorted(source.glob("*.img"))
    started = time.perf_counter()
    subprocess.run(["cp", "--sparse=always", *map(str, files), str(target)], check=True)
    copied = time.perf_counter() - started
    subprocess.run(["sync", "-f", str(target)], check=True)
    synced = time.perf_counter() - started
    shutil.rmtree(target)
    return {CP: copied, CP_SYNC: synced}


def rebuild_once(volume: Volume, round_no: int) -> dict[str, Any]:
    """Rebuild a fresh empty replica from ``volume``'s source; remove it again."""
    with tree_env(volume.tree):
        target = start_replica(volume.workdir, volume.source.size, f"target{round_no}", data_socket=True)
    try:
        pids = {"source": volume.source.pid, "target": target.pid, "engine": volume.engine.pid}
        before = {role: cpu_seconds(pid) for role, pid in pids.items()}
        with EngineClient(volume.engine.control) as client:
            started = time.perf_counter()
            result = client.add_replica(target.control)
            seconds = time.perf_counter() - started
            cpu = {role: cpu_seconds(pid) - before[role] for role, pid in pids.items()}
            modes = {r.address: r.mode for r in client.status().replicas}
            client.remove_replica(target.control)
        return {"seconds": seconds, "cpu": cpu, "mode": modes.get(target.control, "missing"),
                "bytes_from_network": result.bytes_from_network}
    finally:
        target.cleanup()
        shutil.rmtree(target.directory, ignore_errors=True)


def cli_seconds(volume: Volume) -> float:
    """Wall seconds of one `pronghorn engine status` call (the tree's CLI start-up, plus one quick RPC)."""
    with tree_env(volume.tree):
        started = time.perf_counter()
        subprocess.run([PRONGHORN, "engine", "status", "--engine", volume.engine.control, "--json"],
                       capture_output=True, check=True)
        return time.perf_counter() - started


def measure(trees: list[Path], data: int, rounds: int, workdir: Path) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {}
    cps: list[dict[str, float]] = []
    with contextlib.ExitStack() as stack:
        volumes = [setup(stack, i, tree, data, workdir) for i, tree in enumerate(trees)]
        written = allocated_bytes(volumes[0].source.directory)
        for round_no in range(rounds):
            cps.append(copy_with_cp(volumes[0].source.directory, workdir / "cp-copy"))
            for volume in volumes if round_no % 2 == 0 else volumes[::-1]:
                print(f"round {round_no + 1}/{rounds}: rebuilding from {volume.name}", file=sys.stderr)
                runs.setdefault(volume.name, []).append(rebuild_once(volume, round_no))
            for volume in volumes:
                runs[volume.name][-1]["cli_seconds"] = cli_seconds(volume)
    return {"data_bytes": written, "rounds": rounds,
            "reference": {name: statistics.median(c[name] for c in cps) for name in (CP, CP_SYNC)},
            "reference_runs": cps, "rebuilds": {name: summary(r, written) for name, r in runs.items()}}


def summary(runs: list[dict[str, Any]], written: int) -> dict[str, Any]:
    return {"seconds": statistics.median(r["seconds"] for r in runs),
            "cli_seconds": statistics.median(r["cli_seconds"] for r in runs),
            "cpu_seconds_per_gib": {role: statistics.median(r["cpu"][role] for r in runs) * GiB / written
                                    for role in runs[0]["cpu"]},
            "modes": [r["mode"] for r in runs], "runs": runs}


def report(m: dict[str, Any]) -> None:
    written = m["data_bytes"]
    print(f"data: {written / MiB:.0f} MiB allocated in the source replica; medians of {m['rounds']} rounds")
    print(f"{'method':<28} {'seconds':>8} {'MiB/s':>8} {'x cp':>6} {'x cp+sync':>9} {'CLI s':>6}  "
          "CPU s/GiB (source+target, engine)")
    ref = m["reference"]
    for name, seconds in ref.items():
        print(f"{name:<28} {seconds:>8.2f} {written / MiB / seconds:>8.0f}")
    for name, r in m["rebuilds"].items():
        cpu = r["cpu_seconds_per_gib"]
        print(f"{'rebuild ' + name:<28} {r['seconds']:>8.2f} {written / MiB / r['seconds']:>8.0f} "
              f"{ref[CP] / r['seconds']:>6.2f} {ref[CP_SYNC] / r['seconds']:>9.2f} {r['cli_seconds']:>6.2f}  "
              f"{cpu['source']:.2f}+{cpu['target']:.2f}, {cpu['engine']:.2f}   modes {r['modes']}  "
              f"runs {[round(x['seconds'], 2) for x in r['runs']]}")
    print("x cp+sync is the fair ratio: a rebuild ends durable (fdatasync) before the replica turns RW, "
          "plain cp leaves dirty page cache.")
    print("seconds: the AddReplica RPC. Not counted: `pronghorn engine add-replica`'s own start-up; "
          "CLI s = one `pronghorn engine status` call of that tree.")


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="1G", help="bytes written before the rebuild (default 1G)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (alternating tree order); medians reported")
    parser.add_argument("--tree", type=Path, action="append", help="source tree to measure (repeat for A/B; "
                        "default: this one)")
    parser.add_argument("--workdir", type=Path, help="where replica directories go (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        data = parse_size(args.data)
    except ValueError as exc:
        parser.error(str(exc))
    trees = [t.resolve() for t in args.tree or [ROOT]]
    missing = [t for t in trees if not (t / "replica").is_dir()]
    if missing:
        parser.error(f"not a source tree (no replica/): {missing[0]}")
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    with tempfile.TemporaryDirectory(prefix="pronghorn-rebuild-", dir=args.workdir) as tmp:
        try:
            m = measure(trees, data, args.rounds, Path(tmp))
        except (RuntimeError, OSError, subprocess.CalledProcessError, EngineError) as exc:
            print(f"{prog or 'rebuild'}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    if args.json:
        print(json.dumps(m, indent=2))
    else:
        report(m)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(prog="bench/rebuild.py"))
