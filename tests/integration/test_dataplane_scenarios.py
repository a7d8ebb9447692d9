"""Data-plane scenarios on real engine + replica processes with real clients (fio, mount, NBD).

Issue 3's end-to-end checks: fio verify on 1 and 3 replicas; ext4 through
adapters.blockdev surviving an engine restart; a replica SIGKILLed under a fio
write job, then rebuilt to identical data; the engine SIGKILLed mid-writes,
restarted, with every write acknowledged before a FLUSH reply present.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.blockdev import FsType, mount_volume, unmount_volume
from adapters.blockdev.mounts import mount_at
from replica.client import DataClient
from tests.conftest import PRONGHORN
from tests.fixtures.engines import EngineProcess, ReplicatedVolume, volume_factory  # noqa: F401
from tests.fixtures.fio import fio_command, job_errors, parse_report, run_fio
from tests.fixtures.nbd_client import NbdClient
from tests.fixtures.replicas import ReplicaProcess

MiB = 1 << 20
BLOCK = 4096
WAIT = 60.0  # bound on every wait for a state change; generous for a loaded 2-core machine


def engine_cli(engine: EngineProcess, verb: str, *args: str) -> dict[str, Any]:
    done = subprocess.run([PRONGHORN, "engine", verb, "--engine", engine.control, "--json", *args],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"engine {verb} failed: {done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def modes(engine: EngineProcess) -> dict[str, str]:
    """Replica control address -> mode (RW, WO, ERR), from `pronghorn engine status --json`."""
    return {r["address"]: r["mode"] for r in engine_cli(engine, "status")["replicas"]}


def wait_for(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def replica_digest(replica: ReplicaProcess, size: int, chunk: int = 4 * MiB) -> str:
    """sha256 of a replica's whole volume, read straight from its data port."""
    digest = hashlib.sha256()
    with DataClient(replica.data) as client:
        for offset in range(0, size, chunk):
            digest.update(client.read(offset, chunk))
    return digest.hexdigest()


def fio_write_verify(uri: str, size: str, output: Path, extra: tuple[str, ...] = ()) -> list[str]:
    """A random-write job with crc32c verification of everything it wrote, read back at the end."""
    return ["--name=verify", "--ioengine=nbd", f"--uri={uri}", "--rw=randwrite", "--bssplit=4k/60:64k/30:512/10",
            "--iodepth=16", f"--size={size}", "--verify=crc32c", "--verify_fatal=1", "--do_verify=1", *extra]


@pytest.mark.parametrize("replicas", [1, 3])
def test_fio_verify_passes(volume_factory: Callable[..., ReplicatedVolume], tmp_path: Path,  # noqa: F811
                           replicas: int) -> None:
    engine = volume_factory(replicas).engine
    report = run_fio(fio_write_verify(engine.uri, "24M", tmp_path / "fio.json"), tmp_path / "fio.json", timeout=300)
    assert job_errors(report) == {"verify": 0}
    assert report["jobs"][0]["write"]["io_bytes"] > 0 and report["jobs"][0]["read"]["io_bytes"] > 0


def write_files(root: Path) -> dict[str, str]:
    rng = random.Random(7)
    hashes = {}
    for i in range(8):
        data = rng.randbytes(rng.randrange(1, 2 * MiB))
        (root / f"file-{i}.bin").write_bytes(data)
        hashes[f"file-{i}.bin"] = hashlib.sha256(data).hexdigest()
    return hashes


def test_ext4_files_survive_an_engine_restart(volume_factory: Callable[..., ReplicatedVolume],  # noqa: F811
                                              tmp_path: Path) -> None:
    engine = volume_factory(3).engine
    target, run_dir = tmp_path / "mnt", tmp_path / "blockdev"
    mount_volume(engine.uri, target, FsType.EXT4, run_dir=run_dir)
    try:
        hashes = write_files(target)
    finally:
        unmount_volume(target)
    first_pid = engine.pid
    engine.restart(signal.SIGKILL)  # all was flushed at unmount: nothing may depend on a clean stop
    assert engine.pid != first_pid
    mount_volume(engine.uri, target, FsType.EXT4, run_dir=run_dir)
    try:
        assert {name: hashlib.sha256((target / name).read_bytes()).hexdigest() for name in hashes} == hashes
    finally:
        if mount_at(target) is not None:
            unmount_volume(target)


