"""bench/plain_engine.py, the benchmark's plain batching target, really replicates: what it acknowledges
every replica process holds, and what it reads back is what was written. Real replica
processes on unix sockets, real NBD over TCP."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.targets import plain
from tests.fixtures.nbd_client import NbdClient, NbdError

MiB = 1 << 20


def test_the_plain_engine_writes_every_replica_and_reads_back(tmp_path: Path) -> None:
    size = 8 * MiB
    target = plain(tmp_path, size, 3)
    rng = random.Random(7)
    model = bytearray(size)
    try:
        with NbdClient(target.uri) as nbd:
            writes = []
            for _ in range(200):
                offset = rng.randrange(0, size // 4096 - 16) * 4096
                data = rng.randbytes(4096 * rng.randint(1, 16))
                writes.append((offset, data))
                model[offset : offset + len(data)] = data
            for i in range(0, len(writes), 25):  # several requests per receive: batches
                nbd.write_batch(writes[i : i + 25])
            nbd.flush()
            assert nbd.read(0, size) == bytes(model)
            with pytest.raises(NbdError):
                nbd.read(size - 4096, 8192)  # past the end: an error, and the connection lives on
            assert nbd.read(0, 4096) == bytes(model[:4096])
    finally:
        target.stop()
    for i in range(3):
        assert (tmp_path / "plain3" / f"replica-{i}" / "volume-head-000.img").read_bytes() == bytes(model), i
