"""Rebuild between real replica processes: full, delta, interrupted-then-resumed."""
# ruff: noqa: F811  (pytest fixtures imported from tests/fixtures/replicas.py)

from __future__ import annotations

import os
import signal

import pytest

from replica import errors
from replica.client import ControlClient, DataClient, SnapshotInfo, SyncProgress
from tests.fixtures.replicas import ReplicaProcess, replica_factory  # noqa: F401

MiB = 1 << 20
SIZE = 32 * MiB


def chain_layers(control: ControlClient) -> list[SnapshotInfo]:
    info = control.get_info()
    layers = [info.snapshot(name) for name in info.chain]
    assert all(layer is not None for layer in layers)
    return layers  # type: ignore[return-value]


def volume_bytes(r: ReplicaProcess) -> bytes:
    with DataClient(r.data) as data:
        return b"".join(data.read(pos, 8 * MiB) for pos in range(0, r.size, 8 * MiB))


def rebuild(target: ReplicaProcess, source: ReplicaProcess, prepare: bool = True) -> SyncProgress:
    with source.control_client() as src, target.control_client() as dst:
        layers = chain_layers(src)
        if prepare:
            assert dst.prepare_rebuild().rebuilding
        progress = list(dst.sync_from(source.control, layers))
    assert progress[-1].done and progress[-1].layers_done == len(layers)
    return progress[-1]


def assert_same_chain(a: ReplicaProcess, b: ReplicaProcess) -> None:
    with a.control_client() as ca, b.control_client() as cb:
        ia, ib = ca.get_info(), cb.get_info()
        assert ia.chain == ib.chain and not ib.rebuilding
        for name in ia.chain:
            assert ca.checksum(name, recompute=True) == cb.checksum(name, recompute=True)
    assert volume_bytes(a) == volume_bytes(b)
    assert not (b.directory / "basis").exists() and not (b.directory / "rebuild").exists()


def test_full_rebuild_sends_only_allocated_data(replica_factory) -> None:
    source, target = replica_factory(SIZE, "source"), replica_factory(SIZE, "target")
    with source.control_client() as control, DataClient(source.data) as data:
        data.write(0, os.urandom(4 * MiB))
        control.snapshot("s1")
        data.write(8 * MiB + 4096, os.urandom(2 * MiB))
        control.snapshot("s2")
    done = rebuild(target, source)
    assert done.bytes_from_network == 6 * MiB
    assert done.bytes_copied_locally == 0
    assert_same_chain(source, target)


def test_delta_rebuild_copies_what_the_old_copy_holds(replica_factory) -> None:
    source, target = replica_factory(SIZE, "source"), replica_factory(SIZE, "target")
    common = os.urandom(8 * MiB)
    for r in (source, target):  # both replicas saw the same writes (as behind an engine)
        with DataClient(r.data) as data:
            data.write(0, common)
            data.flush()
    target.kill(signal.SIGKILL)  # the target misses the next writes
    with source.control_client() as control, DataClient(source.data) as data:
        data.write(16 * MiB, os.urandom(MiB))
        control.snapshot("sys-1", user_created=False)  # no snapshot name in common
    target.start()
    done = rebuild(target, source)
    assert done.bytes_copied_locally == 8 * MiB
    assert done.bytes_from_network == MiB  # far less than the 9 MiB of data
    assert_same_chain(source, target)


def _interrupted_pull(target: ReplicaProcess, source: ReplicaProcess, kill: ReplicaProcess) -> int:
    """Start a rebuild, kill ``kill`` once some data arrived; returns bytes received before."""
    received = 0
    with source.control_client() as src, target.control_client() as dst:
        layers = chain_layers(src)
        dst.prepare_rebuild()
        with pytest.raises(errors.ReplicaError):
            for p in dst.sync_from(source.control, layers):
                received = p.bytes_from_network
                if received >= 4 * MiB:
                    kill.kill(signal.SIGKILL)
    return received


