"""The replica's data server over real sockets, against a real replica process."""
# ruff: noqa: F811  (pytest fixtures imported from tests/fixtures/replicas.py)

from __future__ import annotations

import errno
import os
import socket
import subprocess
import threading

import pytest

from replica.client import DataClient, DataError, DataProtocolError
from replica.wire import MAX_IO, REQUEST, Op, pack_request
from tests.conftest import PRONGHORN
from tests.fixtures.replicas import ReplicaProcess, replica, replica_factory  # noqa: F401

MiB = 1 << 20


def test_write_read_roundtrip_tcp_and_unix(replica: ReplicaProcess) -> None:
    data = os.urandom(MiB)
    with DataClient(replica.data) as tcp, replica.data_client(unix=True) as unix:
        tcp.write(3 * MiB, data)
        assert unix.read(3 * MiB, MiB) == data
        assert tcp.read(0, 4096) == bytes(4096)  # never written: zeros


def test_pipelined_batch_answers_every_seq(replica: ReplicaProcess) -> None:
    blocks = {i: os.urandom(4096) for i in range(64)}
    with DataClient(replica.data) as client:
        # all writes and reads in ONE send: the server parses them as a batch
        batch = b"".join(pack_request(Op.WRITE, 1000 + i, i * 8192, 4096) + blocks[i] for i in blocks)
        batch += b"".join(pack_request(Op.READ, 2000 + i, i * 8192, 4096) for i in blocks)
        for i in blocks:
            client._pending[1000 + i] = Op.WRITE
            client._pending[2000 + i] = Op.READ
        client.send_raw(batch)
        answers = {}
        for _ in range(2 * len(blocks)):
            response = client.receive()
            answers[response.seq] = response
        assert sorted(answers) == sorted([1000 + i for i in blocks] + [2000 + i for i in blocks])
        assert all(a.status == 0 for a in answers.values())
        assert all(answers[2000 + i].data == blocks[i] for i in blocks)


def test_responses_matched_by_seq_not_order(replica: ReplicaProcess) -> None:
    with DataClient(replica.data) as client:
        seqs = [client.send(Op.WRITE, i * 4096, payload=bytes([i]) * 4096) for i in range(1, 20)]
        reads = [client.send(Op.READ, i * 4096, 4096) for i in range(1, 20)]
        for i, seq in reversed(list(enumerate(reads, start=1))):  # wait in reverse order
            assert client.wait(seq).data == bytes([i]) * 4096
        assert all(client.wait(seq).status == 0 for seq in seqs)


def test_out_of_range_is_einval_and_writes_nothing(replica: ReplicaProcess) -> None:
    with DataClient(replica.data) as client:
        end = replica.size
        with pytest.raises(DataError) as info:
            client.write(end - 4096, bytes(8192))
        assert info.value.errno == errno.EINVAL
        with pytest.raises(DataError) as info:
            client.read(end, 4096)
        assert info.value.errno == errno.EINVAL
        with pytest.raises(DataError) as info:
            client.unmap(end - 4096, 8192)
        assert info.value.errno == errno.EINVAL
        assert client.read(end - 4096, 4096) == bytes(4096)
        client.ping()  # the connection is still usable


def test_bad_magic_closes_only_that_connection(replica: ReplicaProcess) -> None:
    with DataClient(replica.data) as good, DataClient(replica.data) as bad:
        good.write(0, b"g" * 4096)
        bad.send_raw(REQUEST.pack(0xBEEF, Op.READ, 0, 4096, 1, 0))
        bad._pending[1] = Op.READ
        with pytest.raises((DataProtocolError, ConnectionResetError)):
            bad.receive()
        assert good.read(0, 4096) == b"g" * 4096


def test_unknown_op_closes_connection(replica: ReplicaProcess) -> None:
    with DataClient(replica.data) as bad:
        bad.send_raw(pack_request(99, 7))  # type: ignore[arg-type]
        bad._pending[7] = Op.READ
        with pytest.raises((DataProtocolError, ConnectionResetError)):
            bad.receive()
    with DataClient(replica.data) as again:
        again.ping()


def test_large_io_and_oversized_read(replica: ReplicaProcess) -> None:
    data = os.urandom(MAX_IO)
    with DataClient(replica.data) as client:
        client.write(0, data)
        assert client.read(0, MAX_IO) == data
        with pytest.raises(DataError) as info:
            client.read(0, MAX_IO + 4096)
        assert info.value.errno == errno.EINVAL


def test_unaligned_write_read_modify_write(replica: ReplicaProcess) -> None:
    with DataClient(replica.data) as client:
        client.write(0, b"A" * 12288)
        client.write(100, b"B" * 5000, fua=True)
        expected = b"A" * 100 + b"B" * 5000 + b"A" * (12288 - 5100)
        assert client.read(0, 12288) == expected
        assert client.read(101, 7) == b"B" * 7


