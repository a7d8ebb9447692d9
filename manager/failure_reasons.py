"""Why a replica failed, in words: the ``Reason`` its ``Failed`` event carries.

How a supervised process ended, or what lay behind an error the engine reported.

A process the manager spawned itself has a return code (``Popen``); one forked by the
node's launcher has its wait status written by the launcher to ``logs/<key>.exit``
(manager/launcher_process.py). Either becomes "process killed by SIGKILL" or "process
exited with status 1"; when neither is known (a process adopted after a manager
restart ended) the reason says so. An error the engine reported on a replica whose
disk this node holds is checked against the disk: none left is "disk full on
node2:/data (free 0 B)", decided from the filesystem's free space, not from the
error's words. Used by ``manager.supervisor`` and ``manager.reconciler``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from domain.values import Reason, ReasonCode

EXIT_FILE_WAIT_S = 1.0  # the launcher reaps on SIGCHLD: its file may lag the process's end a little


def from_returncode(code: int) -> Reason:
    """``Popen.returncode`` (negative: the signal) -> the reason."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return Reason(ReasonCode.PROCESS_EXITED, f"process killed by {name}")
    return Reason(ReasonCode.PROCESS_EXITED, f"process exited with status {code}")


def from_exit_file(path: Path, wait: float = EXIT_FILE_WAIT_S) -> Reason | None:
    """The reason in a wait-status file written by the launcher, or None if it holds none."""
    deadline = time.monotonic() + wait
    while True:
        try:
            text = path.read_text().strip()
        except OSError:
            text = ""
        if text.isdigit():
            return from_returncode(os.waitstatus_to_exitcode(int(text)))
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


DISK_FULL_BELOW = 1 << 20  # free bytes under which a failing replica's disk counts as full


def engine_reported(error: str, *, node: str, disk: str, data_dir: str, local: bool,
                    code: ReasonCode = ReasonCode.ENGINE_REPORTED) -> Reason:
    """The reason of a failure the engine reported (``error``, one line) on a replica of ``node``
    stored on ``disk``; ``local``: this manager runs that node, so its disk can be looked at;
    ``code``: the reason's code when the disk is not full."""
    free = _free_bytes(data_dir or disk) if local else None
    if free is not None and free < DISK_FULL_BELOW:
        return Reason(ReasonCode.DISK_FULL, f"disk full on {node}:{disk} (free {free} B); the engine said: {error}")
    return Reason(code, error or "the engine reported an error")


def _free_bytes(path: str) -> int | None:
    try:
        stat = os.statvfs(path)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


UNKNOWN = Reason(ReasonCode.PROCESS_EXITED, "process exited (how is unknown: it was started by an earlier manager)")
