"""The fio workload every NBD target gets: one job file, prefill, run, parse.

The same job file runs against every target (its URI comes from the
environment), so targets differ only in what serves the NBD export.
Used by bench/fio_nbd.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.fio import run_fio


@dataclass(frozen=True)
class Job:
    name: str
    rw: str  # fio rw= value
    bs: str
    iodepth: int

    @property
    def direction(self) -> str:
        return "write" if "write" in self.rw else "read"


JOBS = (
    Job("randread-4k-qd16", "randread", "4k", 16),
    Job("randwrite-4k-qd16", "randwrite", "4k", 16),
    Job("randread-4k-qd1", "randread", "4k", 1),
    Job("randwrite-4k-qd1", "randwrite", "4k", 1),
    Job("read-128k-qd16", "read", "128k", 16),
    Job("write-128k-qd16", "write", "128k", 16),
)


@dataclass(frozen=True)
class JobResult:
    job: str
    iops: float
    mib_s: float
    lat_us: float  # mean total latency (submission to completion)
    errors: int


def job_file_text(jobs: tuple[Job, ...] = JOBS) -> str:
    """One fio job file for all targets: ${NBD_URI}, ${BENCH_SIZE}, ${BENCH_RUNTIME}, ${BENCH_RAMP} come from the environment."""
    lines = [
        "[global]",
        "ioengine=nbd",
        "uri=${NBD_URI}",
        "size=${BENCH_SIZE}",
        "time_based=1",
        "runtime=${BENCH_RUNTIME}",
        "ramp_time=${BENCH_RAMP}",
        "norandommap=1",
        "randrepeat=0",
        "",
    ]
    for job in jobs:
        lines += [f"[{job.name}]", "stonewall", f"rw={job.rw}", f"bs={job.bs}", f"iodepth={job.iodepth}", ""]
    return "\n".join(lines)


def fio_env(uri: str, size: str, runtime: int, ramp: int) -> dict[str, str]:
    return {**os.environ, "NBD_URI": uri, "BENCH_SIZE": size, "BENCH_RUNTIME": str(runtime), "BENCH_RAMP": str(ramp)}


def prefill(uri: str, size: str, bs: str, workdir: Path) -> None:
    """Write the whole benchmarked range once, sequentially with ``bs`` blocks, as every target gets it."""
    run_fio(["--name=prefill", "--ioengine=nbd", f"--uri={uri}", "--rw=write", f"--bs={bs}", "--iodepth=16",
          f"--size={size}"], workdir / "prefill.json", dict(os.environ))


def run_jobs(job_file: Path, uri: str, size: str, runtime: int, ramp: int, output: Path) -> dict[str, JobResult]:
    report = run_fio([str(job_file)], output, fio_env(uri, size, runtime, ramp))
    by_name = {job.name: job for job in JOBS}
    results = {}
    for entry in report["jobs"]:
        job = by_name[entry["jobname"]]
        stats = entry[job.direction]
        results[job.name] = JobResult(
            job=job.name,
            iops=float(stats["iops"]),
            mib_s=float(stats["bw_bytes"]) / 2**20,
            lat_us=float(stats["lat_ns"]["mean"]) / 1000,
            errors=int(entry.get("error", 0)),
        )
    return results

