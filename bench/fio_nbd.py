"""fio over NBD against the `nbdkit file` reference and Pronghorn engines (1 and 3 replicas).

Usage: python bench/fio_nbd.py [--quick | --size 1G --runtime 10] [--rounds 3] [--placement split] [--json]

Every target gets the same prefill and the same fio job file (4k randread and
randwrite at iodepth 16 and 1, 128k sequential read and write at iodepth 16).
Rounds are job-major with a shuffled target order and a sync before each run
(bench/fio_schedule.py); per job and target it reports the median over the
rounds, the median paired ratio to the reference with its min..max spread,
context switches per I/O (whole machine) and CPU us per I/O of each server
process. Prints a table (or JSON); asserts nothing.

``--targets engine3,plain3`` adds bench/plain_engine.py: plain batching to three
replica processes, without the engine's direct I/O, write pipeline or polling,
so what those buy shows apart from what the machine allows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the repository importable, here and in child processes
    sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])

from bench.cpu_placement import Placement  # noqa: E402
from bench.fio_jobs import JOBS, job_file_text  # noqa: E402
from bench.fio_schedule import Row, Settings, print_table, run_rounds, summarize  # noqa: E402
from bench.targets import DEFAULT_TARGETS, REFERENCE, TARGET_MAKERS, parse_size, running  # noqa: E402

EXIT_OK, EXIT_USAGE, EXIT_FAILED = 0, 2, 1


def parse_args(argv: list[str] | None, prog: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1G", help="export size and benchmarked range (default 1G)")
    parser.add_argument("--runtime", type=int, default=10, help="seconds per fio job (default 10)")
    parser.add_argument("--ramp", type=int, default=1, help="ramp-up seconds per job, not measured (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="job-major rounds in shuffled target order (default 3)")
    parser.add_argument("--jobs", default=",".join(j.name for j in JOBS), help="comma-separated subset of the jobs")
    parser.add_argument("--placement", type=Placement, choices=list(Placement), default=Placement.NONE,
                        help="CPU pinning, the same for every target: none = the kernel decides (default); split = fio on "
                             "the first CPU, servers on the others; shared = all on one CPU")
    parser.add_argument("--nice", type=int, default=0,
                        help="nice value of fio and every server thread, e.g. -5 on a shared machine (default 0)")
    parser.add_argument("--no-sync", dest="sync", action="store_false",
                        help="do not sync (untimed) before each fio run")
    parser.add_argument("--seed", type=int, help="seed of the shuffled target order")
    parser.add_argument("--prefill-bs", default="4k", help="block size of the sequential prefill (default 4k)")
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS),
                        help=f"comma-separated, from {', '.join(TARGET_MAKERS)} (default {','.join(DEFAULT_TARGETS)}; the reference always runs)")
    parser.add_argument("--workdir", type=Path, help="where images and replica directories go (default: a temp dir)")
    parser.add_argument("--quick", action="store_true",
                        help="--size 256M --runtime 2 --ramp 0 (overrides those): about 4 minutes with 3 rounds")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.runtime, args.ramp = "256M", 2, 0
    names = [n for n in args.targets.split(",") if n]
    unknown = [n for n in names if n not in TARGET_MAKERS]
    if unknown:
        parser.error(f"unknown target {unknown[0]!r}; choose from {', '.join(TARGET_MAKERS)}")
    args.names = [REFERENCE, *[n for n in names if n != REFERENCE]]
    by_name = {job.name: job for job in JOBS}
    wrong = [n for n in args.jobs.split(",") if n not in by_name]
    if wrong:
        parser.error(f"unknown job {wrong[0]!r}; choose from {', '.join(by_name)}")
    args.job_list = tuple(by_name[n] for n in args.jobs.split(","))
    try:
        args.size_bytes = parse_size(args.size)
    except ValueError as exc:
        parser.error(str(exc))
    if args.runtime < 1 or args.rounds < 1 or args.ramp < 0:
        parser.error("--runtime and --rounds must be >= 1, --ramp >= 0")
    return args


def measure(args: argparse.Namespace, workdir: Path) -> list[Row]:
    job_file = workdir / "jobs.fio"
    job_file.write_text(job_file_text(args.job_list))
    settings = Settings(args.size, args.runtime, args.ramp, args.rounds, args.placement, args.nice, args.sync, args.seed,
                        args.prefill_bs)
    with running(args.names, workdir, args.size_bytes) as targets:
        results = run_rounds(targets, args.job_list, job_file, settings, workdir)
    return summarize(results, args.job_list, REFERENCE)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    with tempfile.TemporaryDirectory(prefix="pronghorn-bench-", dir=args.workdir) as tmp:
        try:
            table = measure(args, Path(tmp))
        except (RuntimeError, OSError) as exc:
            print(f"{prog or 'fio_nbd'}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    if args.json:
        print(json.dumps({"size": args.size, "runtime": args.runtime, "rounds": args.rounds,
                          "placement": str(args.placement), "sync": args.sync,
                          "results": [asdict(row) for row in table]}, indent=2))
    else:
        print(f"# size {args.size}, runtime {args.runtime}s, {args.rounds} rounds, placement {args.placement}, "
              f"sync {'on' if args.sync else 'off'}")
        print_table(table)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(prog="bench/fio_nbd.py"))
