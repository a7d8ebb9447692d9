"""Reads the engine serves from a same-machine replica's files (engine/local_replica.py).

Real engine and replica processes; the replicas serve data on unix sockets, so
the engine is offered their location maps and layer fds (SHARE). One NBD
connection stays open across snapshot, snapshot deletion (coalesce and prune)
and expand, so its shared view must be renewed each time the layer set changes.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
from collections.abc import Callable

import pytest

from replica.wire import MAGIC, RESPONSE, Op, pack_request
from tests.fixtures import engines, replicas
from tests.fixtures.engines import ReplicatedVolume
from tests.fixtures.nbd_client import NbdClient, NbdError

volume_factory = engines.volume_factory
replica_factory = replicas.replica_factory
MiB = 1 << 20
KiB = 1 << 10


def modes(volume: ReplicatedVolume) -> dict[str, str]:
    with volume.engine.client() as client:
        return {r.address: r.mode for r in client.status().replicas}


def pattern(seed: int, length: int) -> bytes:
    """``length`` bytes (a multiple of 4 KiB) that differ per seed and per sector."""
    return b"".join(bytes([seed, sector % 256]) * 2048 for sector in range(length // 4096))


def test_one_connection_reads_right_across_snapshot_delete_and_expand(
        volume_factory: Callable[..., ReplicatedVolume]) -> None:
    size = 8 * MiB
    volume = volume_factory(replicas_count=2, size=size)
    model = bytearray(size)

    def write(nbd: NbdClient, offset: int, data: bytes) -> None:
        nbd.write(offset, data)
        model[offset : offset + len(data)] = data

    def check(nbd: NbdClient) -> None:
        for offset in range(0, len(model), MiB):
            assert nbd.read(offset, MiB) == bytes(model[offset : offset + MiB]), f"at {offset}"
        assert nbd.read(3 * MiB + 512, 3 * KiB) == bytes(model[3 * MiB + 512 : 3 * MiB + 3584])  # unaligned

    with NbdClient(volume.uri) as nbd, volume.engine.client() as control:
        write(nbd, 0, pattern(1, 2 * MiB))
        check(nbd)
        control.snapshot("one")
        write(nbd, MiB, pattern(2, 512 * KiB))  # new head over the snapshot
        check(nbd)
        control.snapshot("two")
        write(nbd, 3 * MiB, pattern(3, 64 * KiB))
        check(nbd)
        control.delete_snapshot("one")  # coalesced into "two"
        check(nbd)
        control.delete_snapshot("two")  # pruned under the head
        check(nbd)
        control.expand(12 * MiB)
        model.extend(bytes(4 * MiB))
        write(nbd, 10 * MiB, pattern(4, 256 * KiB))
        check(nbd)
        nbd.flush()
    assert set(modes(volume).values()) == {"RW"}
    for replica in volume.replicas:  # the replicas agree with what the engine read
        with replica.data_client() as client:
            assert client.read(0, 12 * MiB) == bytes(model)


def test_reads_need_no_replica_process_on_this_machine(volume_factory: Callable[..., ReplicatedVolume]) -> None:
    """With every replica process stopped (SIGSTOP), reads are still answered, from the
    replicas' files; through the sockets they would time out and fault the volume."""
    volume = volume_factory(replicas_count=3, size=4 * MiB, replica_timeout=2.0)
    data = pattern(7, 2 * MiB)
    with NbdClient(volume.uri) as nbd:
        nbd.write(MiB, data)
        nbd.flush()
        assert nbd.read(MiB, 4096) == data[:4096]
        for replica in volume.replicas:
            replica.kill(signal.SIGSTOP)
        try:
            assert nbd.read(MiB, 2 * MiB) == data
            assert nbd.read(0, MiB) == bytes(MiB)
        finally:
            for replica in volume.replicas:
                replica.kill(signal.SIGCONT)
    assert set(modes(volume).values()) == {"RW"}


