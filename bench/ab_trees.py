"""A/B of the data plane built from two (or more) source trees, in ONE invocation.

Usage: python bench/ab_trees.py TREE_A TREE_B [--jobs randwrite-4k-qd1,...] [--rounds 3] [--runtime 3]

Each tree (e.g. ``git archive main | tar -x -C /tmp/a`` and your worktree)
gets its own engine on 3 replica processes, whose ``pronghorn`` processes
import that tree's code (PYTHONPATH); `nbdkit file` is the reference. All
targets get the same prefill; rounds alternate the order of the trees
(ref, A, B, ref, B, A, ...) so a shared, loaded machine hurts them alike.
Prints, per job and target, the median IOPS, latency, ratio and added latency
against nbdkit, and CPU microseconds per I/O over all server processes.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fio_jobs import JOBS, JobResult, job_file_text, prefill, run_jobs  # noqa: E402
from bench.targets import Target, engine, nbdkit_file, parse_size  # noqa: E402

EXIT_OK, EXIT_USAGE, EXIT_FAILED = 0, 2, 1
BY_NAME = {job.name: job for job in JOBS}


def parse_args(argv: list[str] | None, prog: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="+", type=Path, help="source trees to compare (each holds engine/ and replica/)")
    parser.add_argument("--jobs", default="randwrite-4k-qd1,write-128k-qd16",
                        help=f"comma-separated, from {', '.join(BY_NAME)}")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is reported")
    parser.add_argument("--runtime", type=int, default=3, help="seconds per fio job")
    parser.add_argument("--size", default="256M", help="export size and benchmarked range")
    args = parser.parse_args(argv)
    args.job_list = tuple(BY_NAME[n] for n in args.jobs.split(",") if n in BY_NAME)
    unknown = [n for n in args.jobs.split(",") if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown job {unknown[0]!r}; choose from {', '.join(BY_NAME)}")
    missing = [t for t in args.trees if not (t / "engine").is_dir()]
    if missing:
        parser.error(f"not a source tree (no engine/): {missing[0]}")
    if args.rounds < 1 or args.runtime < 1:
        parser.error("--rounds and --runtime must be >= 1")
    try:
        args.size_bytes = parse_size(args.size)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def start_targets(stack: contextlib.ExitStack, trees: list[Path], workdir: Path, size: int) -> list[Target]:
    (workdir / "ref").mkdir()
    targets = [nbdkit_file(workdir / "ref", size)]
    stack.callback(targets[0].stop)
    saved = os.environ.get("PYTHONPATH", "")
    try:
        for i, tree in enumerate(trees):
            os.environ["PYTHONPATH"] = str(tree.resolve())  # the children import this tree
            (workdir / f"tree{i}").mkdir()
            target = engine(workdir / f"tree{i}", size, 3)
            stack.callback(target.stop)
            target.name = f"{i}:{tree.resolve().name}"
            targets.append(target)
    finally:
        os.environ["PYTHONPATH"] = saved
    return targets


def measure(args: argparse.Namespace, workdir: Path) -> dict[tuple[str, str], list[JobResult]]:
    job_file = workdir / "jobs.fio"
    job_file.write_text(job_file_text(args.job_list))
    results: dict[tuple[str, str], list[JobResult]] = {}
    with contextlib.ExitStack() as stack:
        targets = start_targets(stack, args.trees, workdir, args.size_bytes)
        for target in targets:
            prefill(target.uri, args.size, "4k", workdir)
        for round_no in range(args.rounds):
            order = targets[1:] if round_no % 2 == 0 else targets[:0:-1]
            for target in [targets[0], *order]:
                print(f"round {round_no + 1}/{args.rounds}: {target.name}", file=sys.stderr)
                out = run_jobs(job_file, target.uri, args.size, args.runtime, 0, workdir, f"{target.name}-{round_no}",
                               target.pids, args.job_list)
                for name, result in out.items():
                    results.setdefault((name, target.name), []).append(result)
    return results


def report(args: argparse.Namespace, results: dict[tuple[str, str], list[JobResult]]) -> None:
    names = list(dict.fromkeys(target for _, target in results))
    print(f"{'job':<18} {'target':<16} {'IOPS':>8} {'lat us':>8} {'x ref':>6} {'+lat us':>8} {'CPU us/op':>9}  runs")
    for job in args.job_list:
        ref = results[(job.name, names[0])]
        ref_iops = statistics.median(r.iops for r in ref)
        ref_lat = statistics.median(r.lat_us for r in ref)
        for name in names:
            runs = results[(job.name, name)]
            iops = statistics.median(r.iops for r in runs)
            lat = statistics.median(r.lat_us for r in runs)
            cpu = sum(statistics.median(r.cpu_us_per_op[role] for r in runs) for role in runs[0].cpu_us_per_op)
            print(f"{job.name:<18} {name:<16} {iops:>8.0f} {lat:>8.1f} {iops / ref_iops:>6.2f} {lat - ref_lat:>8.1f} "
                  f"{cpu:>9.1f}  {[round(r.iops) for r in runs]}")


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    with tempfile.TemporaryDirectory(prefix="pronghorn-ab-") as tmp:
        try:
            results = measure(args, Path(tmp))
        except (RuntimeError, OSError) as exc:
            print(f"{prog or 'ab_trees'}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    report(args, results)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(prog="bench/ab_trees.py"))
