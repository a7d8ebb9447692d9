"""fio over NBD against the `nbdkit file` reference and Pronghorn engines (1 and 3 replicas).

Usage: python bench/fio_nbd.py [--quick | --size 1G --runtime 10] [--rounds 1] [--json]

Every target gets the same prefill and the same fio job file (4k randread and
randwrite at iodepth 16 and 1, 128k sequential read and write at iodepth 16).
Rounds interleave the targets (ref, e1, e3, ref, ...) so machine noise hits
them alike; the median of the rounds is reported with each ratio to the
reference. Prints a table (or JSON); asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the repository importable, here and in child processes
    sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])

from bench.fio_jobs import JOBS, JobResult, job_file_text, prefill, run_jobs  # noqa: E402
from bench.targets import REFERENCE, TARGET_MAKERS, parse_size, running  # noqa: E402

EXIT_OK, EXIT_USAGE, EXIT_FAILED = 0, 2, 1


def parse_args(argv: list[str] | None, prog: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1G", help="export size and benchmarked range (default 1G)")
    parser.add_argument("--runtime", type=int, default=10, help="seconds per fio job (default 10)")
    parser.add_argument("--ramp", type=int, default=1, help="ramp-up seconds per job, not measured (default 1)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the median is reported")
    parser.add_argument("--prefill-bs", default="4k", help="block size of the sequential prefill (default 4k)")
    parser.add_argument("--targets", default=",".join(TARGET_MAKERS),
                        help=f"comma-separated, from {', '.join(TARGET_MAKERS)} (the reference always runs)")
    parser.add_argument("--workdir", type=Path, help="where images and replica directories go (default: a temp dir)")
    parser.add_argument("--quick", action="store_true",
                        help="about a minute in all: --size 256M --runtime 2 --ramp 0 (overrides those)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.runtime, args.ramp = "256M", 2, 0
    names = [n for n in args.targets.split(",") if n]
    unknown = [n for n in names if n not in TARGET_MAKERS]
    if unknown:
        parser.error(f"unknown target {unknown[0]!r}; choose from {', '.join(TARGET_MAKERS)}")
    args.names = [REFERENCE, *[n for n in names if n != REFERENCE]]
    try:
        args.size_bytes = parse_size(args.size)
    except ValueError as exc:
        parser.error(str(exc))
    if args.runtime < 1 or args.rounds < 1 or args.ramp < 0:
        parser.error("--runtime and --rounds must be >= 1, --ramp >= 0")
    return args


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, dict[str, JobResult]]:
    """target name -> job -> median result over the rounds."""
    job_file = workdir / "jobs.fio"
    job_file.write_text(job_file_text())
    rounds: dict[str, list[dict[str, JobResult]]] = {}
    with running(args.names, workdir, args.size_bytes) as targets:
        for target in targets:
            print(f"prefilling {target.name} ({target.uri}, pids {target.pids})", file=sys.stderr)
            prefill(target.uri, args.size, args.prefill_bs, workdir)
        for round_no in range(args.rounds):
            for target in targets:
                print(f"round {round_no + 1}/{args.rounds}: {target.name}", file=sys.stderr)
                result = run_jobs(job_file, target.uri, args.size, args.runtime, args.ramp, workdir,
                                  f"{target.name}-{round_no}", target.pids)
                rounds.setdefault(target.name, []).append(result)
    return {name: {job.name: _median([r[job.name] for r in runs]) for job in JOBS} for name, runs in rounds.items()}


def _median(results: list[JobResult]) -> JobResult:
    return JobResult(
        job=results[0].job,
        iops=statistics.median(r.iops for r in results),
        mib_s=statistics.median(r.mib_s for r in results),
        lat_us=statistics.median(r.lat_us for r in results),
        errors=sum(r.errors for r in results),
        cpu_us_per_op={role: statistics.median(r.cpu_us_per_op[role] for r in results) for role in results[0].cpu_us_per_op},
    )


def rows(measured: dict[str, dict[str, JobResult]]) -> list[dict[str, object]]:
    reference = measured[REFERENCE]
    table = []
    for job in JOBS:
        ref = reference[job.name]
        for target, results in measured.items():
            r = results[job.name]
            table.append({
                **asdict(r), "target": target,
                "ratio": r.iops / ref.iops if ref.iops else 0.0,
                "lat_overhead_us": r.lat_us - ref.lat_us,
            })
    return table


def print_table(table: list[dict[str, object]]) -> None:
    header = (f"{'job':<18} {'target':<12} {'IOPS':>9} {'MiB/s':>8} {'lat us':>8} {'x ref':>6} {'+lat us':>8} "
              f"{'err':>3}  CPU us/op (server processes)")
    print(header)
    print("-" * len(header))
    for row in table:
        print(f"{row['job']:<18} {row['target']:<12} {row['iops']:>9.0f} {row['mib_s']:>8.1f} {row['lat_us']:>8.1f} "
              f"{row['ratio']:>6.2f} {row['lat_overhead_us']:>8.1f} {row['errors']:>3}  {_cpu(row['cpu_us_per_op'])}")


def _cpu(per_role: object) -> str:
    assert isinstance(per_role, dict)
    return " ".join(f"{role}={us:.0f}" for role, us in per_role.items())


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    with tempfile.TemporaryDirectory(prefix="pronghorn-bench-", dir=args.workdir) as tmp:
        try:
            measured = measure(args, Path(tmp))
        except (RuntimeError, OSError) as exc:
            print(f"{prog or 'fio_nbd'}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    table = rows(measured)
    if args.json:
        print(json.dumps({"size": args.size, "runtime": args.runtime, "rounds": args.rounds, "results": table}, indent=2))
    else:
        print_table(table)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(prog="bench/fio_nbd.py"))
