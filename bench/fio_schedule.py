"""The order fio jobs run in across targets, and the paired ratios that come out of it.

Used by bench/fio_nbd.py and bench/ab_trees.py. What makes one run comparable
with the next (each found by running it, see the README's Benchmarks section):
- job-major rounds: for each job, every target runs it back to back, in a
  fresh random order per job and round, so a burst of load on the machine, and
  the position in the sequence, hit all targets alike;
- ``sync`` (untimed) before every fio run: the previous run's dirty page cache
  (up to the whole image after a 128k write job) is otherwise written back by
  kernel threads in the middle of a later, unrelated job;
- the same CPU placement and nice value for every target (bench/cpu_placement.py);
- ratios are paired: a target's IOPS over the reference's IOPS in the same job
  and round; the median of those and their spread (min..max) are reported.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.cpu_placement import Pinned, Placement
from bench.fio_jobs import Job, JobResult, prefill, run_job
from bench.targets import Target


@dataclass(frozen=True)
class Settings:
    size: str
    runtime: int
    ramp: int
    rounds: int
    placement: Placement = Placement.NONE
    nice: int = 0
    sync: bool = True
    seed: int | None = None
    prefill_bs: str = "4k"


Results = dict[tuple[str, str], list[JobResult]]  # (job, target) -> one result per round


def run_rounds(targets: list[Target], jobs: tuple[Job, ...], job_file: Path, settings: Settings, workdir: Path,
               say: Callable[[str], None] = lambda text: print(text, file=sys.stderr)) -> Results:
    """Prefill every target alike, then ``rounds`` job-major rounds in shuffled target order."""
    rng = random.Random(settings.seed)
    results: Results = {}
    pids = [pid for target in targets for pid in target.pids.values()]
    with Pinned(settings.placement, pids, settings.nice):
        for target in targets:
            say(f"prefilling {target.name} ({target.uri}, pids {target.pids})")
            prefill(target.uri, settings.size, settings.prefill_bs, workdir)
        for round_no in range(settings.rounds):
            for job in jobs:
                order = rng.sample(targets, len(targets))
                say(f"round {round_no + 1}/{settings.rounds} {job.name}: {', '.join(t.name for t in order)}")
                for target in order:
                    if settings.sync:
                        os.sync()
                    result = run_job(job_file, job, target.uri, settings.size, settings.runtime, settings.ramp,
                                     workdir / f"{target.name}-{round_no}-{job.name}.json", target.pids)
                    results.setdefault((job.name, target.name), []).append(result)
    return results


@dataclass(frozen=True)
class Row:
    job: str
    target: str
    iops: float  # medians over the rounds
    mib_s: float
    lat_us: float
    ratio: float  # median of the per-round IOPS ratios to the reference
    ratio_min: float
    ratio_max: float
    lat_overhead_us: float  # median of the per-round latency differences to the reference
    errors: int
    cpu_us_per_op: dict[str, float]
    switches_per_op: float
    dirty_mib_max: float


def summarize(results: Results, jobs: tuple[Job, ...], reference: str) -> list[Row]:
    names = list(dict.fromkeys(target for _, target in results))
    rows = []
    for job in jobs:
        ref = results[(job.name, reference)]
        for name in names:
            runs = results[(job.name, name)]
            ratios = [r.iops / b.iops if b.iops else 0.0 for r, b in zip(runs, ref, strict=True)]
            rows.append(Row(
                job=job.name, target=name,
                iops=statistics.median(r.iops for r in runs),
                mib_s=statistics.median(r.mib_s for r in runs),
                lat_us=statistics.median(r.lat_us for r in runs),
                ratio=statistics.median(ratios), ratio_min=min(ratios), ratio_max=max(ratios),
                lat_overhead_us=statistics.median(r.lat_us - b.lat_us for r, b in zip(runs, ref, strict=True)),
                errors=sum(r.errors for r in runs),
                cpu_us_per_op={role: statistics.median(r.cpu_us_per_op[role] for r in runs)
                               for role in runs[0].cpu_us_per_op},
                switches_per_op=statistics.median(r.switches_per_op for r in runs),
                dirty_mib_max=max(r.dirty_mib for r in runs),
            ))
    return rows


def print_table(rows: list[Row]) -> None:
    """cs/op: context switches per I/O, whole machine; dirty: MiB of page cache dirty or under writeback
    when a run started (max over the rounds); CPU: us per I/O of all the target's server processes."""
    header = (f"{'job':<18} {'target':<22} {'IOPS':>7} {'MiB/s':>7} {'lat us':>7} {'x ref':>5} {'min..max':>10} "
              f"{'+lat us':>7} {'cs/op':>5} {'dirty':>5} {'CPU':>4}  CPU us/op per process")
    print(header)
    print("-" * len(header))
    for row in rows:
        cpu = sum(row.cpu_us_per_op.values())
        roles = " ".join(f"{role}={us:.0f}" for role, us in row.cpu_us_per_op.items())
        err = f"  ERRORS={row.errors}" if row.errors else ""
        print(f"{row.job:<18} {row.target:<22} {row.iops:>7.0f} {row.mib_s:>7.1f} {row.lat_us:>7.1f} "
              f"{row.ratio:>5.2f} {row.ratio_min:>4.2f}..{row.ratio_max:<4.2f} {row.lat_overhead_us:>7.1f} "
              f"{row.switches_per_op:>5.1f} {row.dirty_mib_max:>5.0f} {cpu:>4.0f}  {roles}{err}")
