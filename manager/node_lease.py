"""Node leases: at most one manager per node per event store, and that manager's heartbeat.

``node_leases(url, holder)`` picks the kind for a store URL:

- SQLite: a lock file per node beside the store (``events.sqlite.leases/node1.lock``), held
  with ``flock`` for the manager's life (the kernel frees it when the process dies). The
  file names its holder (JSON: pid, host, home); its mtime is the heartbeat.
- PostgreSQL: a session-level advisory lock per node (``pg_try_advisory_lock(CLASS,
  hashtext(node))``) on the lease's own connection, plus one row per node in
  ``pronghorn_node_leases`` (holder, ``renewed_at`` = the heartbeat). ``pg_locks`` tells
  whether some session still holds a node's lock.
- memory: nothing is shared, so nothing to lock.

The heartbeat lives outside the event log; ``manager.node_presence`` turns what it sees
into Ready / NotReady events only when that changes. Used by ``manager.cli`` (acquire,
refuse a second manager with exit 4), ``manager.node_presence`` and ``pronghorn demo``
(refuse a store a manager is using).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Protocol

from domain import validation
from domain.store import StoreKind, parse_store_url

PROBE_RETRIES = 10  # a leader's presence probe holds a SQLite lease file for microseconds
LOCK_CLASS = 0x7068  # first key of the two-key advisory locks ("ph"); the second is hashtext(node)


@dataclass(frozen=True)
class Holder:
    """The manager process holding a node's lease."""

    pid: int
    host: str
    home: str

    @classmethod
    def this_process(cls, home: Path | str) -> Holder:
        return cls(os.getpid(), socket.gethostname(), str(home))

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            data = json.loads(text)
            return cls(int(data["pid"]), str(data["host"]), str(data["home"]))
        except (ValueError, TypeError, KeyError):
            return None

    def dump(self) -> str:
        return json.dumps(asdict(self))

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}, home {self.home}"


class LeaseHeld(Exception):
    """Another live manager holds the node's lease (exit code 4 at the CLI)."""

    def __init__(self, node: str, holder: Holder | None) -> None:
        self.node = node
        self.holder = holder
        who = holder.describe() if holder else "holder unknown"
        super().__init__(f"node {node} is already run by another manager ({who}); stop it first")


@dataclass(frozen=True)
class Presence:
    """What the store shows of a node's manager."""

    held: bool  # some live process holds the node's lease
    age: float | None  # seconds since the lease's last heartbeat (None: never renewed)
    holder: Holder | None


class NodeLeases(Protocol):
    def acquire(self, nodes: list[str]) -> None: ...  # raises LeaseHeld; holds all or none
    def renew(self) -> None: ...  # the heartbeat; raises LeaseHeld when a lease was lost
    def presence(self, node: str) -> Presence: ...
    def holders(self) -> dict[str, Holder | None]: ...  # every node whose lease a live manager holds
    def depose_silent_leader(self, timeout: float) -> str: ...  # the node whose hung leader was deposed
    def release(self) -> None: ...


def node_leases(url: str | None, holder: Holder) -> NodeLeases:
    location = parse_store_url(url)
    if location.kind is StoreKind.SQLITE:
        return FileLeases(Path(location.env["SQLITE_DBNAME"]), holder)
    if location.kind is StoreKind.POSTGRESQL:
        from manager.node_lease_postgres import PostgresLeases

        return PostgresLeases(location.env, holder)
    return MemoryLeases()


class MemoryLeases:
    """An in-memory store is this process's alone."""

    def __init__(self) -> None:
        self.nodes: set[str] = set()

    def acquire(self, nodes: list[str]) -> None:
        self.nodes.update(nodes)

    def renew(self) -> None:
        pass

    def presence(self, node: str) -> Presence:
        return Presence(node in self.nodes, 0.0 if node in self.nodes else None, None)

    def holders(self) -> dict[str, Holder | None]:
        return dict.fromkeys(self.nodes)

    def depose_silent_leader(self, timeout: float) -> str:
        return ""  # one process: it always leads

    def release(self) -> None:
        self.nodes.clear()


class FileLeases:
    """Lock files beside a SQLite store (see the module docstring)."""

    def __init__(self, store: Path, holder: Holder) -> None:
        self.directory = store.parent / f"{store.name}.leases"
        self.holder = holder
        self.held: dict[str, IO[bytes]] = {}

    def path(self, node: str) -> Path:
        return self.directory / f"{validation.name('node name', node)}.lock"

    def acquire(self, nodes: list[str]) -> None:
        self.directory.mkdir(exist_ok=True)
        try:
            for node in nodes:
                self._acquire(node)
        except BaseException:
            self.release()
            raise

    def _acquire(self, node: str) -> None:
        handle = open(self.path(node), "a+b")  # noqa: SIM115 - held until release()
        for _ in range(PROBE_RETRIES):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(0.02)
        else:
            handle.seek(0)
            holder = Holder.parse(handle.read().decode(errors="replace"))
            handle.close()
            raise LeaseHeld(node, holder)
        handle.truncate(0)
        handle.write(self.holder.dump().encode())
        handle.flush()
        self.held[node] = handle

    def renew(self) -> None:
        for handle in self.held.values():
            os.utime(handle.fileno())

    def presence(self, node: str) -> Presence:
        try:
            with open(self.path(node), "rb") as handle:
                age = time.time() - os.fstat(handle.fileno()).st_mtime
                holder = Holder.parse(handle.read().decode(errors="replace"))
                try:
                    fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    return Presence(True, age, holder)
                return Presence(False, age, holder)  # closing the file drops the probe's lock
        except FileNotFoundError:
            return Presence(False, None, None)

    def holders(self) -> dict[str, Holder | None]:
        found = {}
        for path in sorted(self.directory.glob("*.lock")):
            presence = self.presence(path.stem)
            if presence.held:
                found[path.stem] = presence.holder
        return found

    def depose_silent_leader(self, timeout: float) -> str:
        return ""  # on SQLite every manager leads its own way (manager.leadership)

    def release(self) -> None:
        for handle in self.held.values():
            handle.close()
        self.held.clear()
