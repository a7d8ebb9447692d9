"""Any well-framed request gets an answer and never drops the connection (hypothesis).

Drives an in-process DataServer over a real TCP socket with random ops, offsets
(inside, at and past the end), lengths (0 to past MAX_IO) and flags, checking
each status is 0 or EINVAL as it should be, and that reads return the bytes of
a bytearray model.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from replica.chain import SparseFileChain
from replica.data_client import DataClient
from replica.data_server import DataServer
from replica.wire import MAX_IO, Flag, Op

SIZE = 64 * 4096

requests = st.lists(
    st.tuples(
        st.sampled_from([Op.READ, Op.WRITE, Op.UNMAP, Op.FLUSH, Op.PING]),
        st.one_of(st.integers(0, SIZE), st.sampled_from([0, SIZE - 4096, SIZE - 1, SIZE, SIZE + 4096, 2**63])),
        st.one_of(st.integers(0, 3 * 4096 + 5), st.sampled_from([0, MAX_IO + 1, SIZE])),
        st.sampled_from([0, Flag.FUA, Flag.ZERO, Flag.FUA | Flag.ZERO, 0xF0]),
        st.integers(1, 255),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(requests)
def test_every_request_is_answered_and_reads_match_the_model(batch: list[tuple[Op, int, int, int, int]]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="replica-requests-"))
    chain = SparseFileChain.create(tmp / "r", SIZE)
    server = DataServer(chain, ("127.0.0.1", 0), None)
    server.start()
    model = bytearray(SIZE)
    try:
        with DataClient(server.tcp_address or "") as client:
            for op, offset, length, flags, fill in batch:
                payload = bytes([fill]) * length if op == Op.WRITE and length <= MAX_IO else b""
                if op == Op.WRITE and length > MAX_IO:
                    continue  # an oversized WRITE cannot be framed: the server closes (tested elsewhere)
                response = client.wait(client.send(op, offset, length, flags, payload))
                in_range = offset + length <= SIZE and length <= MAX_IO
                if op in (Op.FLUSH, Op.PING):
                    assert response.status == 0
                    continue
                assert response.status == (0 if in_range else errno.EINVAL), (op, offset, length)
                if not in_range:
                    continue
                if op == Op.WRITE:
                    model[offset : offset + length] = payload
                elif op == Op.READ:
                    assert response.data == bytes(model[offset : offset + length])
                elif flags & Flag.ZERO:
                    model[offset : offset + length] = bytes(length)
                else:  # advisory: learn what the replica chose (zeros or unchanged, per the chain tests)
                    model[offset : offset + length] = client.read(offset, length) if length else b""
            client.ping()
    finally:
        server.stop()
        chain.close()
        shutil.rmtree(tmp, ignore_errors=True)
