"""A replicated volume against a bytearray model (hypothesis state machine, real processes).

Three real replicas and a real engine; a small raw NBD client sends batches of
non-overlapping (often unaligned) writes, write-zeroes, reads and flushes,
while replicas are killed and rebuilt and snapshots are taken. Every read is
compared with the model, and every RW replica's bytes (read through its own
data server) must equal the model whenever checked.
"""

from __future__ import annotations

import shutil
import socket
import struct
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from engine.nbd.protocol import (
    IHAVEOPT,
    OPTION_HEADER,
    OPTION_REPLY,
    REQUEST,
    REQUEST_MAGIC,
    SIMPLE_REPLY,
    Command,
    Option,
    Reply,
)
from replica.client import DataClient
from tests.fixtures.engines import EngineProcess, start_engine
from tests.fixtures.replicas import ReplicaProcess, start_replica

SIZE = 64 * 4096
WRITE_ZEROES_NO_HOLE = 2


class NbdConnection:
    """Just enough NBD client: GO, then pipelined simple requests."""

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self._recv(18)
        self.sock.sendall(struct.pack(">I", 3))
        self.sock.sendall(OPTION_HEADER.pack(IHAVEOPT, Option.GO, 6) + struct.pack(">IH", 0, 0))
        while True:
            _, _, kind, length = OPTION_REPLY.unpack(self._recv(OPTION_REPLY.size))
            self._recv(length)
            if kind == Reply.ACK:
                break
            assert kind == Reply.INFO
        self.handle = 0

    def _recv(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            assert chunk, "engine closed the connection"
            data += chunk
        return data

    def batch(self, requests: list[tuple[int, int, int, int, bytes]]) -> list[tuple[int, bytes]]:
        """Send (command, flags, offset, length, payload) requests at once; replies in request order."""
        out = bytearray()
        handles = {}
        for i, (command, flags, offset, length, payload) in enumerate(requests):
            self.handle += 1
            handles[self.handle] = i
            out += REQUEST.pack(REQUEST_MAGIC, flags, command, self.handle, offset, length) + payload
        self.sock.sendall(out)
        results: list[tuple[int, bytes]] = [(0, b"")] * len(requests)
        for _ in requests:
            _, error, handle = SIMPLE_REPLY.unpack(self._recv(SIMPLE_REPLY.size))
            i = handles[handle]
            command, _, _, length, _ = requests[i]
            data = self._recv(length) if command == Command.READ and not error else b""
            results[i] = (error, data)
        return results

    def close(self) -> None:
        self.sock.close()


ranges = st.tuples(st.integers(0, SIZE - 1), st.integers(1, 3 * 4096)).map(
    lambda r: (r[0], min(r[1], SIZE - r[0])))


class ReplicatedVolumeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="volume-machine-"))
        self.replicas: list[ReplicaProcess] = []
        self.engine: EngineProcess | None = None
        self.replicas = [start_replica(self.tmp, SIZE, f"r{i}", data_socket=True) for i in range(3)]
        self.engine = start_engine("vol", SIZE, [r.control for r in self.replicas], self.tmp)
        self.nbd = NbdConnection(self.engine.nbd)
        self.model = bytearray(SIZE)
        self.dead: set[int] = set()
        self.snapshots = 0

    def teardown(self) -> None:
        self.nbd.close()
        if self.engine is not None:
            self.engine.cleanup()
        for replica in self.replicas:
            replica.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @rule(writes=st.lists(st.tuples(ranges, st.integers(1, 255)), min_size=1, max_size=6))
    def write_batch(self, writes: list[tuple[tuple[int, int], int]]) -> None:
        taken: list[tuple[int, int]] = []
        requests = []
        for (offset, length), byte in writes:  # in-flight writes must not overlap
            if any(offset < end and start < offset + length for start, end in taken):
                continue
            taken.append((offset, offset + length))
            requests.append((Command.WRITE, 0, offset, length, bytes([byte]) * length))
            self.model[offset : offset + length] = bytes([byte]) * length
        assert [e for e, _ in self.nbd.batch(requests)] == [0] * len(requests)

    @rule(span=ranges, no_hole=st.booleans())
    def write_zeroes(self, span: tuple[int, int], no_hole: bool) -> None:
        offset, length = span
        flags = WRITE_ZEROES_NO_HOLE if no_hole else 0
        assert self.nbd.batch([(Command.WRITE_ZEROES, flags, offset, length, b"")]) == [(0, b"")]
        self.model[offset : offset + length] = bytes(length)

    @rule(spans=st.lists(ranges, min_size=1, max_size=4))
    def read(self, spans: list[tuple[int, int]]) -> None:
        results = self.nbd.batch([(Command.READ, 0, o, n, b"") for o, n in spans])
        for (offset, length), (error, data) in zip(spans, results, strict=True):
            assert error == 0 and data == self.model[offset : offset + length]

    @rule()
    def flush(self) -> None:
        assert self.nbd.batch([(Command.FLUSH, 0, 0, 0, b"")]) == [(0, b"")]

    @precondition(lambda self: not self.dead)
    @rule(index=st.integers(0, 2))
    def kill_replica(self, index: int) -> None:
        self.replicas[index].kill()
        self.dead.add(index)

    @precondition(lambda self: bool(self.dead))
    @rule()
    def rebuild(self) -> None:
        index = self.dead.pop()
        replica = self.replicas[index]
        self.flush()  # the engine notices the dead replica at its next I/O
        replica.start(listen=replica.control, data_listen=replica.data)
        assert self.engine is not None
        with self.engine.client() as client:
            assert client.add_replica(replica.control).mode == "RW"

    @precondition(lambda self: not self.dead and self.snapshots < 3)
    @rule()
    def snapshot(self) -> None:
        assert self.engine is not None
        self.snapshots += 1
        with self.engine.client() as client:
            client.snapshot(f"s{self.snapshots}")

    @rule()
    def replicas_agree_with_the_model(self) -> None:
        assert self.engine is not None
        with self.engine.client() as client:
            rw = {r.address for r in client.status().replicas if r.mode == "RW"}
        assert rw
        for index, replica in enumerate(self.replicas):
            if replica.control in rw and index not in self.dead:  # a dead one turns ERR at the next I/O
                with DataClient(replica.data) as data:
                    assert data.read(0, SIZE) == self.model, f"replica {replica.control} differs"


ReplicatedVolumeMachine.TestCase.settings = settings(
    max_examples=5, stateful_step_count=15, deadline=None, derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: every replay restarts real processes
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestReplicatedVolume = ReplicatedVolumeMachine.TestCase
