"""NBD targets the benchmarks measure: the `nbdkit file` reference, Pronghorn engines, a plain batching server.

Each target owns its processes; `stop()` ends them. Used by bench/fio_nbd.py.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.fixtures.engines import start_engine
from tests.fixtures.nbdkit import start_nbdkit
from tests.fixtures.replicas import start_replica

REFERENCE = "nbdkit-file"


@dataclass
class Target:
    name: str
    uri: str
    pids: dict[str, int]  # role -> pid, for profilers (py-spy top --pid)
    stop: Callable[[], None] = field(repr=False)


def parse_size(text: str) -> int:
    """Bytes in a size such as 512M, 1G, 4k or 65536 (binary units, as fio reads them)."""
    units = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    number, unit = text.rstrip("bBiI"), ""
    if number and number[-1].lower() in units:
        number, unit = number[:-1], number[-1].lower()
    try:
        return int(number) * units[unit]
    except ValueError:
        raise ValueError(f"not a size: {text!r} (use e.g. 256M, 1G)") from None


def nbdkit_file(workdir: Path, size: int) -> Target:
    """The reference: nbdkit serving a sparse file on the same filesystem the replicas use."""
    image = workdir / "reference.img"
    with open(image, "wb") as f:
        f.truncate(size)
    server = start_nbdkit("file", str(image), workdir=workdir / "nbdkit")
    return Target(REFERENCE, server.uri, {"nbdkit": server.pid}, server.stop)


def engine(workdir: Path, size: int, replicas: int) -> Target:
    """An engine on ``replicas`` replica processes (unix data sockets), started by the test fixture modules."""
    home = workdir / f"engine{replicas}"
    stack = contextlib.ExitStack()
    try:
        started = []
        for i in range(replicas):
            started.append(start_replica(home, size, f"replica-{i}", data_socket=True))
            stack.callback(started[-1].cleanup)
        process = start_engine("bench", size, [r.control for r in started], home)
        stack.callback(process.cleanup)
    except BaseException:
        stack.close()
        raise
    pids = {"engine": process.pid} | {f"replica{i}": r.pid for i, r in enumerate(started)}
    return Target(f"engine+{replicas}r", process.uri, pids, stack.close)


def plain(workdir: Path, size: int, replicas: int) -> Target:
    """bench/plain_engine.py on ``replicas`` replica processes (unix data sockets): plain batching, no engine speed-ups."""
    home = workdir / f"plain{replicas}"
    stack = contextlib.ExitStack()
    try:
        sockets, pids = [], {}
        for i in range(replicas):
            started = start_replica(home, size, f"replica-{i}", data_socket=True)
            stack.callback(started.cleanup)
            sockets.append(f"unix:{started.data_socket}")
            pids[f"replica{i}"] = started.pid
        log = open(home / "plain.log", "ab")  # noqa: SIM115 - closed by the stack
        stack.callback(log.close)
        args = [sys.executable, str(Path(__file__).with_name("plain_engine.py")), "--size", str(size)]
        process = subprocess.Popen([*args, *(f"--replica={s}" for s in sockets)], stdout=subprocess.PIPE, stderr=log)
        stack.callback(_end, process)
        uri = process.stdout.readline().decode().strip() if process.stdout else ""
        if not uri.startswith("nbd://"):
            raise RuntimeError(f"bench/plain_engine.py did not start: see {home / 'plain.log'}")
    except BaseException:
        stack.close()
        raise
    return Target(f"plain+{replicas}r", uri, {"plain": process.pid} | pids, stack.close)


def _end(process: subprocess.Popen) -> None:
    process.kill()
    process.wait()


TARGET_MAKERS: dict[str, Callable[[Path, int], Target]] = {
    REFERENCE: nbdkit_file,
    "engine1": lambda workdir, size: engine(workdir, size, 1),
    "engine3": lambda workdir, size: engine(workdir, size, 3),
    "plain3": lambda workdir, size: plain(workdir, size, 3),
}
DEFAULT_TARGETS = (REFERENCE, "engine1", "engine3")


@contextlib.contextmanager
def running(names: list[str], workdir: Path, size: int) -> Iterator[list[Target]]:
    """Start every named target (reference first); stop them all on the way out, whatever happened."""
    with contextlib.ExitStack() as stack:
        started = []
        for name in names:
            target = TARGET_MAKERS[name](workdir, size)
            stack.callback(target.stop)
            started.append(target)
        yield started
