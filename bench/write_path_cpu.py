"""Python CPU per 4k WRITE on the data plane, in process: load-independent A/B of code changes.

Usage: python bench/write_path_cpu.py [--side engine|replica] [--batch 8] [--batches 20000] [--replicas 3]

Run from a source tree's root (that tree's code is measured). ``engine``: the
NBD transmission loop, the replicator and the replica links serve
``--batches`` batches of ``--batch`` aligned 4k WRITEs from an in-memory
client to in-memory replica sockets that answer every request (no syscalls);
the cost of those fakes, measured alone, is subtracted. ``replica``: the
replica's data server and a real chain (in /dev/shm when present) serve the
same batches from an in-memory connection, so its user time includes the
pwrite system calls' user side. Prints microseconds of CPU per WRITE;
interleave runs of two trees (``cd TREE && python .../write_path_cpu.py``)
and compare the medians. Asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path.cwd()
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.nbd import transmission  # noqa: E402
from engine.nbd.protocol import REQUEST as NBD_REQUEST  # noqa: E402
from engine.nbd.protocol import REQUEST_MAGIC, Command  # noqa: E402
from replica.wire import MAGIC, REQUEST, RESPONSE, Op  # noqa: E402

EXIT_OK, EXIT_USAGE = 0, 2
BLOCK = bytes(4096)


class Client:
    """An NBD client that sends the same batch ``left`` times, then disconnects."""

    def __init__(self, batch: bytes, left: int) -> None:
        self.batch, self.left = batch, left

    def recv_into(self, view: memoryview, *_: object) -> int:
        if not self.left:
            return 0
        self.left -= 1
        view[: len(self.batch)] = self.batch
        return len(self.batch)

    def sendmsg(self, parts: list, *_: object) -> int:
        return sum(map(len, parts))

    def sendall(self, data: bytes) -> None:
        pass

    def send(self, data: bytes, *_: object) -> int:
        return len(data)


class ReplicaSocket:
    """A replica data socket that acknowledges every request of each send, in order (as over TCP:
    no file share, so every write goes through it)."""

    family = socket.AF_INET

    def __init__(self, per_send: int) -> None:
        self.per_send, self.seq, self.out = per_send, 1, b""

    def sendmsg(self, parts: list, *_: object) -> int:  # acks queue up: the engine may send twice before reading
        self.out += b"".join([RESPONSE.pack(MAGIC, 0, 0, s) for s in range(self.seq, self.seq + self.per_send)])
        self.seq += self.per_send
        return sum(map(len, parts))

    def recv_into(self, view: memoryview, *_: object) -> int:
        n = len(self.out)
        view[:n] = self.out
        self.out = b""
        return n

    def close(self) -> None:
        pass


def engine_side(batch: int, batches: int, replicas: int) -> float:
    from engine import replica_link
    from engine.replicas import Mode, Replica, ReplicaSet
    from engine.volume import Volume

    requests = b"".join(
        NBD_REQUEST.pack(REQUEST_MAGIC, 0, Command.WRITE, i, (i * 7919 % 60000) * 4096, 4096) + BLOCK
        for i in range(batch)
    )
    replica_link.connect_data = lambda address, timeout: ReplicaSocket(batch)  # type: ignore[assignment]
    members = [Replica(f"c{i}", f"unix:/nowhere/{i}", Mode.RW) for i in range(replicas)]
    volume = Volume("bench", 1 << 30, ReplicaSet(members))
    began = time.process_time()
    transmission.serve_transmission(Client(requests, batches), volume)  # type: ignore[arg-type]
    spent = time.process_time() - began
    fake, view, parts = ReplicaSocket(batch), memoryview(bytearray(1 << 20)), [bytes(24), BLOCK] * batch
    began = time.process_time()
    for _ in range(batches):
        for _ in range(replicas):
            fake.sendmsg(parts)
            fake.recv_into(view)
        Client(requests, 1).recv_into(view)
    spent -= time.process_time() - began
    return spent / (batch * batches) * 1e6


def replica_side(batch: int, batches: int) -> float:
    from replica import data_server
    from replica.chain import SparseFileChain

    sectors = 16000
    rounds = [
        b"".join(
            REQUEST.pack(MAGIC, Op.WRITE, 0, 4096, j * batch + i, ((j * batch + i) * 7919 % sectors) * 4096) + BLOCK
            for i in range(batch)
        )
        for j in range(64)
    ]

    class Connection(Client):
        def recv_into(self, view: memoryview, *_: object) -> int:
            self.batch = rounds[self.left % len(rounds)]
            return super().recv_into(view)

    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        chain = SparseFileChain.create(Path(tmp) / "replica", sectors * 4096)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_utime
        data_server.serve_connection(Connection(b"", batches), chain)  # type: ignore[arg-type]
        spent = resource.getrusage(resource.RUSAGE_SELF).ru_utime - before
        chain.close()
    return spent / (batch * batches) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="write_path_cpu.py", description=__doc__.split("\n")[0])
    parser.add_argument("--side", choices=["engine", "replica"], default="engine")
    parser.add_argument("--batch", type=int, default=8, help="WRITEs per batch (default 8)")
    parser.add_argument("--batches", type=int, default=20000, help="batches to serve (default 20000)")
    parser.add_argument("--replicas", type=int, default=3, help="engine side: replicas (default 3)")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.batches < 1 or args.replicas < 1:
        parser.error("--batch, --batches and --replicas must be at least 1")
    if args.side == "engine":
        cost = engine_side(args.batch, args.batches, args.replicas)
        print(f"engine, {args.replicas} replicas, {args.batch} WRITEs/batch: {cost:.2f} us CPU per WRITE")
    else:
        cost = replica_side(args.batch, args.batches)
        print(f"replica data server, {args.batch} WRITEs/batch: {cost:.2f} us user CPU per WRITE")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