def test_unmap_zero_and_trim(replica: ReplicaProcess) -> None:
    with DataClient(replica.data) as client:
        client.write(0, b"x" * 65536)
        client.unmap(4096, 8192, zero=True)
        assert client.read(0, 16384) == b"x" * 4096 + bytes(8192) + b"x" * 4096
        client.unmap(0, 65536)  # advisory, but no older layer: the head is punched
        assert client.read(0, 65536) == bytes(65536)
        client.unmap(10, 20, zero=True, fua=True)
        client.flush()


def test_flush_persists_revision_and_sigkill_keeps_flushed_data(replica_factory) -> None:
    r = replica_factory()
    with DataClient(r.data) as client:
        for i in range(10):
            client.write(i * 4096, bytes([i + 1]) * 4096)
        client.flush()
    with r.control_client() as control:
        assert control.get_info().revision_counter == 10
    r.restart(sig=9)
    with r.control_client() as control, DataClient(r.data) as client:
        assert control.get_info().revision_counter == 10
        assert client.read(0, 40960) == b"".join(bytes([i + 1]) * 4096 for i in range(10))
        client.write(0, b"z" * 4096)  # not flushed: the counter on disk stays at 10
    r.restart(sig=9)
    with r.control_client() as control:
        assert control.get_info().revision_counter == 10
    r.restart()  # SIGTERM: clean shutdown persists the counter
    with r.control_client() as control:
        assert control.get_info().revision_counter == 10


def test_getinfo_describes_replica(replica: ReplicaProcess) -> None:
    with replica.control_client() as control:
        info = control.get_info()
    assert info.size == replica.size
    assert info.sector_size == 4096
    assert info.data_address == replica.data
    assert info.data_socket == str(replica.data_socket)
    assert info.chain == ()
    assert info.head == "volume-head-000.img"


def test_ready_line_and_bad_arguments(tmp_path) -> None:
    bad = subprocess.run([PRONGHORN, "replica", "serve", "--dir", str(tmp_path), "--size", "12345"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "multiple of 4096" in bad.stderr and "Traceback" not in bad.stderr
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    busy = subprocess.run([PRONGHORN, "replica", "serve", "--dir", str(tmp_path / "r"), "--size", "1M",
                           "--listen", "127.0.0.1:0", "--data-listen", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=30)
    busy_control = subprocess.run([PRONGHORN, "replica", "serve", "--dir", str(tmp_path / "r"), "--size", "1M",
                                   "--listen", f"127.0.0.1:{port}", "--data-listen", "127.0.0.1:0"],
                                  capture_output=True, text=True, timeout=30)
    s.close()
    assert busy.returncode == 1 and "Traceback" not in busy.stderr and "cannot serve data" in busy.stderr
    assert busy_control.returncode == 1 and "Traceback" not in busy_control.stderr
    assert "cannot listen" in busy_control.stderr



def test_enospc_is_reported_and_the_server_keeps_serving(tmp_path) -> None:
    from tests.fixtures.replicas import start_replica

    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    r = None
    try:
        r = start_replica(mnt, 16 * MiB, "r")
        first = os.urandom(MiB)
        with DataClient(r.data) as client:
            client.write(0, first)
            with pytest.raises(DataError) as info:
                for i in range(1, 16):
                    client.write(i * MiB, os.urandom(MiB))
            assert info.value.errno == errno.ENOSPC
            assert client.read(0, MiB) == first  # acknowledged data is intact
            client.unmap(MiB, 15 * MiB)  # frees space: no older layer holds data there
            client.write(8 * MiB, b"w" * 4096)
            assert client.read(8 * MiB, 4096) == b"w" * 4096
            client.flush()
    finally:
        if r is not None:
            r.cleanup()
        subprocess.run(["umount", str(mnt)], check=False)


def test_parallel_connections_with_snapshots_in_between(replica: ReplicaProcess) -> None:
    failures: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with DataClient(replica.data) as client:
                for j in range(60):
                    offset = (i * 64 + j) * 4096
                    client.write(offset, bytes([i + 1]) * 4096)
                    assert client.read(offset, 4096) == bytes([i + 1]) * 4096
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    with replica.control_client() as control:
        for k in range(5):
            control.snapshot(f"during-{k}")
    for t in threads:
        t.join()
    assert not failures, failures
    with DataClient(replica.data) as client:
        for i in range(4):
            assert client.read(i * 64 * 4096, 60 * 4096) == bytes([i + 1]) * 60 * 4096
