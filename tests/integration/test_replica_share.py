"""SHARE on a replica data connection (replica/data_server.py + engine/local_reads.py), in process
over a real unix socket pair: the engine side maps what the replica hands over and reads the
same bytes; a chain with more layers than one SCM_RIGHTS message carries is refused, and the
connection goes on."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.local_reads import ShareRefused, fetch_share
from replica import chain_edits
from replica.chain import SparseFileChain
from replica.data_server import SCM_MAX_FD, serve_connection
from replica.layer_read import read_layers
from replica.wire import MAGIC, RESPONSE, Op, pack_request

S = 4096


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[SparseFileChain, socket.socket]]:
    chain = SparseFileChain.create(tmp_path / "r", 64 * S)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.settimeout(10)
    thread = threading.Thread(target=lambda: _serve(theirs, chain), daemon=True)
    thread.start()
    try:
        yield chain, ours
    finally:
        ours.close()
        thread.join(timeout=10)
        chain.close()


def _serve(conn: socket.socket, chain: SparseFileChain) -> None:
    try:
        serve_connection(conn, chain)
    except OSError:
        pass
    finally:
        conn.close()


def test_the_shared_view_reads_what_the_replica_reads(served: tuple[SparseFileChain, socket.socket]) -> None:
    chain, sock = served
    chain.write(b"a" * 8 * S, 0)
    chain_edits.snapshot(chain, "one")
    chain.write(b"b" * S, 2 * S)
    share = fetch_share(sock)
    try:
        assert len(share.layer_fds) == 3 and share.sectors == 64 and not share.stale
        got = bytearray(10 * S)
        read_layers(share.layer_fds, share.loc, memoryview(got), 0)
        assert bytes(got) == b"a" * 2 * S + b"b" * S + b"a" * 5 * S + bytes(2 * S)
        chain.write(b"c" * S, 9 * S)  # the replica's later writes show through the shared map
        read_layers(share.layer_fds, share.loc, memoryview(got), 0)
        assert bytes(got[9 * S :]) == b"c" * S
        chain_edits.snapshot(chain, "two")
        assert share.stale
    finally:
        share.close()


def test_too_many_layers_for_one_message_is_refused(served: tuple[SparseFileChain, socket.socket]) -> None:
    chain, sock = served
    for i in range(SCM_MAX_FD - 1):  # SCM_MAX_FD layers: with the memfd one descriptor too many
        chain_edits.snapshot(chain, f"s{i}")
    with pytest.raises(ShareRefused):
        fetch_share(sock)
    sock.sendall(pack_request(Op.PING, 5))
    assert RESPONSE.unpack(sock.recv(RESPONSE.size, socket.MSG_WAITALL)) == (MAGIC, 0, 0, 5)
