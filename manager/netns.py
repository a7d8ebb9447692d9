"""``NetworkNamespace``: a node of the local cluster that lives in its own network namespace.

The namespace is made by the operator (``ip netns add NAME``, a veth pair, an
address); Pronghorn only uses it. The node's replica and engine processes are
started through ``ip netns exec NAME`` (``launch_prefix``), which enters the
namespace and then execs the server, so the recorded pid and command line are the
server's own. ``run`` calls a function in a short-lived thread that has joined the
namespace (``setns`` moves one thread only), for what the manager must do "on the
node": find free ports, probe a replica without crossing the network between.
``address`` is the namespace's first global IPv4 address. Used by
``manager.supervisor``, ``manager.local_cluster`` and ``manager.cli``.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

NETNS_DIR = Path("/var/run/netns")  # where `ip netns add` mounts named namespaces
CLONE_NEWNET = 0x40000000
IP = "ip"

T = TypeVar("T")


class NamespaceError(RuntimeError):
    """The namespace does not exist, cannot be entered or has no address."""


def _setns(fd: int) -> None:
    """Move the calling thread into the network namespace open on ``fd``."""
    setns = getattr(os, "setns", None)  # Python 3.12+
    if setns is not None:
        setns(fd, CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


@dataclass(frozen=True)
class NetworkNamespace:
    name: str

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    def check(self) -> None:
        if "/" in self.name or self.name in ("", ".", "..") or not self.path.exists():
            raise NamespaceError(f"no network namespace {self.name!r} (create it with 'ip netns add {self.name}')")

    @property
    def launch_prefix(self) -> list[str]:
        return [IP, "netns", "exec", self.name]

    def run(self, call: Callable[[], T]) -> T:
        """``call()`` run by a thread inside the namespace; its result or its exception."""
        outcome: list[T] = []
        failure: list[BaseException] = []

        def inside() -> None:
            try:
                fd = os.open(self.path, os.O_RDONLY)
                try:
                    _setns(fd)
                finally:
                    os.close(fd)
                outcome.append(call())
            except BaseException as exc:  # handed to the caller's thread
                failure.append(exc)

        thread = threading.Thread(target=inside, name=f"netns-{self.name}", daemon=True)
        thread.start()
        thread.join()
        if failure:
            raise failure[0]
        return outcome[0]

    def address(self) -> str:
        """The namespace's first global IPv4 address (what its node listens on)."""
        self.check()
        try:
            shown = subprocess.run([IP, "-n", self.name, "-4", "-o", "addr", "show", "scope", "global"],
                                   capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NamespaceError(f"cannot list the addresses of network namespace {self.name!r}: {exc}") from exc
        for line in shown.stdout.splitlines():
            fields = line.split()
            if "inet" in fields:
                return fields[fields.index("inet") + 1].split("/")[0]
        raise NamespaceError(f"network namespace {self.name!r} has no IPv4 address "
                             f"({shown.stderr.strip() or 'add one with ip -n NAME addr add'})")
