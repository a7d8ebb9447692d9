"""How a supervised process ended, in words: the ``Reason`` a replica's ``Failed`` event carries.

A process the manager spawned itself has a return code (``Popen``); one forked by the
node's launcher has its wait status written by the launcher to ``logs/<key>.exit``
(manager/launcher_process.py). Either becomes "process killed by SIGKILL" or "process
exited with status 1"; when neither is known (a process adopted after a manager
restart ended) the reason says so. Used by ``manager.supervisor``.
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


UNKNOWN = Reason(ReasonCode.PROCESS_EXITED, "process exited (how is unknown: it was started by an earlier manager)")
