"""Two node managers (``pronghorn manager``) cooperating through one PostgreSQL store: each
starts only its own node's processes; the leader makes the placement decisions. A replica
SIGKILLed on node2 is restarted by node2's manager and rebuilt by node1's (the engine's).
Leadership is a PostgreSQL advisory lock: exactly one leads; when it dies the other takes over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import PRONGHORN
from tests.fixtures.local_cluster import LocalCluster, wait_for
from tests.integration.test_manager_healing import replica_digest

MiB = 1 << 20


class NodeManager(LocalCluster):
    """One ``pronghorn manager`` process (reuses LocalCluster's process-table and cleanup helpers)."""

    store: str = ""
    node: str = ""

    def start(self) -> NodeManager:
        self.starts += 1
        args = [PRONGHORN, "manager", "--store", self.store, "--node", self.node, "--home", str(self.home),
                "--address", f"127.0.1.{self.node[-1]}", "--interval", "0.5", *self.extra]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def cli(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        if args and args[0] not in ("down",):
            args = (*args, "--store", self.store)
        return super().cli(*args, check=check, timeout=timeout)


@contextmanager
def node_managers(store: str, base: Path, extra: tuple[str, ...] = ()) -> Iterator[list[NodeManager]]:
    """Managers of node1 and node2 on ``store`` (``extra``: more `pronghorn manager` options)."""
    started = []
    try:
        for index in (1, 2):
            manager = NodeManager(base / f"home{index}", nodes=1, extra=extra)
            manager.home.mkdir()
            manager.store, manager.node = store, f"node{index}"
            started.append(manager.start())
        yield started
    finally:
        for manager in started:
            manager.cleanup()


@pytest.fixture
def managers(postgres_url: str, tmp_path: Path) -> Iterator[list[NodeManager]]:
    with node_managers(postgres_url, tmp_path) as started:
        yield started


@pytest.mark.postgres
def test_two_managers_share_a_postgres_store(managers: list[NodeManager], tmp_path: Path) -> None:
    one, two = managers
    wait_for("both nodes to register", lambda: len(json.loads(one.cli("node", "ls", "--json").stdout)) == 2)
    one.cli("volume", "create", "pgvol", "--size", "16Mi", "--replicas", "2")
    one.cli("volume", "attach", "pgvol", "--node", "node1", "--wait")
    doc = json.loads(one.cli("volume", "get", "pgvol", "--json").stdout)
    assert doc["endpoint"].startswith("nbd://127.0.1.1:")
    assert {r["node"] for r in doc["replicas"]} == {"node1", "node2"}
    assert set(two.instances("node2")) == {next(f"replica:pgvol/{r['name']}" for r in doc["replicas"]
                                                if r["node"] == "node2")}  # node2 runs only its replica
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(16 * MiB))
    subprocess.run(["nbdcopy", str(data), doc["endpoint"]], check=True, timeout=120)

    (key, victim), = two.instances("node2").items()
    os.killpg(victim["pid"], signal.SIGKILL)

    def healed() -> bool:
        now = json.loads(one.cli("volume", "get", "pgvol", "--json").stdout)
        failures = {r["node"]: r["failures"] for r in now["replicas"]}
        return (now["robustness"] == "healthy" and all(r["mode"] == "RW" for r in now["replicas"])
                and failures["node1"] == 0 and failures["node2"] >= 1)

    wait_for("node2's replica to be failed, restarted and rebuilt", healed)
    leaders = [m for m in managers if "cluster's leader" in m.log_path.read_text()]
    assert len(leaders) == 1  # elected through a PostgreSQL advisory lock

    leaders[0].kill_manager(signal.SIGKILL)  # its connection closes: the other manager takes over
    other = next(m for m in managers if m is not leaders[0])
    wait_for("the other manager to lead", lambda: "cluster's leader" in other.log_path.read_text())
    digests = {replica_digest(inst["service"], 16 * MiB)
               for m in managers for inst in m.instances(m.node).values() if inst["kind"] == "replica"}
    assert len(digests) == 1
