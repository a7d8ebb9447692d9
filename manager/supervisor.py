"""``Supervisor``: starts, stops and watches one node's replica and engine processes.

Each process runs in its own session with stdout/stderr in files under the node
directory, so it outlives a manager restart. Crash safety comes from the order of
writes to the node's ``InstanceTable``: the instance (with its full arguments) is
recorded BEFORE it is spawned and its pid right AFTER; it is forgotten only after
the process is gone. A restarted manager therefore ``adopt``s every live process it
finds (by pid, or by searching /proc for the recorded arguments when the pid was
never written), marks dead ones (the reconciler restarts what is still desired on
the same ports)
and kills strays: servers naming this node's directory that no record explains.

With ``launcher=True`` (``pronghorn up``/``manager`` by default) processes are forked by
the node's launcher (manager/launcher.py), which has the replica and engine code
loaded: no interpreter start and no imports per instance. A forked instance carries
the same command line, session and log files as a spawned one, so everything above
holds for both; when the launcher is unavailable, ``_launch`` spawns as before.

Ports are chosen here (outside the kernel's ephemeral range) so a dead replica
comes back on its old address. A node may live in a network namespace
(``manager.netns``): its processes are then started inside it and ports are probed
there. ``hung`` tells a stuck replica from one cut off by the network. Used by
``manager.reconciler`` and ``manager.cli``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from domain.values import Reason
from manager import failure_reasons
from manager.addresses import free_ports, replica_data_socket
from manager.instances import (
    Instance,
    InstanceKind,
    InstanceTable,
    engine_key,
    find_process,
    process_matches,
    process_state,
    pronghorn_servers_under,
    replica_key,
)
from manager.launcher import Launcher, LauncherUnavailable
from manager.netns import NetworkNamespace
from manager.replica_probe import answers_data
from replica.metadata import load_volume_meta

log = logging.getLogger("pronghorn.manager.supervisor")

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
START_ATTEMPTS = 3
RESTART_BACKOFF_S = 10.0  # after a failed start, the next attempt waits this long
READY_POLL_S = 0.005
PRONGHORN = str(Path(sys.executable).with_name("pronghorn"))


class StartFailed(RuntimeError):
    """A process exited or printed no ready line; the message carries its log tail."""


def replica_size(data_dir: str) -> int:
    """The size of the volume a replica directory holds (0 if it holds none yet)."""
    try:
        return int(load_volume_meta(Path(data_dir)).size)
    except (OSError, ValueError):
        return 0


class Supervisor:
    def __init__(self, node: str, directory: Path, host: str, executable: str = PRONGHORN,
                 netns: NetworkNamespace | None = None, replica_timeout: float | None = None,
                 launcher: bool = False) -> None:
        self.node = node
        self.directory = directory
        self.host = host
        self.executable = executable
        self.netns = netns  # the node's processes run in this network namespace
        self.replica_timeout = replica_timeout  # passed to the engines (None: the engine's default)
        (directory / "logs").mkdir(parents=True, exist_ok=True)
        (directory / "sockets").mkdir(parents=True, exist_ok=True)
        self.table = InstanceTable(directory / "instances.json")
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.returncodes: dict[int, int] = {}  # pid -> return code of a child of ours that ended
        self.adopted: list[str] = []  # keys of live processes found at start (the reconciler records them)
        self.start_failed: dict[str, tuple[float, str]] = {}  # key -> (monotonic time, why)
        self.sync_rate_limit = 0  # bytes/s a rebuild may pull into one of its replicas (0: no cap)
        self.local_io = True  # False: engines get --no-local-io (engine/local_replica.py)
        self.adopt()
        # instances are forked by the node's launcher when it runs (see _launch)
        # (in the node's network namespace, if it has one: its children are born there)
        self.launcher = Launcher(directory / "logs" / "launcher.log", self._prefix()) if launcher else None

    def tend(self) -> None:
        """Notice a launcher that became ready or died (a dead one is restarted after a pause)."""
        if self.launcher is not None:
            self.launcher.tend()

    def close(self) -> None:
        """Stop the launcher (the instances keep running)."""
        if self.launcher is not None:
            self.launcher.close()

    # -- after a restart -------------------------------------------------------------

    def adopt(self) -> None:
        """Re-adopt live recorded processes, mark dead ones (pid 0), kill strays."""
        for key, inst in list(self.table.records.items()):
            if not process_matches(inst.pid, inst.args):
                inst.pid = find_process(inst.args)
            self.table.put(inst)  # a dead one stays (pid 0): the reconciler records it and restarts it
            if inst.pid:
                log.info("%s: adopted %s (pid %d)", self.node, key, inst.pid)
                self.adopted.append(key)
        known = {inst.pid for inst in self.table.records.values()}
        for pid in pronghorn_servers_under(self.directory):
            if pid not in known:
                log.warning("%s: killing stray server pid %d", self.node, pid)
                _kill_group(pid)

    # -- queries ---------------------------------------------------------------------

    def get(self, key: str) -> Instance | None:
        return self.table.records.get(key)

    def alive(self, key: str) -> bool:
        inst = self.table.records.get(key)
        if inst is None:
            return False
        child = self.children.get(inst.pid)
        if child is not None and child.poll() is not None:
            del self.children[inst.pid]  # reaped: no zombie left behind
            self.returncodes[inst.pid] = child.returncode
            return False
        return process_matches(inst.pid, inst.args)

    def exit_reason(self, key: str) -> Reason:
        """How the recorded process of ``key`` (no longer alive) ended."""
        inst = self.table.records.get(key)
        if inst is None:
            return failure_reasons.UNKNOWN
        child = self.children.pop(inst.pid, None)
        if child is not None and child.poll() is not None:
            self.returncodes[inst.pid] = child.returncode
        if inst.pid in self.returncodes:
            return failure_reasons.from_returncode(self.returncodes.pop(inst.pid))
        return failure_reasons.from_exit_file(self._exit_file(inst)) or failure_reasons.UNKNOWN

    def _log_file(self, inst: Instance, suffix: str) -> Path:
        """``logs/<key>.<suffix>``: its stderr (log), its ready line (ready), how it ended (exit)."""
        return self.directory / "logs" / f"{inst.key.replace('/', '_').replace(':', '_')}.{suffix}"

    def _exit_file(self, inst: Instance) -> Path:
        return self._log_file(inst, "exit")

    def keys(self) -> list[str]:
        return sorted(self.table.records)

    def hung(self, key: str) -> bool:
        """Whether a live replica that did not answer over the network is stuck, not cut off.

        Stuck: stopped (SIGSTOP), or silent on its own node too. On a node in a network
        namespace the network between can fail, so its data port is probed from inside
        the namespace; without one the failed probe already took the node-local path."""
        inst = self.table.records.get(key)
        if inst is None or not self.alive(key):
            return False
        if process_state(inst.pid) in ("T", "t"):
            return True
        if self.netns is None:
            return True
        return not self.netns.run(lambda: answers_data(inst.service))

    # -- starting --------------------------------------------------------------------

    def ensure_replica(self, volume: str, replica: str, data_dir: str, size: int) -> Instance:
        """The running replica process (started, or restarted on its old ports, if needed).

        An existing directory is opened at the size it holds (the caller expands it)."""
        key = replica_key(volume, replica)
        size = replica_size(data_dir) or size
        if self.alive(key):
            return self.table.records[key]
        old = self.table.records.get(key)
        ports = [int(old.control.rpartition(":")[2])] if old else []

        try:
            Path(data_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartFailed(f"{key}: cannot create {data_dir}: {exc.strerror}") from exc

        local = self._data_socket(volume, replica)

        def args(port: int) -> list[str]:
            limit = ["--sync-rate-limit", str(self.sync_rate_limit)] if self.sync_rate_limit else []
            return ["replica", "serve", "--dir", data_dir, "--size", str(size),
                    "--listen", f"{self.host}:{port}", "--data-listen", f"{self.host}:{port + 1}", *local, *limit]

        def record(port: int) -> Instance:
            return Instance(key, InstanceKind.REPLICA, volume, args(port), f"{self.host}:{port}",
                            f"{self.host}:{port + 1}")

        return self._start(record, ports, 2)

    def _data_socket(self, volume: str, replica: str) -> list[str]:
        """``--data-socket PATH`` for a replica an engine on this machine reaches over a unix socket
        (and then reads from directly: engine/local_replica.py); none in a network namespace, whose
        cut link must cut the data path too."""
        path = None if self.netns is not None else replica_data_socket(self.directory / "sockets", volume, replica)
        return ["--data-socket", str(path)] if path is not None else []

    def ensure_engine(self, volume: str, size: int, replicas: list[str]) -> Instance:
        """The running engine of ``volume`` on this node (started on ``replicas`` if needed)."""
        key = engine_key(volume)
        if self.alive(key):
            return self.table.records[key]
        old = self.table.records.get(key)
        ports = [int(old.control.rpartition(":")[2])] if old else []
        sock = str(self.directory / "sockets" / f"{volume}.nbd")

        def record(port: int) -> Instance:
            args = ["engine", "serve", "--volume", volume, "--size", str(size),
                    "--nbd", f"{self.host}:{port + 1}", "--listen", f"{self.host}:{port}", "--nbd-socket", sock]
            for address in replicas:
                args += ["--replica", f"tcp://{address}"]
            if not self.local_io:
                args.append("--no-local-io")
            if self.replica_timeout is not None:
                args += ["--replica-timeout", str(self.replica_timeout)]
            return Instance(key, InstanceKind.ENGINE, volume, args, f"{self.host}:{port}", f"{self.host}:{port + 1}")

        return self._start(record, ports, 2)

    def _start(self, record: Callable[[int], Instance], preferred: list[int], span: int) -> Instance:
        key = record(0).key
        failed = self.start_failed.get(key)
        if failed is not None and time.monotonic() - failed[0] < RESTART_BACKOFF_S:
            raise StartFailed(f"{self.node}: {key} failed to start recently: {failed[1]}")
        error: Exception | None = None
        for attempt in range(START_ATTEMPTS):
            port = preferred[0] if attempt == 0 and preferred else free_ports(self.host, span, self.netns)
            if port is None:
                raise StartFailed(f"no free ports on {self.host}")
            inst = record(port)
            try:
                return self._spawn(inst)
            except StartFailed as exc:
                error = exc
                log.warning("%s: %s did not start on port %d: %s", self.node, inst.key, port, exc)
        self.start_failed[key] = (time.monotonic(), str(error))
        raise StartFailed(f"{self.node}: cannot start: {error}")

    def _spawn(self, inst: Instance) -> Instance:
        ready_path = self._log_file(inst, "ready")
        log_path = self._log_file(inst, "log")
        ready_path.unlink(missing_ok=True)
        self._exit_file(inst).unlink(missing_ok=True)
        log.info("%s: spawning %s", self.node, inst.key)
        self.table.put(inst)  # BEFORE the spawn: a restarted manager can find it by its args
        try:
            with open(ready_path, "wb") as out, open(log_path, "ab") as err:
                inst.pid = self._launch(inst, out.fileno(), err.fileno())
        except OSError as exc:
            self.table.drop(inst.key)
            raise StartFailed(f"{inst.key}: cannot run {self.executable}: {exc}") from exc
        self.table.put(inst)  # AFTER: the pid
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            text = ready_path.read_text() if ready_path.exists() else ""
            if text.endswith("\n"):
                ready = json.loads(text.splitlines()[0])
                log.info("%s: started %s pid %d %s", self.node, inst.key, inst.pid, ready)
                return inst
            if not self.alive(inst.key):
                break
            time.sleep(READY_POLL_S)
        self.stop(inst.key)
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-5:])
        raise StartFailed(f"{inst.key} exited or was not ready: {tail}")

    def _prefix(self) -> list[str]:
        """What a process of this node is started through (entering its network namespace)."""
        return self.netns.launch_prefix if self.netns is not None else []

    def _launch(self, inst: Instance, stdout: int, stderr: int) -> int:
        """Start ``pronghorn ARGS`` of ``inst`` (new session, stdout/stderr to these files); its pid.

        Forked by the node's launcher when it is ready (no interpreter start, no imports),
        else a new process."""
        if self.launcher is not None:
            try:
                with open(os.devnull, "rb") as devnull:
                    return self.launcher.spawn([sys.executable, self.executable, *inst.args], inst.args,
                                               (devnull.fileno(), stdout, stderr), str(self._exit_file(inst)))
            except LauncherUnavailable as exc:
                log.info("%s: %s: %s starts as a new process", self.node, exc, inst.key)
        child = subprocess.Popen([*self._prefix(), self.executable, *inst.args], stdin=subprocess.DEVNULL,
                                 stdout=stdout, stderr=stderr, start_new_session=True, close_fds=True)
        self.children[child.pid] = child
        return child.pid

    # -- stopping --------------------------------------------------------------------

    def stop(self, key: str) -> None:
        """Stop a process (SIGTERM, then SIGKILL) and forget it, in that order."""
        inst = self.table.records.get(key)
        if inst is None:
            return
        if process_matches(inst.pid, inst.args):
            _kill_group(inst.pid, self.children.get(inst.pid))
        self.children.pop(inst.pid, None)
        self.returncodes.pop(inst.pid, None)
        self.table.drop(key)

    def stop_all(self) -> None:
        for key in self.keys():
            self.stop(key)


def _kill_group(pid: int, child: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM the process group led by ``pid``, SIGKILL it if it lingers; reap our children."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
            if sig == signal.SIGTERM:
                os.killpg(pid, signal.SIGCONT)  # a stopped (hung) process handles SIGTERM at once
        except ProcessLookupError:
            return
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            if child is not None:
                if child.poll() is not None:
                    return
            elif not Path(f"/proc/{pid}").exists() or _zombie(pid):
                return
            time.sleep(0.02)


def _zombie(pid: int) -> bool:
    return process_state(pid) in ("Z", "")
