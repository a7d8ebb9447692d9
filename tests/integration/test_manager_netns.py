"""A node cut off by the network: its replica goes ERR while I/O goes on, and when the link
comes back the SAME replica (same process, same directory, same address) is brought back
with a delta rebuild. Real ``pronghorn up`` with node3 in its own network namespace joined
to the host by a veth pair (tests/fixtures/netns.py); node1 and node2 listen on the host
end's addresses so that node3 can reach them (its rebuild pulls from a host replica).
First, the supervisor alone: a replica started in the namespace, told apart as cut off
(link down: serving on its node) or hung (stopped).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from manager.instances import replica_key
from manager.netns import NetworkNamespace
from manager.supervisor import Supervisor
from tests.conftest import PRONGHORN
from tests.fixtures.local_cluster import LocalCluster, cluster_factory, wait_for  # noqa: F401
from tests.fixtures.netns import IsolatedNetwork, isolated_network  # noqa: F401
from tests.integration.test_manager_healing import healthy, replica_digest

MiB = 1 << 20
SIZE = 32 * MiB
BEFORE = 24 * MiB  # written with every replica reachable
DURING = 4 * MiB  # written while node3 is cut off
CUT_PASSES_S = 3.0  # the link stays down this much longer: several reconcile passes (0.5 s) see node3 silent
REBUILT = re.compile(r"rebuilt (\S+) from \S+: (\d+) bytes over the network, (\d+) copied locally")


def replica_on(doc: dict[str, Any], node: str) -> dict[str, Any]:
    return next(r for r in doc["replicas"] if r["node"] == node)


def in_namespace(pid: int, namespace: str) -> bool:
    return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/var/run/netns/{namespace}").st_ino


def test_supervisor_runs_a_replica_in_the_namespace_and_tells_cut_off_from_hung(
        isolated_network: IsolatedNetwork, tmp_path: Path) -> None:  # noqa: F811
    net = isolated_network
    sup = Supervisor("node3", tmp_path / "node3", net.ns_address, PRONGHORN, NetworkNamespace(net.namespace))
    key = replica_key("v", "r1")
    try:
        inst = sup.ensure_replica("v", "r1", str(tmp_path / "node3" / "disk" / "v-r1"), 4 * MiB)
        assert in_namespace(inst.pid, net.namespace) and inst.control.startswith(f"{net.ns_address}:")
        assert not sup.hung(key)
        net.link_down()
        assert not sup.hung(key)  # cut off, but serving on its own node
        net.link_up()
        os.kill(inst.pid, signal.SIGSTOP)
        assert sup.hung(key)
        os.kill(inst.pid, signal.SIGKILL)  # (a stopped replica may sit out SIGTERM: stop() would wait 10 s)
        sup.stop(key)
        assert not sup.alive(key) and sup.get(key) is None
    finally:
        net.link_up()
        sup.stop_all()


def test_node_cut_off_by_the_network_comes_back_with_a_delta_rebuild(
        isolated_network: IsolatedNetwork, cluster_factory: Any, tmp_path: Path) -> None:  # noqa: F811
    net = isolated_network
    node1, node2 = net.host_addresses
    cluster: LocalCluster = cluster_factory(3, extra=(
        "--node-address", f"node1={node1}", "--node-address", f"node2={node2}",
        "--netns", f"node3={net.namespace}", "--replica-timeout", "2"))
    cluster.cli("volume", "create", "vol1", "--size", "32Mi", "--replicas", "3")
    cluster.cli("volume", "attach", "vol1", "--node", "node1", "--wait")
    doc = cluster.get("vol1")
    assert doc["endpoint"].startswith(f"nbd://{node1}:")
    assert cluster.instances("node1")["engine:vol1"]["args"][-2:] == ["--replica-timeout", "2.0"]
    cut = replica_on(doc, "node3")
    assert cut["address"].startswith(f"{net.ns_address}:")
    victim = cluster.instances("node3")[f"replica:vol1/{cut['name']}"]
    assert in_namespace(victim["pid"], net.namespace)

    data = tmp_path / "before.bin"
    data.write_bytes(os.urandom(BEFORE))
    subprocess.run(["nbdcopy", str(data), doc["endpoint"]], check=True, timeout=120)
    wait_for("the volume to be healthy", lambda: healthy(cluster, "vol1"))

    during = tmp_path / "during.bin"
    during.write_bytes(os.urandom(DURING))
    writer = subprocess.Popen(["nbdcopy", str(during), doc["endpoint"]], stderr=subprocess.PIPE)
    try:
        net.link_down()  # while the write runs (or just after it: then the next write below finds it)
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        # a second write is certain to find node3 cut off: the engine times it out (2 s), I/O goes on
        subprocess.run(["nbdcopy", str(during), doc["endpoint"]], check=True, timeout=120)
        wait_for("node3's replica to be ERR", lambda: replica_on(cluster.get("vol1"), "node3")["mode"] == "ERR")
        assert cluster.get("vol1")["robustness"] == "degraded"
        time.sleep(CUT_PASSES_S)
        assert cluster.instances("node3")[f"replica:vol1/{cut['name']}"]["pid"] == victim["pid"]
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        net.link_up()

    wait_for("the volume to be healthy again", lambda: healthy(cluster, "vol1"))
    back = replica_on(cluster.get("vol1"), "node3")
    assert (back["name"], back["address"]) == (cut["name"], cut["address"])
    assert len(cluster.get("vol1")["replicas"]) == 3  # none placed elsewhere meanwhile
    assert back["failures"] == 1 and back["rebuild"] == "completed"
    again = cluster.instances("node3")[f"replica:vol1/{cut['name']}"]
    assert again["pid"] == victim["pid"] and again["args"] == victim["args"]  # same process, same directory
    assert "does not answer: stopping it" not in cluster.log_path.read_text()  # no restart churn
    engine_log = (cluster.home / "nodes" / "node1" / "logs" / "engine_vol1.log").read_text()
    rebuilds = [(int(sent), int(local)) for address, sent, local in REBUILT.findall(engine_log)
                if address == cut["address"]]
    assert len(rebuilds) == 1, rebuilds
    from_network, copied_locally = rebuilds[0]
    assert from_network < BEFORE and copied_locally > 0, rebuilds  # a delta, not a full copy

    digests = {key: replica_digest(inst["service"]) for key, inst in cluster.all_instances().items()
               if key.startswith("replica:")}
    assert len(digests) == 3 and len(set(digests.values())) == 1, digests
    copy = tmp_path / "back.bin"
    subprocess.run(["nbdcopy", doc["endpoint"], str(copy)], check=True, timeout=120)
    assert copy.read_bytes()[:BEFORE] == during.read_bytes() + data.read_bytes()[DURING:]
    assert len(cluster.server_processes()) == 4  # three replicas and one engine, no duplicate
