"""Instance records of one node: what the supervisor started, kept in a state file.

An ``Instance`` is one ``pronghorn replica serve`` or ``pronghorn engine serve``
process: its key (``replica:VOL/NAME`` or ``engine:VOL``), full argument list,
addresses and pid. ``InstanceTable`` loads and saves them as JSON in
``<node dir>/instances.json``, written atomically (temp file, fsync, rename, fsync
of the directory) so a manager killed at any moment leaves either the old or the
new table. ``process_matches`` tells whether a pid still runs exactly those
arguments (``/proc/PID/cmdline``), so a recycled pid is never mistaken for ours.
Used by ``manager.supervisor``.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path


class InstanceKind(StrEnum):
    REPLICA = "replica"
    ENGINE = "engine"


@dataclass
class Instance:
    key: str
    kind: InstanceKind
    volume: str
    args: list[str]  # everything after the executable
    control: str  # gRPC control host:port
    service: str  # replica data host:port, or engine NBD host:port
    pid: int = 0  # 0: recorded before spawning, pid not known yet
    extra: dict[str, str] = field(default_factory=dict)


def replica_key(volume: str, replica: str) -> str:
    return f"replica:{volume}/{replica}"


def engine_key(volume: str) -> str:
    return f"engine:{volume}"


class InstanceTable:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()  # replicas of one node may be started in parallel
        self.records: dict[str, Instance] = {}
        if path.exists():
            for key, raw in json.loads(path.read_text()).items():
                self.records[key] = Instance(**{**raw, "kind": InstanceKind(raw["kind"])})

    def save(self) -> None:
        with self.lock:
            self._write()

    def _write(self) -> None:
        data = {key: asdict(inst) for key, inst in sorted(self.records.items())}
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def put(self, instance: Instance) -> None:
        with self.lock:
            self.records[instance.key] = instance
            self._write()

    def drop(self, key: str) -> None:
        with self.lock:
            if self.records.pop(key, None) is not None:
                self._write()


def cmdline(pid: int) -> list[str]:
    """The arguments of a live process ([] if gone or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1] if raw else []


def process_matches(pid: int, args: list[str]) -> bool:
    """Whether ``pid`` runs a command line ending with ``args`` (our instance, not a reused pid)."""
    if pid <= 0:
        return False
    line = cmdline(pid)
    return len(line) > len(args) and line[-len(args):] == args


def process_state(pid: int) -> str:
    """The state letter of ``/proc/PID/stat`` (R, S, D, T stopped, Z zombie...; "" if gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def find_process(args: list[str]) -> int:
    """A live process running ``args`` (0 if none): finds a child spawned before its pid was recorded."""
    for pid in all_pids():
        if process_matches(pid, args):
            return pid
    return 0


def pronghorn_servers_under(directory: Path) -> list[int]:
    """Pids of ``pronghorn replica|engine serve`` processes naming a path under ``directory``."""
    marker = str(directory).rstrip("/") + "/"
    found = []
    for pid in all_pids():
        line = cmdline(pid)
        text = " ".join(line)
        if any(a in ("replica", "engine") for a in line) and "serve" in line and marker in text:
            found.append(pid)
    return found