def engine_layer_fds(volume: ReplicatedVolume) -> dict[str, int]:
    """The engine's open descriptors of replica layer files: path -> open flags."""
    found = {}
    for fd in os.listdir(f"/proc/{volume.engine.pid}/fd"):
        try:
            target = os.readlink(f"/proc/{volume.engine.pid}/fd/{fd}")
            with open(f"/proc/{volume.engine.pid}/fdinfo/{fd}") as info:
                flags = int(next(line for line in info if line.startswith("flags:")).split()[1], 8)
        except (FileNotFoundError, StopIteration):
            continue  # closed meanwhile
        if os.path.basename(target).startswith(("volume-head-", "volume-snap-")):
            found[target] = flags
    return found


def held_layer_links(volume: ReplicatedVolume) -> list[int]:
    """The link count of each replica layer file the engine holds open (0: deleted, space held)."""
    links = []
    for fd in os.listdir(f"/proc/{volume.engine.pid}/fd"):
        try:
            path = f"/proc/{volume.engine.pid}/fd/{fd}"
            if os.path.basename(os.readlink(path)).startswith(("volume-head-", "volume-snap-")):
                links.append(os.stat(path).st_nlink)
        except FileNotFoundError:
            continue  # closed meanwhile
    return links


def test_a_connection_that_only_writes_lets_go_of_replaced_layer_files(
        volume_factory: Callable[..., ReplicatedVolume]) -> None:
    """After a snapshot deletion that deletes a layer file (coalesce), the next batch, even of
    writes only, drops the descriptors fetched before: a deleted file's space must not wait
    for a read."""
    volume = volume_factory(replicas_count=2, size=4 * MiB)
    with NbdClient(volume.uri) as nbd, volume.engine.client() as control:
        nbd.write(0, pattern(3, MiB))
        control.snapshot("s1")
        nbd.write(MiB, pattern(4, MiB))
        control.snapshot("s2")
        nbd.write(2 * MiB, pattern(5, MiB))
        assert len(held_layer_links(volume)) == 3  # s1, s2 and the head of the replica written directly
        control.delete_snapshot("s1")  # coalesced into s2: s1's file is deleted
        nbd.write(3 * MiB, pattern(6, MiB))
        held = held_layer_links(volume)
        assert held and 0 not in held, held
        assert nbd.read(0, 4 * MiB) == pattern(3, MiB) + pattern(4, MiB) + pattern(5, MiB) + pattern(6, MiB)


def test_a_dead_replica_is_noticed_by_reads(volume_factory: Callable[..., ReplicatedVolume]) -> None:
    """A SIGKILLed replica's socket hangs up: the engine stops trusting its files and finds it dead
    without any write (its files could otherwise be taken over by a new process)."""
    volume = volume_factory(replicas_count=1, size=4 * MiB)
    with NbdClient(volume.uri) as nbd:
        nbd.write(0, pattern(9, MiB))
        nbd.flush()
        assert nbd.read(0, MiB) == pattern(9, MiB)
        volume.replicas[0].kill(signal.SIGKILL)
        with pytest.raises(NbdError) as failed:
            for _ in range(3):
                nbd.read(0, 64 * KiB)
        assert failed.value.errno == errno.EIO
    assert list(modes(volume).values()) == ["ERR"]


def test_share_is_refused_over_tcp_and_the_connection_goes_on(
        replica_factory: Callable[..., replicas.ReplicaProcess]) -> None:
    replica = replica_factory(size=MiB)
    host, _, port = replica.data.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(pack_request(Op.SHARE, 7) + pack_request(Op.PING, 8))
        answers = b""
        while len(answers) < 2 * RESPONSE.size:
            answers += sock.recv(64)
    assert RESPONSE.unpack_from(answers, 0) == (MAGIC, errno.ENOTSUP, 0, 7)
    assert RESPONSE.unpack_from(answers, RESPONSE.size) == (MAGIC, 0, 0, 8)
