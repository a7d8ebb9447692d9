"""``Launcher``: the manager's end of one node's launcher process (manager/launcher_process.py).

The supervisor (manager/supervisor.py) asks ``spawn(cmdline, args, stdio)`` for an
instance process; the launcher forks it from an interpreter that has already imported
the replica and engine code, and answers with its pid. ``LauncherUnavailable`` means
"start it yourself": the launcher did not become ready within ``START_WAIT_S``, has
died (it is restarted, after a pause, longer when it never became ready), cannot set
a child's command line on this kernel, or did not answer. When it was lost after a
request reached it, the child may run anyway: it is looked for by its command line
first, so an instance is never started twice.

The launcher is a child of the manager in the manager's process group, holding one
end of a socket pair: it ends with the manager. Instances it forked are in sessions of
their own and outlive both. Used by ``manager.supervisor``.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from manager.instances import find_process

log = logging.getLogger("pronghorn.manager.launcher")

REPLY_TIMEOUT_S = 15.0  # the launcher waits up to 10 s for a child's confirmation
RESTART_AFTER_S = 5.0  # a launcher that died is restarted no sooner than this after its last start
RESTART_AFTER_FAILED_START_S = 120.0  # ... and this when it never became ready (e.g. kernel refuses)
STOP_TIMEOUT_S = 5.0
FORKED_ANYWAY_WAIT_S = 1.0
START_WAIT_S = 10.0  # a spawn waits this long (since its start) for a starting launcher
MAX_MESSAGE = 1 << 16


class LauncherUnavailable(RuntimeError):
    """No instance was forked: the caller starts it itself."""


class Launcher:
    def __init__(self, log_path: Path, prefix: list[str] | None = None) -> None:
        self.log_path = log_path
        self.prefix = prefix or []  # e.g. `ip netns exec NAME`: it execs the launcher, which keeps its fds
        self.lock = threading.Lock()  # one request at a time on the socket pair
        self.proc: subprocess.Popen[bytes] | None = None
        self.channel: socket.socket | None = None
        self.ready = False
        self.started_at = 0.0
        self.became_ready = False  # the last launcher started did
        self._start()

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    def _start(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.started_at = time.monotonic()
        self.became_ready = False
        try:
            with open(self.log_path, "ab") as out:
                # -P: no current directory on sys.path, so the launcher imports what `pronghorn` imports
                self.proc = subprocess.Popen(
                    [*self.prefix, sys.executable, "-P", "-m", "manager.launcher_process", "--fd",
                     str(theirs.fileno())],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=out, pass_fds=[theirs.fileno()], close_fds=True)
        except OSError as exc:
            mine.close()
            log.warning("cannot start the launcher: %s", exc)
            return
        finally:
            theirs.close()
        self.channel, self.ready = mine, False
        log.info("launcher started (pid %d)", self.proc.pid)

    def _drop(self, why: str) -> None:
        """Forget the current launcher process (it is killed if it still runs)."""
        if self.proc is not None:
            log.warning("launcher pid %d lost: %s", self.proc.pid, why)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
        if self.channel is not None:
            self.channel.close()
        self.proc, self.channel, self.ready = None, None, False

    def tend(self) -> bool:
        """Whether the launcher is ready; notices it became ready, died, or is due a restart."""
        with self.lock:
            return self._usable()

    def _usable(self, wait: bool = False) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            self._drop(f"exited with {self.proc.returncode}")
        if self.proc is None or self.channel is None:
            pause = RESTART_AFTER_S if self.became_ready else RESTART_AFTER_FAILED_START_S
            if time.monotonic() - self.started_at < pause:
                return False
            self._start()
            if self.proc is None or self.channel is None:
                return False
        if self.ready:
            return True
        # a spawn waits for a starting launcher (as long as starting a process would take)
        remaining = START_WAIT_S - (time.monotonic() - self.started_at) if wait else 0.0
        try:
            if remaining > 0:
                self.channel.settimeout(remaining)
                message = self.channel.recv(MAX_MESSAGE)
            else:
                message = self.channel.recv(MAX_MESSAGE, socket.MSG_DONTWAIT)
        except (BlockingIOError, TimeoutError):
            return False  # still importing
        except OSError as exc:
            self._drop(str(exc))
            return False
        answer = json.loads(message) if message else {"error": "exited while starting"}
        if "ready" not in answer:
            log.warning("launcher unavailable: %s; instances start as new processes", answer.get("error"))
            self._drop(str(answer.get("error")))
            return False
        self.ready = self.became_ready = True
        log.info("launcher ready (pid %d)", answer["ready"])
        return True

    def spawn(self, cmdline: list[str], args: list[str], stdio: tuple[int, int, int], exit_file: str = "") -> int:
        """Fork an instance running ``pronghorn ARGS`` shown as ``cmdline``; its pid. When it ends,
        the launcher writes its wait status to ``exit_file`` (if given)."""
        with self.lock:
            if not self._usable(wait=True) or self.channel is None:
                raise LauncherUnavailable("the launcher is not ready")
            request = json.dumps({"cmdline": cmdline, "args": args, "exit_file": exit_file}).encode()
            try:
                socket.send_fds(self.channel, [request], list(stdio))
            except OSError as exc:
                self._drop(f"request not sent: {exc}")
                raise LauncherUnavailable(f"the launcher is gone: {exc}") from exc
            try:
                self.channel.settimeout(REPLY_TIMEOUT_S)
                reply = self.channel.recv(MAX_MESSAGE)
            except OSError as exc:
                reply = b""
                why = str(exc) or exc.__class__.__name__
            else:
                why = "it exited"
            if not reply:
                self._drop(f"no reply: {why}")
                pid = _forked_anyway(args)  # the request reached it: the child may run
                if pid:
                    return pid
                raise LauncherUnavailable(f"the launcher did not answer: {why}")
        answer = json.loads(reply)
        if "pid" not in answer:
            raise LauncherUnavailable(f"the launcher refused: {answer.get('error')}")
        return int(answer["pid"])

    def close(self) -> None:
        """Stop the launcher (instances it forked keep running)."""
        with self.lock:
            if self.channel is not None:
                self.channel.close()  # end of file: the launcher exits
                self.channel = None
            if self.proc is not None:
                try:
                    self.proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc, self.ready = None, False


def _forked_anyway(args: list[str]) -> int:
    """The pid of a child the launcher forked before it failed (0: none showed up)."""
    deadline = time.monotonic() + FORKED_ANYWAY_WAIT_S  # a child sets its command line within ms of the fork
    while True:
        pid = find_process(args)
        if pid or time.monotonic() >= deadline:
            return pid
        time.sleep(0.05)
