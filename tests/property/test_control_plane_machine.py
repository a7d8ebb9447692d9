"""The control plane as a hypothesis state machine against a real local cluster.

A real ``pronghorn up`` (manager, launcher, engine and replica processes, SQLite
store) is driven through the real ``pronghorn`` CLI: volumes are created,
attached, written through NBD, snapshotted, reverted, expanded, detached and
deleted; nodes are cordoned and uncordoned; a node no manager runs is registered and
removed; the SQLite store is locked away from everyone for a few seconds (an
outage); the manager is killed with SIGKILL and restarted, also right after a command
it has yet to carry out. A model keeps
what every acknowledged (flushed) write put where, per volume and per snapshot.
After every step, once the cluster has settled, these invariants must hold:

- no two live processes serve one replica directory;
- no replica is placed on a cordoned node, or on a node whose manager never ran;
- the manager process outlives every outage of the store;
- no attached volume is reported healthy while one of its RW replicas has no live process;
- every acknowledged write reads back (checksums of the model's blocks, through NBD);
- a volume that has not settled into attached/detached names what it waits for
  in a condition.

The default run is short (a couple of examples) so ``make test`` stays quick;
``PRONGHORN_MACHINE_EXAMPLES=N`` runs a longer soak.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, multiple, rule

from tests.fixtures.local_cluster import LocalCluster
from tests.fixtures.nbd_client import NbdClient

BLOCK = 4096
MiB = 1 << 20
NODES = ("node1", "node2", "node3")
SETTLE_S = 60.0
EXAMPLES = int(os.environ.get("PRONGHORN_MACHINE_EXAMPLES", "2"))
STEPS = int(os.environ.get("PRONGHORN_MACHINE_STEPS", "14"))
SETTLED = ("attached", "detached")

pytestmark = [pytest.mark.slow, pytest.mark.soak]


class VolumeModel:
    """What the cluster must hold for one volume: its blocks (offset -> sha256) and its snapshots'."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.blocks: dict[int, str] = {}
        self.snapshots: dict[str, dict[int, str]] = {}
        self.node = ""  # attached to, or ""


