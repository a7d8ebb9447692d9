"""A volume whose replica waits on a node whose manager is gone says so, in its events and in
``replay --explain``. Real managers, one per node, on PostgreSQL (as tests/integration/
test_node_presence.py runs them); node2's manager is SIGKILLed before it ever started its replica.
"""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest

from tests.fixtures.local_cluster import wait_for
from tests.integration.test_manager_postgres import NodeManager
from tests.integration.test_node_presence import nodes, pg_managers  # noqa: F401


@pytest.mark.postgres
def test_a_replica_on_a_node_whose_manager_is_gone_is_explained_by_that_node(
        pg_managers: list[NodeManager]) -> None:  # noqa: F811
    one, two = pg_managers
    wait_for("both nodes Ready", lambda: [d["ready"] for d in nodes(one).values()] == [True, True])
    one.cli("volume", "create", "v", "--size", "16Mi", "--replicas", "2")  # one replica on each node
    two.kill_manager(signal.SIGKILL)
    wait_for("node2 NotReady", lambda: not nodes(one)["node2"]["ready"])
    one.cli("volume", "attach", "v", "--node", "node1", "--wait", "--timeout", "60")
    doc = one.get("v")
    victim = next(r["name"] for r in doc["replicas"] if r["node"] == "node2")

    found: list[dict[str, Any]] = json.loads(one.cli("events", "v", "--json", "--aggregate", f"Replica/{victim}",
                                                     "--type", "Failed").stdout)
    assert found[0]["data"]["failure"]["code"] == "NodeNotReady"
    assert found[0]["data"]["failure"]["reason"].startswith("not started: node node2 is not Ready")

    explained = one.cli("replay", "v", "--explain").stdout
    assert f"replica {victim} is ERR, because:" in explained
    assert f"replica {victim} waits on node node2, which is not ready, because:" in explained
    assert "node node2 was declared not ready: " in explained
