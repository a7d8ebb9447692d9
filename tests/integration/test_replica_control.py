"""gRPC control round trips against a real replica process (ControlClient + DataClient)."""
# ruff: noqa: F811  (pytest fixtures imported from tests/fixtures/replicas.py)

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from replica import errors
from replica.client import DataClient
from tests.conftest import PRONGHORN
from tests.fixtures.replicas import ReplicaProcess, replica, replica_factory  # noqa: F401

S = 4096


def test_snapshot_list_revert_roundtrip(replica: ReplicaProcess) -> None:
    with replica.control_client() as control, DataClient(replica.data) as data:
        data.write(0, b"1" * S)
        first = control.snapshot("one", labels={"k": "v"})
        assert first.name == "one" and first.parent == "" and first.labels == {"k": "v"} and first.user_created
        data.write(0, b"2" * S)
        control.snapshot("two", created="2026-01-01T00:00:00Z", user_created=False)
        data.write(0, b"3" * S)
        info = control.get_info()
        assert info.chain == ("one", "two")
        assert info.snapshot("one").children == ("two",)  # type: ignore[union-attr]
        assert info.snapshot("two").created == "2026-01-01T00:00:00Z"  # type: ignore[union-attr]
        assert [s.name for s in control.list_snapshots()] == ["one", "two"]
        reverted = control.revert("one")
        assert reverted.chain == ("one",)
        assert data.read(0, S) == b"1" * S
        control.revert("two")
        assert data.read(0, S) == b"2" * S


def test_mark_removed_and_purge_keep_data(replica: ReplicaProcess) -> None:
    with replica.control_client() as control, DataClient(replica.data) as data:
        data.write(0, b"a" * 4 * S)
        control.snapshot("a")
        data.write(S, b"b" * S)
        control.snapshot("b")
        data.write(2 * S, b"c" * S)
        assert control.mark_removed("a").removed
        control.mark_removed("b")
        result = control.purge()
        assert result.coalesced == ("a",) and result.pruned == ("b",)
        assert control.get_info().chain == ("b",)
        assert data.read(0, 4 * S) == b"a" * S + b"b" * S + b"c" * S + b"a" * S


def test_expand_checksum_and_revision(replica: ReplicaProcess) -> None:
    with replica.control_client() as control, DataClient(replica.data) as data:
        data.write(8 * S, b"x" * S)
        control.snapshot("base")
        sha = control.checksum("base")
        assert len(sha) == 64
        assert control.checksum("base", recompute=True) == sha
        grown = control.expand(replica.size * 2)
        assert grown.size == replica.size * 2
        data.write(replica.size * 2 - S, b"e" * S)  # the new space is usable
        assert data.read(replica.size * 2 - S, S) == b"e" * S
        assert data.read(replica.size, S) == bytes(S)
        assert control.set_revision_counter(1234) == 1234
        assert control.get_revision_counter() == 1234
    meta = json.loads((replica.directory / "volume.meta").read_text())
    assert meta["size"] == replica.size * 2
    assert json.loads((replica.directory / "volume-snap-base.img.checksum").read_text())["sha256"] == sha


def test_errors_are_typed(replica: ReplicaProcess) -> None:
    with replica.control_client() as control:
        control.snapshot("dup")
        with pytest.raises(errors.AlreadyExists):
            control.snapshot("dup")
        with pytest.raises(errors.InvalidArgument):
            control.snapshot("bad/name")
        with pytest.raises(errors.NotFound):
            control.revert("missing")
        with pytest.raises(errors.NotFound):
            control.checksum("missing")
        with pytest.raises(errors.FailedPrecondition):
            control.expand(replica.size - S)
        with pytest.raises(errors.InvalidArgument):
            control.expand(replica.size + 1)
        with pytest.raises(errors.InvalidArgument):
            control.chunk_checksums("dup", 1000)


def test_restart_keeps_chain(replica_factory) -> None:
    r = replica_factory()
    with r.control_client() as control, DataClient(r.data) as data:
        data.write(0, b"q" * S)
        control.snapshot("keep")
        data.write(0, b"r" * S, fua=True)
    r.restart(sig=9)
    with r.control_client() as control, DataClient(r.data) as data:
        assert control.get_info().chain == ("keep",)
        assert data.read(0, S) == b"r" * S


def test_unreachable_replica_is_unavailable() -> None:
    from replica.client import ControlClient

    with ControlClient("127.0.0.1:1", timeout=2) as control, pytest.raises(errors.Unavailable):
        control.get_info()


def test_info_verb_shows_the_chain(replica: ReplicaProcess) -> None:
    import subprocess

    from tests.conftest import PRONGHORN

    with replica.control_client() as control:
        control.snapshot("first")
        control.snapshot("second", user_created=False)
    out = subprocess.run([PRONGHORN, "replica", "info", "--replica", replica.control, "--json"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["chain"] == ["first", "second"] and info["size"] == replica.size
    text = subprocess.run([PRONGHORN, "replica", "info", "--replica", replica.control],
                          capture_output=True, text=True, timeout=30)
    assert "<- second" in text.stdout and "system" in text.stdout
    down = subprocess.run([PRONGHORN, "replica", "info", "--replica", "127.0.0.1:1"],
                          capture_output=True, text=True, timeout=30)
    assert down.returncode == 1 and "Traceback" not in down.stderr and down.stderr.strip()


def test_expand_checked_then_undone(replica: ReplicaProcess) -> None:
    huge = 1 << 60  # no filesystem here takes a file of 1 EiB
    with replica.control_client() as control, DataClient(replica.data) as data:
        data.write(0, b"k" * S)
        with pytest.raises(errors.CannotHold):
            control.check_expand(huge)
        with pytest.raises(errors.CannotHold):  # refused whole: still serving at its size
            control.expand(huge)
        assert control.get_info().size == replica.size
        assert not (replica.directory / ".expand-probe").exists()
        with pytest.raises(errors.FailedPrecondition):
            control.check_expand(replica.size - S)
        assert control.check_expand(replica.size * 2).size == replica.size  # checked, not grown
        control.expand(replica.size * 2)
        assert control.undo_expand(replica.size * 2, replica.size).size == replica.size
        assert control.undo_expand(replica.size * 2, replica.size).size == replica.size  # repeated: no-op
        assert data.read(0, S) == b"k" * S
        control.expand(replica.size * 2)
        data.write(replica.size, b"n" * S)
        with pytest.raises(errors.FailedPrecondition):  # data above the old size: kept
            control.undo_expand(replica.size * 2, replica.size)
        assert control.get_info().size == replica.size * 2
    meta = json.loads((replica.directory / "volume.meta").read_text())
    assert meta["size"] == replica.size * 2


def test_a_second_process_on_a_served_directory_refuses_and_the_first_keeps_serving(
        replica: ReplicaProcess) -> None:
    second = subprocess.run([PRONGHORN, "replica", "serve", "--dir", str(replica.directory), "--size",
                             str(replica.size), "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=60)
    assert second.returncode == 4, second.stderr
    assert second.stdout == ""  # never printed a ready line, never served
    assert second.stderr.count("\n") == 1
    assert f"already served by another replica process (pid {replica.pid})" in second.stderr
    with replica.control_client() as client:
        assert client.get_info().size == replica.size
    replica.kill(signal.SIGKILL)  # a dead holder frees the directory: the next process opens it
    replica.start()
    with replica.control_client() as client:
        assert client.get_info().size == replica.size