@pytest.mark.parametrize("victim", ["target", "source"])
def test_interrupted_rebuild_resumes(replica_factory, victim: str) -> None:
    source = replica_factory(SIZE, "source")
    target = replica_factory(SIZE, "target", extra_args=["--sync-rate-limit", "12M"])
    with source.control_client() as control, DataClient(source.data) as data:
        data.write(0, os.urandom(24 * MiB))
        control.snapshot("s1")
    first = _interrupted_pull(target, source, target if victim == "target" else source)
    assert first >= 4 * MiB
    (target if victim == "target" else source).start()
    # a restarted target prepares again (its basis is kept); a live one just retries
    done = rebuild(target, source, prepare=victim == "target")
    assert done.bytes_already_present >= 3 * MiB
    assert done.bytes_from_network < 24 * MiB - 3 * MiB
    assert_same_chain(source, target)


def test_rebuild_of_target_with_writes_during_sync(replica_factory) -> None:
    """Writes to the WO target's head during the sync stay on top of the pulled layers."""
    source, target = replica_factory(SIZE, "source"), replica_factory(SIZE, "target")
    with source.control_client() as control, DataClient(source.data) as data:
        data.write(0, b"o" * MiB)
        control.snapshot("old")
    with target.control_client() as dst:
        dst.prepare_rebuild()
    for r in (source, target):  # the engine writes to both, then snapshots both
        with DataClient(r.data) as data, r.control_client() as control:
            data.write(4096, b"n" * 4096)
            control.snapshot("sys")
            data.write(8192, b"h" * 4096)
    done = rebuild(target, source, prepare=False)
    assert done.done
    assert_same_chain(source, target)


def test_sync_without_prepare_is_refused(replica_factory) -> None:
    source, target = replica_factory(SIZE, "source"), replica_factory(SIZE, "target")
    with source.control_client() as src, target.control_client() as dst:
        src.snapshot("s")
        with pytest.raises(errors.FailedPrecondition):
            list(dst.sync_from(source.control, chain_layers(src)))


def test_delta_rebuild_reuses_the_old_copy_of_a_layer(replica_factory) -> None:
    """A restarted replica with the same older snapshot gets only what it missed, even where
    its head had overwritten that snapshot (the merged view alone would differ there)."""
    source, target = replica_factory(SIZE, "source"), replica_factory(SIZE, "target")
    first, later = os.urandom(8 * MiB), os.urandom(2 * MiB)
    for r in (source, target):
        with DataClient(r.data) as data, r.control_client() as control:
            data.write(0, first)
            control.snapshot("s1")
            data.write(MiB, later)  # overwrites part of s1 in the head
            data.flush()
    target.kill(signal.SIGKILL)
    with source.control_client() as control, DataClient(source.data) as data:
        data.write(20 * MiB, os.urandom(MiB))  # missed by the target
        control.snapshot("s2")
    target.start()
    done = rebuild(target, source)
    assert done.bytes_from_network == MiB
    assert done.bytes_copied_locally == 8 * MiB + 2 * MiB
    assert_same_chain(source, target)


@pytest.mark.parametrize("chunk_size", [256 << 10, 4 * MiB])
def test_rebuild_with_a_chunk_size_off_the_checksum_grid(replica_factory, chunk_size: int) -> None:
    """Stream pieces follow the 1 MiB checksum grid whatever the chunk size: full and delta both work."""
    source, target = replica_factory(SIZE, "source"), replica_factory(SIZE, "target")
    common = os.urandom(6 * MiB)
    for r in (source, target):
        with DataClient(r.data) as data:
            data.write(MiB // 2, common)  # runs that start and end inside 1 MiB chunks
            data.flush()
    target.kill(signal.SIGKILL)
    with source.control_client() as control, DataClient(source.data) as data:
        data.write(12 * MiB + 4096, os.urandom(3 * MiB))
        control.snapshot("s1")
    target.start()
    with source.control_client() as src, target.control_client() as dst:
        layers = chain_layers(src)
        dst.prepare_rebuild()
        done = list(dst.sync_from(source.control, layers, chunk_size))[-1]
    assert done.done and done.bytes_copied_locally >= 4 * MiB
    assert done.bytes_from_network < 6 * MiB
    assert_same_chain(source, target)
