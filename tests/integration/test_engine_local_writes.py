"""Writes the engine makes directly into a same-machine replica's head (engine/local_replica.py).

Real engine and replica processes; the replicas serve data on unix sockets, so
the engine is offered a writable share of the first RW replica: its head and
location map read-write, and a write slot the replica counts in its revision.
The other replicas receive the same writes by socket.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures import engines, replicas
from tests.fixtures.engines import ReplicatedVolume, start_engine
from tests.fixtures.nbd_client import NbdClient, NbdError
from tests.fixtures.replicas import ReplicaProcess
from tests.integration.test_engine_local_reads import engine_layer_fds, modes, pattern

volume_factory = engines.volume_factory
replica_factory = replicas.replica_factory
MiB = 1 << 20
KiB = 1 << 10


def revisions(volume: ReplicatedVolume) -> list[int]:
    counters = []
    for replica in volume.replicas:
        with replica.control_client() as client:
            counters.append(client.get_revision_counter())
    return counters


def test_writes_need_no_process_for_the_local_replica(volume_factory: Callable[..., ReplicatedVolume]) -> None:
    """With the only replica SIGSTOPped, aligned writes still complete: the engine writes its head.
    By socket they would time out (2 s) and fault the volume. The replica counts them all."""
    volume = volume_factory(replicas_count=1, size=4 * MiB, replica_timeout=2.0)
    replica = volume.replicas[0]
    expected = bytearray(4 * MiB)
    with NbdClient(volume.uri) as nbd:
        nbd.write(0, pattern(1, 4 * KiB))  # the first batch fetches the share
        expected[: 4 * KiB] = pattern(1, 4 * KiB)
        replica.kill(signal.SIGSTOP)
        try:
            for i, size in enumerate((4 * KiB, 64 * KiB, 256 * KiB, MiB, 12 * KiB)):
                offset = (i + 1) * 512 * KiB
                nbd.write(offset, pattern(i + 2, size))
                expected[offset : offset + size] = pattern(i + 2, size)
            assert nbd.read(0, 4 * MiB) == bytes(expected)
        finally:
            replica.kill(signal.SIGCONT)
        nbd.flush()
    assert list(modes(volume).values()) == ["RW"]
    assert revisions(volume) == [6]
    with volume.engine.client() as control:
        io = control.status().io
    assert (io.direct_writes, io.direct_reads) == (6, 1)
    with replica.data_client() as client:
        assert client.read(0, 4 * MiB) == bytes(expected)
    replica.restart()  # SIGTERM: the persisted revision counts the direct writes too
    assert revisions(volume) == [6]


def test_replicas_agree_on_data_and_revision_and_an_engine_restart_keeps_them_all(
        volume_factory: Callable[..., ReplicatedVolume]) -> None:
    """Direct writes to one replica, socket writes to two, mixed with what always goes by socket
    (unaligned writes, zeroes, trims, FUA): identical data and revisions, so a restarted engine
    finds every replica consistent (a revision behind would put that replica in ERR)."""
    volume = volume_factory(replicas_count=3, size=8 * MiB)
    model = bytearray(8 * MiB)
    with NbdClient(volume.uri) as nbd:
        for i in range(24):
            offset, size = (i * 328 * KiB) % (7 * MiB), (4 << (i % 7)) * KiB
            nbd.write(offset, pattern(i, size))
            model[offset : offset + size] = pattern(i, size)
        nbd.write(5 * MiB + 100, b"unaligned" * 50)
        model[5 * MiB + 100 : 5 * MiB + 550] = b"unaligned" * 50
        nbd.trim(6 * MiB, 256 * KiB)  # advisory: the range is written over below
        nbd.write(6 * MiB, bytes(model[6 * MiB : 6 * MiB + 256 * KiB]))
        nbd.write_zeroes(MiB, 64 * KiB)
        model[MiB : MiB + 64 * KiB] = bytes(64 * KiB)
        nbd.write(2 * MiB, pattern(99, 8 * KiB), fua=True)
        model[2 * MiB : 2 * MiB + 8 * KiB] = pattern(99, 8 * KiB)
        nbd.flush()
        assert nbd.read(0, 8 * MiB) == bytes(model)
    counted = revisions(volume)
    assert len(set(counted)) == 1 and counted[0] >= 28, counted
    with volume.engine.client() as control:  # the aligned writes without FUA, and no other
        assert control.status().io.direct_writes == 25
    for replica in volume.replicas:
        with replica.data_client() as client:
            assert client.read(0, 8 * MiB) == bytes(model)
    volume.engine.restart()  # SIGKILL; the start compares the replicas' revisions
    assert set(modes(volume).values()) == {"RW"}
    with NbdClient(volume.uri) as nbd:
        assert nbd.read(0, 8 * MiB) == bytes(model)


def test_the_engine_may_write_one_head_and_nothing_else(volume_factory: Callable[..., ReplicatedVolume]) -> None:
    """Of the replica files the engine holds, only one replica's head is writable; snapshots are
    read-only, and a snapshot is not changed by writes made after it."""
    volume = volume_factory(replicas_count=2, size=4 * MiB)
    with NbdClient(volume.uri) as nbd:
        nbd.write(0, pattern(5, MiB))
        with volume.engine.client() as control:
            control.snapshot("s")
        nbd.write(0, pattern(6, MiB))  # after the snapshot: into the new head only
        assert nbd.read(0, MiB) == pattern(6, MiB)
        held = engine_layer_fds(volume)
    writable = [path for path, flags in held.items() if flags & os.O_ACCMODE == os.O_RDWR]
    assert len(writable) == 1 and os.path.basename(writable[0]).startswith("volume-head-"), held
    assert len(held) == 2, held  # the one replica's snapshot (read-only) and new head
    for replica in volume.replicas:
        with open(replica.directory / "volume-snap-s.img", "rb") as snap:
            assert snap.read(MiB) == pattern(5, MiB)


def test_a_local_replica_killed_during_writes_turns_err_and_writes_go_on(
        volume_factory: Callable[..., ReplicatedVolume]) -> None:
    """SIGKILL the replica the engine writes directly: its hang-up is seen, it becomes ERR, and
    every write is still acknowledged and readable from the others."""
    volume = volume_factory(replicas_count=3, size=8 * MiB)
    local = volume.replicas[0]
    model = bytearray(8 * MiB)
    with NbdClient(volume.uri) as nbd:
        for i in range(64):
            if i == 20:
                local.kill(signal.SIGKILL)
            offset = (i * 96 * KiB) % (7 * MiB)
            nbd.write(offset, pattern(i, 64 * KiB))
            model[offset : offset + 64 * KiB] = pattern(i, 64 * KiB)
        nbd.flush()
        assert nbd.read(0, 8 * MiB) == bytes(model)
    states = modes(volume)
    assert states[local.control] == "ERR" and sorted(states.values()) == ["ERR", "RW", "RW"], states
    for replica in volume.replicas[1:]:
        with replica.data_client() as client:
            assert client.read(0, 8 * MiB) == bytes(model)


def test_without_local_io_a_frozen_replica_is_timed_out(tmp_path: Path,
                                                         replica_factory: Callable[..., ReplicaProcess]) -> None:
    """``--no-local-io``: the engine holds none of the replica's files and every write goes through
    the socket, so a replica whose process is frozen (as on a hung disk) is timed out into ERR
    and the write fails instead of waiting on the disk."""
    replica = replica_factory(size=4 * MiB, data_socket=True)
    engine = start_engine("vol", 4 * MiB, [replica.control], tmp_path / "engine", replica_timeout=1.5,
                          extra_args=["--no-local-io"])
    try:
        with NbdClient(engine.uri) as nbd:
            nbd.write(0, pattern(1, 64 * KiB))
            assert nbd.read(0, 64 * KiB) == pattern(1, 64 * KiB)
            assert engine_layer_fds(ReplicatedVolume(engine, [replica])) == {}
            replica.kill(signal.SIGSTOP)
            try:
                with pytest.raises(NbdError) as failed:
                    nbd.write(0, pattern(2, 64 * KiB))
                assert failed.value.errno == errno.EIO
            finally:
                replica.kill(signal.SIGCONT)
        assert list(modes(ReplicatedVolume(engine, [replica])).values()) == ["ERR"]
        with engine.client() as control:
            io = control.status().io
        assert io.writes >= 1 and (io.direct_writes, io.direct_reads) == (0, 0)
    finally:
        engine.cleanup()
