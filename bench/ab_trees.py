"""A/B of the data plane built from two (or more) source trees, in ONE invocation.

Usage: python bench/ab_trees.py TREE_A TREE_B [--jobs randwrite-4k-qd1,...] [--rounds 3] [--runtime 3]
       python bench/ab_trees.py .@PRONGHORN_SPIN_US=0 .@PRONGHORN_SPIN_US=50   (one tree, two settings)

Each tree (e.g. ``git archive main | tar -x -C /tmp/a`` and your worktree)
gets its own engine on 3 replica processes, whose ``pronghorn`` processes
import that tree's code (PYTHONPATH) and see the ``@NAME=VALUE,...``
environment given after the tree; `nbdkit file` is the reference. All
targets get the same prefill; rounds are job-major in shuffled target order
with a sync before each run and the same CPU placement for every target
(bench/fio_schedule.py), so a shared, loaded machine hurts them alike.
Prints, per job and target, the median IOPS, latency, paired ratio (with its
min..max) and added latency against nbdkit, context switches per I/O and CPU
microseconds per I/O of the server processes. Asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cpu_placement import Placement  # noqa: E402
from bench.fio_jobs import JOBS, job_file_text  # noqa: E402
from bench.fio_schedule import Results, Settings, print_table, run_rounds, summarize  # noqa: E402
from bench.targets import REFERENCE, Target, engine, nbdkit_file, parse_size  # noqa: E402

EXIT_OK, EXIT_USAGE, EXIT_FAILED = 0, 2, 1
BY_NAME = {job.name: job for job in JOBS}


def parse_args(argv: list[str] | None, prog: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="+", type=Variant.parse,
                        help="source trees to compare (each holds engine/ and replica/), optionally TREE@NAME=VALUE,...")
    parser.add_argument("--jobs", default="randwrite-4k-qd1,write-128k-qd16",
                        help=f"comma-separated, from {', '.join(BY_NAME)}")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is reported")
    parser.add_argument("--runtime", type=int, default=3, help="seconds per fio job")
    parser.add_argument("--size", default="256M", help="export size and benchmarked range")
    parser.add_argument("--replicas", type=int, default=3, help="replica processes per engine (default 3)")
    parser.add_argument("--placement", type=Placement, choices=list(Placement), default=Placement.NONE,
                        help="CPU pinning, the same for every target (see bench/cpu_placement.py)")
    parser.add_argument("--nice", type=int, default=0,
                        help="nice value of fio and every server thread, e.g. -5 on a shared machine (default 0)")
    parser.add_argument("--no-sync", dest="sync", action="store_false", help="no sync before each fio run")
    parser.add_argument("--seed", type=int, help="seed of the shuffled target order")
    args = parser.parse_args(argv)
    args.job_list = tuple(BY_NAME[n] for n in args.jobs.split(",") if n in BY_NAME)
    unknown = [n for n in args.jobs.split(",") if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown job {unknown[0]!r}; choose from {', '.join(BY_NAME)}")
    missing = [t.tree for t in args.trees if not (t.tree / "engine").is_dir()]
    if missing:
        parser.error(f"not a source tree (no engine/): {missing[0]}")
    if args.rounds < 1 or args.runtime < 1 or args.replicas < 1:
        parser.error("--rounds, --runtime and --replicas must be >= 1")
    try:
        args.size_bytes = parse_size(args.size)
    except ValueError as exc:
        parser.error(str(exc))
    return args


@dataclass(frozen=True)
class Variant:
    """A source tree and the environment its processes get."""

    tree: Path
    env: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Variant:
        tree, _, settings = text.partition("@")
        env = {}
        for item in filter(None, settings.split(",")):
            name, eq, value = item.partition("=")
            if not eq or not name:
                raise argparse.ArgumentTypeError(f"not NAME=VALUE: {item!r}")
            env[name] = value
        return cls(Path(tree), env)

    @property
    def name(self) -> str:
        return self.tree.resolve().name + "".join(f" {k}={v}" for k, v in self.env.items())


def start_targets(stack: contextlib.ExitStack, variants: list[Variant], workdir: Path, size: int,
                  replicas: int) -> list[Target]:
    (workdir / "ref").mkdir()
    targets = [nbdkit_file(workdir / "ref", size)]
    stack.callback(targets[0].stop)
    saved = dict(os.environ)
    try:
        for i, variant in enumerate(variants):
            os.environ.update(variant.env, PYTHONPATH=str(variant.tree.resolve()))  # the children import this tree
            (workdir / f"tree{i}").mkdir()
            target = engine(workdir / f"tree{i}", size, replicas)
            stack.callback(target.stop)
            target.name = f"{i}:{variant.name}"
            targets.append(target)
            os.environ.clear()
            os.environ.update(saved)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return targets


def measure(args: argparse.Namespace, workdir: Path) -> Results:
    job_file = workdir / "jobs.fio"
    job_file.write_text(job_file_text(args.job_list))
    settings = Settings(args.size, args.runtime, 0, args.rounds, args.placement, args.nice, args.sync, args.seed)
    with contextlib.ExitStack() as stack:
        targets = start_targets(stack, args.trees, workdir, args.size_bytes, args.replicas)
        return run_rounds(targets, args.job_list, job_file, settings, workdir)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    with tempfile.TemporaryDirectory(prefix="pronghorn-ab-") as tmp:
        try:
            results = measure(args, Path(tmp))
        except (RuntimeError, OSError) as exc:
            print(f"{prog or 'ab_trees'}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    print(f"# size {args.size}, runtime {args.runtime}s, {args.rounds} rounds, {args.replicas} replicas, "
          f"placement {args.placement}, nice {args.nice}, sync {'on' if args.sync else 'off'}")
    print_table(summarize(results, args.job_list, REFERENCE))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(prog="bench/ab_trees.py"))
