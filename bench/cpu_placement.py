"""Where and how eagerly the benchmark's processes run: CPU pinning and nice value of fio and the servers.

On this kind of machine (2 vCPUs shared by fio, nbdkit or an engine and 3
replicas) the scheduler's placement of 5 processes moves results by more than
the code under test does: every cross-CPU wake-up is an inter-processor
interrupt (a VM exit under a hypervisor). A placement pins the same way for
every target, so targets are compared on equal terms. A negative nice value
(the same for fio and every server thread) shields a run from other work on a
shared machine without starving it. Used by bench/fio_schedule.py (fio_nbd.py
and ab_trees.py choose both).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path


class Placement(StrEnum):
    NONE = "none"  # the kernel decides (what a user gets)
    SPLIT = "split"  # fio on the first CPU, every server process on the others
    SHARED = "shared"  # fio and every server process on one CPU (no cross-CPU wake-ups)


def cpu_sets(placement: Placement) -> tuple[set[int] | None, set[int] | None]:
    """(fio CPUs, server CPUs) for a placement; None means "do not pin"."""
    cpus = sorted(os.sched_getaffinity(0))
    if placement is Placement.NONE or len(cpus) < 2 and placement is Placement.SPLIT:
        return None, None
    if placement is Placement.SPLIT:
        return {cpus[0]}, set(cpus[1:])
    return {cpus[-1]}, {cpus[-1]}


def pin_process(pid: int, cpus: set[int] | None, nice: int) -> None:
    """Pin every thread of ``pid`` and set its nice value; threads it starts later inherit both from their creator."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if cpus is not None:
                os.sched_setaffinity(int(task.name), cpus)
            os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
        except ProcessLookupError:  # a thread that just ended
            continue


class Pinned:
    """Context: pin the servers, and this process (so fio, its child, inherits it); restore on exit."""

    def __init__(self, placement: Placement, server_pids: list[int], nice: int = 0) -> None:
        self.fio_cpus, self.server_cpus = cpu_sets(placement)
        self.server_pids = server_pids
        self.nice = nice
        self.saved = os.sched_getaffinity(0), os.getpriority(os.PRIO_PROCESS, 0)

    def __enter__(self) -> Pinned:
        for pid in self.server_pids:
            pin_process(pid, self.server_cpus, self.nice)
        if self.fio_cpus is not None:
            os.sched_setaffinity(0, self.fio_cpus)
        os.setpriority(os.PRIO_PROCESS, 0, self.nice)
        return self

    def __exit__(self, *exc: object) -> None:
        os.sched_setaffinity(0, self.saved[0])
        os.setpriority(os.PRIO_PROCESS, 0, self.saved[1])