class ControlPlaneMachine(RuleBasedStateMachine):
    volumes = Bundle("volumes")

    def __init__(self) -> None:
        super().__init__()
        self.base = Path(tempfile.mkdtemp(prefix="ph-machine-"))
        self.cluster = LocalCluster(self.base / "home")
        self.cluster.home.mkdir()
        self.cluster.start()
        self.model: dict[str, VolumeModel] = {}
        self.count = 0
        self.cordoned: set[str] = set()
        self.strangers: set[str] = set()  # registered nodes no manager runs for

    def teardown(self) -> None:
        self.cluster.cleanup()

    # -- helpers -------------------------------------------------------------------------

    def _cli(self, *args: str, allowed: tuple[int, ...] = (0,)) -> Any:
        done = self.cluster.cli(*args, check=False)
        assert done.returncode in allowed, f"pronghorn {' '.join(args)} -> {done.returncode}: {done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def _document(self, name: str) -> dict[str, Any]:
        return self.cluster.get(name)

    def _endpoint(self, volume: VolumeModel) -> str:
        endpoint: str = self._document(volume.name)["endpoint"]
        assert endpoint.startswith("nbd://"), endpoint
        return endpoint

    # -- rules ---------------------------------------------------------------------------

    @rule(target=volumes, size_mib=st.sampled_from([4, 8, 16]), replicas=st.integers(1, 3))
    def create(self, size_mib: int, replicas: int) -> Any:
        self.count += 1
        name = f"m{self.count}"
        created = self._cli("volume", "create", name, "--size", f"{size_mib}Mi", "--replicas", str(replicas),
                            allowed=(0, 6) if self.cordoned else (0,))
        if created.returncode == 6:  # too few schedulable nodes left: nothing was written
            assert name not in [v["name"] for v in json.loads(self.cluster.cli("volume", "ls", "--json").stdout)]
            return multiple()
        placed = {r["node"] for r in self._document(name)["replicas"]}
        assert not placed & (self.cordoned | self.strangers), f"{name} placed on {placed}"
        self.model[name] = VolumeModel(name, size_mib * MiB)
        return name

    @rule(name=volumes, node=st.sampled_from(NODES))
    def attach(self, name: str, node: str) -> None:
        volume = self.model.get(name)
        if volume is None:
            return
        if volume.node and volume.node != node:
            self._cli("volume", "attach", name, "--node", node, allowed=(4, 5))
            return
        self._cli("volume", "attach", name, "--node", node, "--wait")
        volume.node = node

    @rule(name=volumes, seed=st.integers(0, 2**32 - 1), count=st.integers(1, 8))
    def write(self, name: str, seed: int, count: int) -> None:
        volume = self.model.get(name)
        if volume is None or not volume.node:
            return
        rng = random.Random(seed)
        writes = []
        for _ in range(count):
            offset = rng.randrange(volume.size // BLOCK) * BLOCK
            writes.append((offset, rng.randbytes(BLOCK)))
        with NbdClient(self._endpoint(volume)) as client:
            client.write_batch(writes)
            client.flush()
        for offset, data in writes:  # acknowledged and flushed: must never be lost
            volume.blocks[offset] = hashlib.sha256(data).hexdigest()

    @rule(name=volumes, node=st.sampled_from(NODES), verb=st.sampled_from(["attach", "snapshot", "detach"]))
    def command_then_manager_killed(self, name: str, node: str, verb: str) -> None:
        """A command is recorded, the manager is SIGKILLed before (or while) carrying it out and is
        started again: the restarted manager finishes it."""
        volume = self.model.get(name)
        if volume is None or (verb == "attach") == bool(volume.node) or (verb == "snapshot" and not volume.node):
            return
        if verb == "attach":
            self._cli("volume", "attach", name, "--node", node)
        elif verb == "snapshot":
            snap = f"s{len(volume.snapshots) + 1}"
            self._cli("snapshot", "create", name, snap)
        else:
            self._cli("volume", "detach", name)
        self.cluster.kill_manager(signal.SIGKILL)
        self.cluster.start()
        if verb == "attach":
            self._wait_for(f"{name} attached", lambda: self._document(name)["state"] == "attached")
            volume.node = node
        elif verb == "snapshot":
            self._wait_for(f"{name}'s snapshot {snap}",
                           lambda: snap in [s["name"] for s in self._document(name)["snapshots"]])
            volume.snapshots[snap] = dict(volume.blocks)
        else:
            self._wait_for(f"{name} detached", lambda: self._document(name)["state"] == "detached")
            volume.node = ""

    @rule(name=volumes)
    def detach(self, name: str) -> None:
        volume = self.model.get(name)
        if volume is None or not volume.node:
            return
        self._cli("volume", "detach", name, "--wait")
        volume.node = ""

    @rule(name=volumes)
    def snapshot(self, name: str) -> None:
        volume = self.model.get(name)
        if volume is None or not volume.node:
            return
        snap = f"s{len(volume.snapshots) + 1}"
        self._cli("snapshot", "create", name, snap, "--wait")
        volume.snapshots[snap] = dict(volume.blocks)

    @rule(name=volumes, pick=st.integers(0, 10))
    def revert(self, name: str, pick: int) -> None:
        volume = self.model.get(name)
        if volume is None or not volume.node or not volume.snapshots:
            return
        snap = sorted(volume.snapshots)[pick % len(volume.snapshots)]
        self._cli("snapshot", "revert", name, snap, "--wait")
        volume.blocks = dict(volume.snapshots[snap])

    @rule(name=volumes, grow_mib=st.sampled_from([4, 8]))
    def expand(self, name: str, grow_mib: int) -> None:
        volume = self.model.get(name)
        if volume is None:
            return
        new_size = volume.size + grow_mib * MiB
        self._cli("volume", "expand", name, "--size", str(new_size))
        volume.size = new_size
        self._wait_for(f"{name} to reach {new_size} bytes", lambda: self._document(name)["size"] == new_size)

    @rule(name=consumes(volumes))
    def delete(self, name: str) -> None:
        volume = self.model.pop(name, None)
        if volume is None:
            return
        if volume.node:
            self._cli("volume", "detach", name, "--wait")
        self._cli("volume", "delete", name, "--wait")

    @rule(node=st.sampled_from(NODES))
    def cordon(self, node: str) -> None:
        self._cli("node", "cordon", node)
        self.cordoned.add(node)

    @rule(node=st.sampled_from(NODES))
    def uncordon(self, node: str) -> None:
        self._cli("node", "uncordon", node)
        self.cordoned.discard(node)

    @rule(number=st.integers(1, 2))
    def register_stranger(self, number: int) -> None:
        """A node whose manager never runs: registered, never Ready, so it takes no replica."""
        name = f"stranger{number}"
        disk = self.base / name
        disk.mkdir(exist_ok=True)
        self._cli("node", "add", name, "--address", f"127.0.2.{number}", "--disk", f"{disk}:10Gi",
                  allowed=(4,) if name in self.strangers else (0,))
        self.strangers.add(name)

    @rule(number=st.integers(1, 2))
    def remove_stranger(self, number: int) -> None:
        name = f"stranger{number}"
        self._cli("node", "rm", name, allowed=(0,) if name in self.strangers else (3,))
        self.strangers.discard(name)

    @rule(seconds=st.sampled_from([1.0, 4.0]))
    def store_outage(self, seconds: float) -> None:
        """Nobody can write the store for a while (an exclusive lock held by another process)."""
        db = sqlite3.connect(self.cluster.home / "events.sqlite", timeout=30, isolation_level=None)
        try:
            db.execute("BEGIN EXCLUSIVE")
            time.sleep(seconds)
            assert self.cluster.proc is not None and self.cluster.proc.poll() is None, "the manager exited"
            db.execute("ROLLBACK")
        finally:
            db.close()

    @rule()
    def restart_manager(self) -> None:
        self.cluster.kill_manager(signal.SIGKILL)
        self.cluster.start()

    # -- invariants ----------------------------------------------------------------------

    def _wait_for(self, what: str, predicate: Any) -> None:
        deadline = time.monotonic() + SETTLE_S
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.2)

    def _settled(self) -> bool:
        documents = [self._document(name) for name in self.model]
        return all(d["state"] in SETTLED and all(r["mode"] == "RW" for r in d["replicas"]) for d in documents)

    @invariant()
    def cluster_is_consistent(self) -> None:
        deadline = time.monotonic() + SETTLE_S
        while not self._settled() and time.monotonic() < deadline:
            time.sleep(0.3)
        self._one_process_per_replica_directory()
        assert self.cluster.proc is not None and self.cluster.proc.poll() is None, "the manager exited"
        for name, volume in self.model.items():
            document = self._document(name)
            if document["state"] not in SETTLED:
                assert document["conditions"] and any(
                    c["message"] for c in document["conditions"] if c["type"] != "Scheduled"
                ), f"{name} is {document['state']} with no condition saying what it waits for: {document}"
            self._healthy_means_serving(document)
            assert document["state"] == ("attached" if volume.node else "detached"), document
            if volume.node:
                self._acknowledged_writes_read_back(volume)

    def _one_process_per_replica_directory(self) -> None:
        seen: dict[str, int] = {}
        for pid, argv in self.cluster.server_processes().items():
            if "replica" not in argv or "--dir" not in argv:
                continue
            directory = os.path.realpath(argv[argv.index("--dir") + 1])
            assert directory not in seen, f"two replica processes ({seen[directory]}, {pid}) on {directory}"
            seen[directory] = pid

    def _healthy_means_serving(self, document: dict[str, Any]) -> None:
        if document["robustness"] != "healthy" or document["state"] != "attached":
            return  # a detached volume's replicas are stopped; their modes are the last known
        for replica in document["replicas"]:
            if replica["mode"] != "RW":
                continue
            instance = self.cluster.instances(replica["node"]).get(f"replica:{document['name']}/{replica['name']}")
            assert instance is not None, f"{document['name']} healthy, but {replica['name']} has no process"
            assert _alive(instance["pid"]), f"{document['name']} healthy, but {replica['name']}'s process is gone"

    def _acknowledged_writes_read_back(self, volume: VolumeModel) -> None:
        with NbdClient(self._endpoint(volume)) as client:
            for offset, digest in sorted(volume.blocks.items()):
                data = client.read(offset, BLOCK)
                assert hashlib.sha256(data).hexdigest() == digest, f"{volume.name}: block at {offset} lost"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


ControlPlaneMachine.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
    phases=[Phase.generate], suppress_health_check=list(HealthCheck),
)
TestControlPlane = ControlPlaneMachine.TestCase
