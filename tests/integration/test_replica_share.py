"""SHARE on a replica data connection (replica/data_server.py + engine/local_replica.py), in process
over a real unix socket pair: the engine side maps what the replica hands over and reads the
same bytes; a chain with more layers than one SCM_RIGHTS message carries is refused, and the
connection goes on. A writable share writes the head and counts in the replica's revision; only
the head is writable, never on a rebuild target, and never once the write slots run out; a slot
comes back with its count kept; an engine that died inside a batch leaves no data the map hides."""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.local_replica import LocalReplica, ShareRefused, fetch_share
from replica import chain_edits
from replica import metadata as md
from replica.chain import SparseFileChain
from replica.data_server import SCM_MAX_FD, serve_connection
from replica.layer_read import read_layers
from replica.map_share import BUSY, SLOTS
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


def test_a_slot_is_given_back_with_its_count_kept_and_reused(served: tuple[SparseFileChain, socket.socket]) -> None:
    """Asking again on one connection, and closing a connection, give the slot back: the writes it
    counted stay in the revision, and the next share gets the same slot."""
    chain, sock = served
    first = fetch_share(sock, writable=True)
    assert LocalReplica(sock, first).write([(0, S, 0, memoryview(b"a" * S))])
    first.close()
    again = fetch_share(sock, writable=True)  # the engine re-shares after a pause: same slot
    try:
        assert again.slot == first.slot and chain.revision == 1
        assert LocalReplica(sock, again).write([(S, S, 0, memoryview(b"b" * S))])
        assert chain.revision == 2
    finally:
        again.close()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    other = threading.Thread(target=lambda: _serve(theirs, chain), daemon=True)
    other.start()
    with ours:
        second = fetch_share(ours, writable=True)
        assert second.slot != again.slot  # both connections hold a slot at once
        assert LocalReplica(ours, second).write([(2 * S, S, 0, memoryview(b"c" * S))])
        second.close()
    other.join(timeout=10)  # its connection closed: its slot is free, its count kept
    assert chain.revision == 3
    with chain.lock:
        assert chain.claim_write_slot() == (chain.map.share, second.slot)


def test_when_the_write_slots_run_out_shares_are_read_only(tmp_path: Path) -> None:
    chain = SparseFileChain.create(tmp_path / "r", 8 * S)
    try:
        with chain.lock:
            chain.share()
            claimed = [chain.claim_write_slot() for _ in range(SLOTS - 1)]
            assert sorted(held[1] for held in claimed if held) == list(range(1, SLOTS))
            assert chain.claim_write_slot() is None  # a SHARE now gets a read-only share
            chain.give_back_write_slot(*claimed[7])
            assert chain.claim_write_slot() == claimed[7]
    finally:
        chain.close()


def test_an_engine_dead_inside_a_batch_leaves_no_data_the_map_hides(
        served: tuple[SparseFileChain, socket.socket]) -> None:
    """The engine pwrote into the head but died before the map byte (BUSY still set): when its
    connection closes, the replica re-marks the head's data in the map, so what it reads is what
    a restart would read; the unfinished write is not counted."""
    chain, sock = served
    chain.write(b"o" * S, 3 * S)
    chain_edits.snapshot(chain, "base")  # the sector's old data lives in a snapshot below the head
    share = fetch_share(sock, writable=True)
    share.set_written(share.written() | BUSY)  # inside a batch...
    os.pwrite(share.layer_fds[share.head], b"n" * S, 3 * S)  # ...the data landed, the map byte did not
    share.close()
    sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and chain.map.loc[3] != chain.head_index:
        time.sleep(0.01)
    got = bytearray(S)
    chain.read_into(memoryview(got), 3 * S)
    assert bytes(got) == b"n" * S
    assert chain.revision == 1


def test_a_share_not_asked_for_writes_has_the_original_answer(served: tuple[SparseFileChain, socket.socket]) -> None:
    """Engines that never ask for writes parse a 12-byte answer (layers, sectors): they still can."""
    _, sock = served
    sock.sendall(pack_request(Op.SHARE, 9))
    data, ancillary, _, _ = sock.recvmsg(64, socket.CMSG_SPACE(8 * 4))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            for fd in memoryview(payload)[: len(payload) // 4 * 4].cast("i"):
                os.close(fd)
    while len(data) < RESPONSE.size + 12:
        data += sock.recv(64)
    assert RESPONSE.unpack_from(data) == (MAGIC, 0, 12, 9) and len(data) == RESPONSE.size + 12
    assert struct.unpack_from("<IQ", data, RESPONSE.size) == (1, 64)