@pytest.mark.slow
def test_replica_killed_under_fio_is_failed_then_rebuilt_identical(
    volume_factory: Callable[..., ReplicatedVolume], tmp_path: Path  # noqa: F811
) -> None:
    size = 64 * MiB
    made = volume_factory(3, size)
    engine, replicas = made.engine, made.replicas
    victim = replicas[1]
    output = tmp_path / "fio.json"
    # writes capped at 8 MiB/s (fio turns --rate_iops into bytes at the SMALLEST block size: not that) so
    # the write phase lasts ~4 s however fast the machine is, and the kill lands mid-job
    fio = subprocess.Popen(fio_command(fio_write_verify(engine.uri, "32M", output, ("--rate=,8m",)), output),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for("fio to write", lambda: engine_cli(engine, "status")["io"]["writes"] > 100 or fio.poll() is not None)
        assert fio.poll() is None, "fio finished before the replica could be killed: make the job bigger"
        victim.kill(signal.SIGKILL)
        printed = fio.communicate(timeout=300)[0].decode(errors="replace")
    finally:
        if fio.poll() is None:
            fio.kill()
            fio.wait()
    assert fio.returncode == 0, printed
    assert job_errors(parse_report(output)) == {"verify": 0}
    assert modes(engine)[victim.control] == "ERR"

    engine_cli(engine, "rm-replica", victim.control)
    victim.start(listen=victim.control, data_listen=victim.data)  # same directory and ports, older data
    engine_cli(engine, "add-replica", victim.control)
    wait_for("the rebuilt replica to be RW", lambda: set(modes(engine).values()) == {"RW"})
    digests = {r.control: replica_digest(r, size) for r in replicas}
    assert len(set(digests.values())) == 1, digests


class FlushedWriter:
    """Writes batches of 4 KiB blocks through NBD, flushing after each, until the connection breaks.

    ``allowed[block]`` is every content the block may hold after a crash: the
    version the last acknowledged FLUSH covered plus any version written after it.
    """

    def __init__(self, uri: str, blocks: int, batch: int = 16) -> None:
        self.uri, self.blocks, self.batch = uri, blocks, batch
        self.allowed: dict[int, list[bytes]] = {b: [bytes(BLOCK)] for b in range(blocks)}
        self.flushes = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = random.Random(1)
        try:
            with NbdClient(self.uri) as client:
                for generation in range(1, 1 << 30):
                    chosen = rng.sample(range(self.blocks), self.batch)
                    writes = [(b * BLOCK, b.to_bytes(8, "little") + generation.to_bytes(8, "little") +
                               rng.randbytes(BLOCK - 16)) for b in chosen]
                    for offset, data in writes:
                        self.allowed[offset // BLOCK].append(data)
                    client.write_batch(writes)
                    client.flush()
                    for offset, data in writes:
                        self.allowed[offset // BLOCK] = [data]
                    self.flushes += 1
        except Exception as exc:  # the engine was killed under us: any error ends the writer
            self.error = exc

    def check(self, read: Callable[[int, int], bytes], who: str) -> None:
        for block, allowed in self.allowed.items():
            data = read(block * BLOCK, BLOCK)
            assert data in allowed, f"{who}: block {block} holds data no acknowledged write explains"


@pytest.mark.slow
def test_writes_flushed_before_engine_sigkill_survive(volume_factory: Callable[..., ReplicatedVolume]) -> None:  # noqa: F811
    made = volume_factory(3)
    engine, replicas = made.engine, made.replicas
    writer = FlushedWriter(engine.uri, blocks=1024)
    writer.thread.start()
    wait_for("30 flushed batches", lambda: writer.flushes >= 30 or not writer.thread.is_alive())
    assert writer.thread.is_alive(), f"writer stopped early: {writer.error!r}"
    engine.kill(signal.SIGKILL)
    writer.thread.join(WAIT)
    assert not writer.thread.is_alive() and writer.error is not None
    for replica in replicas:  # every replica acknowledged each FLUSH: each holds the flushed data itself
        with DataClient(replica.data) as client:
            writer.check(client.read, f"replica {replica.control}")
    engine.restart()  # already dead: starts again on the same replicas and ports
    with NbdClient(engine.uri) as client:
        writer.check(client.read, "engine after restart")


@pytest.mark.slow
def test_mounted_filesystem_keeps_working_when_a_replica_dies(volume_factory: Callable[..., ReplicatedVolume],  # noqa: F811
                                                              tmp_path: Path) -> None:
    made = volume_factory(3)
    engine, victim = made.engine, made.replicas[0]
    target, run_dir = tmp_path / "mnt", tmp_path / "blockdev"
    mount_volume(engine.uri, target, FsType.EXT4, run_dir=run_dir)
    try:
        before = write_files(target)
        os.sync()
        victim.kill(signal.SIGKILL)
        after = {}
        for i in range(4):  # written, synced and read back through the filesystem after the failure
            data = random.Random(i).randbytes(512 * 1024)
            (target / f"after-{i}.bin").write_bytes(data)
            after[f"after-{i}.bin"] = hashlib.sha256(data).hexdigest()
        os.sync()
        assert modes(engine)[victim.control] == "ERR"
    finally:
        if mount_at(target) is not None:
            unmount_volume(target)
    mount_volume(engine.uri, target, FsType.EXT4, run_dir=run_dir)
    try:
        hashes = before | after
        assert {name: hashlib.sha256((target / name).read_bytes()).hexdigest() for name in hashes} == hashes
    finally:
        unmount_volume(target)
