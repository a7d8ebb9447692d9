"""SHARE on a replica data connection (replica/data_server.py + engine/local_replica.py), in process
over a real unix socket pair: the engine side maps what the replica hands over and reads the
same bytes; a chain with more layers than one SCM_RIGHTS message carries is refused, and the
connection goes on. A writable share writes the head and counts in the replica's revision; only
the head is writable, never on a rebuild target, and never once the write slots run out."""

from __future__ import annotations

import fcntl
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.local_replica import LocalReplica, ShareRefused, fetch_share
from replica import chain_edits
from replica import metadata as md
from replica.chain import SparseFileChain
from replica.data_server import SCM_MAX_FD, serve_connection
from replica.layer_read import read_layers
from replica.map_share import SLOTS
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


def test_a_writable_share_writes_the_head_and_counts_in_the_revision(
        served: tuple[SparseFileChain, socket.socket]) -> None:
    chain, sock = served
    chain.write(b"a" * 4 * S, 0)
    share = fetch_share(sock, writable=True)
    local = LocalReplica(sock, share)
    try:
        assert local.writable and local.usable() and chain.revision == 1
        assert local.write([(S, 2 * S, 0, memoryview(b"w" * 2 * S)), (8 * S, S, 0, memoryview(b"x" * S))])
        got = bytearray(9 * S)
        chain.read_into(memoryview(got), 0)  # the replica reads what the engine wrote
        assert bytes(got) == (b"a" * S + b"w" * 2 * S + b"a" * S + bytes(4 * S) + b"x" * S)
        assert chain.revision == 3
        chain_edits.snapshot(chain, "one")  # flushes: the persisted revision counts them too
        assert md.load_revision(chain.directory) == 3
        assert not local.usable()  # the head is a snapshot now: the engine must not write it
        snap = (chain.directory / "volume-snap-one.img").read_bytes()
        assert snap[S : 3 * S] == b"w" * 2 * S
    finally:
        share.close()


def test_only_the_head_is_writable_and_a_rebuild_target_shares_read_only(
        served: tuple[SparseFileChain, socket.socket]) -> None:
    chain, sock = served
    chain_edits.snapshot(chain, "one")
    share = fetch_share(sock, writable=True)
    try:
        modes = [fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE for fd in share.layer_fds[1:]]
        assert modes == [os.O_RDONLY, os.O_RDWR] and share.slot == 1
    finally:
        share.close()
    plain = fetch_share(sock)  # not asked for: read-only, no slot
    try:
        assert plain.slot == 0 and fcntl.fcntl(plain.layer_fds[-1], fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
    finally:
        plain.close()
    chain.meta.rebuilding = True  # as while it receives a rebuild: it must only get socket writes
    refused = fetch_share(sock, writable=True)
    try:
        assert refused.slot == 0 and not LocalReplica(sock, refused).writable
    finally:
        refused.close()


def test_when_the_write_slots_run_out_shares_are_read_only(served: tuple[SparseFileChain, socket.socket]) -> None:
    chain, sock = served
    slots = []
    for _ in range(SLOTS - 1):
        share = fetch_share(sock, writable=True)
        slots.append(share.slot)
        share.close()
    assert slots == list(range(1, SLOTS))
    last = fetch_share(sock, writable=True)
    try:
        assert last.slot == 0
    finally:
        last.close()
