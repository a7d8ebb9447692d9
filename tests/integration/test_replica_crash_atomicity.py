"""SIGKILL a process running chain edits at random moments; the chain reopens whole.

The child (this module run as a script) applies a fixed sequence of writes,
snapshots, mark-removed + purge (coalesce, prune, delete) and reverts to a
replica directory, printing the index of each finished step. The parent kills
it at a random moment (spread over the workload), reopens the directory and checks the chain is
consistent and the volume equals the state after the last finished step or
the one after it (the step in progress happened entirely or not at all).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from replica import chain_edits
from replica.chain import SparseFileChain

S = 4096
SECTORS = 64
STEPS = 60


def steps() -> list[tuple[str, object]]:
    """The workload: ("write", (first sector, bytes)), ("snapshot", name), ("remove", pick), ("revert", None)."""
    rng = random.Random(7)
    out: list[tuple[str, object]] = []
    for i in range(STEPS):
        kind = i % 6
        if kind in (0, 3):
            count = rng.randrange(1, 8)
            out.append(("write", (rng.randrange(SECTORS - 8), bytes([i % 250 + 1]) * (count * S))))
        elif kind in (1, 4):
            out.append(("snapshot", f"s{i}"))
        elif kind == 2:
            out.append(("remove", rng.random()))
        else:
            out.append(("revert", None))
    return out


class Workload:
    """Applies steps to a model and, if given, to a chain."""

    def __init__(self, chain: SparseFileChain | None) -> None:
        self.chain = chain
        self.model = bytearray(SECTORS * S)
        self.live: list[str] = []
        self.saved: dict[str, bytes] = {}

    def apply(self, kind: str, arg: object) -> None:
        chain = self.chain
        if kind == "write":
            first, fill = arg  # type: ignore[misc]
            if chain is not None:
                chain.write(fill, first * S)
            self.model[first * S : first * S + len(fill)] = fill
        elif kind == "snapshot":
            if chain is not None:
                chain_edits.snapshot(chain, str(arg))
            self.live.append(str(arg))
            self.saved[str(arg)] = bytes(self.model)
        elif kind == "remove" and len(self.live) >= 2:
            name = self.live.pop(int(float(arg) * (len(self.live) - 1)))  # type: ignore[arg-type]  # never the newest
            if chain is not None:
                chain_edits.mark_removed(chain, name)
                chain_edits.purge(chain)
        elif kind == "revert" and self.live:
            if chain is not None:
                chain_edits.revert(chain, self.live[-1])
            self.model[:] = self.saved[self.live[-1]]


def states() -> list[bytes]:
    """Volume content before the first step and after each step."""
    work = Workload(None)
    out = [bytes(work.model)]
    for kind, arg in steps():
        work.apply(kind, arg)
        out.append(bytes(work.model))
    return out


def child(directory: str) -> None:
    work = Workload(SparseFileChain.open_or_create(Path(directory), SECTORS * S))
    print("ready", flush=True)
    for i, (kind, arg) in enumerate(steps()):
        work.apply(kind, arg)
        print(i + 1, flush=True)
    time.sleep(60)


@pytest.mark.parametrize("trial", range(8))
def test_sigkill_during_chain_edits_leaves_old_or_new_state(tmp_path: Path, trial: int) -> None:
    expected = states()
    done: list[int] = []
    proc = subprocess.Popen([sys.executable, __file__, str(tmp_path / "r")], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        rng = random.Random(trial)
        target = rng.randrange(STEPS * trial // 8, STEPS * (trial + 1) // 8)  # spread kills over the run
        while not done or done[-1] < target:
            done.append(int(proc.stdout.readline()))
        time.sleep(rng.uniform(0.0, 0.03))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done += [int(line) for line in proc.stdout.read().split()]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    last = done[-1] if done else 0
    print(f"killed after step {last} of {STEPS}")
    chain = SparseFileChain(tmp_path / "r")
    try:
        buf = bytearray(SECTORS * S)
        chain.read_into(memoryview(buf), 0)
        candidates = {last, min(last + 1, len(expected) - 1)}
        assert any(bytes(buf) == expected[k] for k in candidates), f"killed after step {last}: data matches neither"
        meta = chain.meta
        for snap in meta.snapshots:
            assert snap.parent == "" or meta.snapshot(snap.parent) is not None
            assert (tmp_path / "r" / f"volume-snap-{snap.name}.img").exists()
        files = {p.name for p in (tmp_path / "r").iterdir() if p.name.endswith(".img")}
        assert files == {meta.head} | {f"volume-snap-{s.name}.img" for s in meta.snapshots}
        assert not meta.pending
    finally:
        chain.close()


if __name__ == "__main__":
    child(sys.argv[1])
