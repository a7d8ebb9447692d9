"""The fio workload every NBD target gets: one job file, prefill, run, parse.

The same job file runs against every target (its URI comes from the
environment), so targets differ only in what serves the NBD export. Each job
(a section of the file) runs as its own fio process so the CPU time of the
target's processes can be charged to it. Used by bench/fio_nbd.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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
    cpu_us_per_op: dict[str, float] = field(default_factory=dict)  # target process role -> CPU us per I/O
    switches_per_op: float = 0.0  # context switches per I/O, whole machine (/proc/stat ctxt)
    dirty_mib: float = 0.0  # dirty + writeback page cache when the job started


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


def run_jobs(job_file: Path, uri: str, size: str, runtime: int, ramp: int, workdir: Path, label: str,
             pids: dict[str, int], jobs: tuple[Job, ...] = JOBS) -> dict[str, JobResult]:
    """Run ``jobs`` of ``job_file`` (one fio run per section), with the CPU time each target process used."""
    return {job.name: run_job(job_file, job, uri, size, runtime, ramp, workdir / f"{label}-{job.name}.json", pids)
            for job in jobs}


def run_job(job_file: Path, job: Job, uri: str, size: str, runtime: int, ramp: int, output: Path,
            pids: dict[str, int]) -> JobResult:
    """One fio run of ``job``'s section, with the CPU time each target process used and the switches per I/O."""
    dirty = dirty_mib()
    before = {role: cpu_seconds(pid) for role, pid in pids.items()}
    switches = context_switches()
    report = run_fio([f"--section={job.name}", str(job_file)], output, fio_env(uri, size, runtime, ramp))
    switches = context_switches() - switches
    used = {role: cpu_seconds(pid) - before[role] for role, pid in pids.items()}
    entry = report["jobs"][0]
    stats = entry[job.direction]
    ops = float(stats["iops"]) * (runtime + ramp)  # ramp-up I/O costs CPU too but is not counted by fio
    return JobResult(
        job=job.name,
        iops=float(stats["iops"]),
        mib_s=float(stats["bw_bytes"]) / 2**20,
        lat_us=float(stats["lat_ns"]["mean"]) / 1000,
        errors=int(entry.get("error", 0)),
        cpu_us_per_op={role: 1e6 * seconds / ops if ops else 0.0 for role, seconds in used.items()},
        switches_per_op=switches / ops if ops else 0.0,
        dirty_mib=dirty,
    )


def context_switches() -> int:
    """Context switches since boot, all CPUs (the ``ctxt`` line of /proc/stat)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("ctxt "):
            return int(line.split()[1])
    return 0


def dirty_mib() -> float:
    """Page cache waiting for (or under) writeback, MiB."""
    kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(("Dirty:", "Writeback:")):
            kb += int(line.split()[1])
    return kb / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
