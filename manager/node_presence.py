"""``NodePresence``: a manager's heartbeat, its nodes' Ready condition and disk checks.

Every ``interval`` seconds (a thread, beside the reconcile loop):
1. renews this manager's node leases (``manager.node_lease``): the heartbeat, kept out
   of the event log;
2. for each node this manager runs: marks it Ready if it is not (a manager starting
   up, or one that outlived a lapse), and checks each of its disks that is not yet
   confirmed: the path must exist, be a directory and take a new file. The outcome is
   an event on the Node (DiskConfirmed / DiskCheckFailed), so a disk registered through
   the CLI or REST takes replicas only once its node's manager has seen it;
3. if this manager is the cluster's leader (``manager.leadership``): marks NotReady
   every other Ready node whose lease nobody holds (its manager stopped; after two
   heartbeat intervals, in which a manager whose store restarted retakes its lease)
   or whose heartbeat is older than ``timeout`` (its manager is stuck or cut off);
   on another manager: ends the leader's session if the leader's own heartbeat is
   older than ``timeout`` (a hung leader would keep its lock and decide nothing).
Events are written only when something changes. A failing tick (store down) is logged
and the next one retries; losing a lease to another manager calls ``on_lost``.
Started by ``manager.cli``. ``unstartable`` tells ``manager.reconciler`` which replicas
an engine waits for in vain: never started, on a node that is not Ready.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from domain.application import ControlPlane
from domain.errors import NotFound
from domain.services import Nodes
from domain.values import NotReadyReason, ReplicaMode
from manager.leadership import Leadership
from manager.node_lease import Holder, LeaseHeld, NodeLeases
from projections.desired_engine import DesiredEngine

log = logging.getLogger("pronghorn.manager.presence")

DEFAULT_NODE_TIMEOUT_S = 30.0
MAX_HEARTBEAT_S = 5.0


def disk_problem(path: str) -> str:
    """Why a disk path cannot hold replicas on this machine ("" when it can)."""
    directory = Path(path)
    if not directory.exists():
        return f"{path} does not exist on this node"
    if not directory.is_dir():
        return f"{path} is not a directory"
    probe = directory / f".pronghorn-disk-check-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"{path} is not writable: {exc.strerror or exc}"
    return ""


def unstartable(nodes: Nodes, desired: DesiredEngine) -> list[tuple[str, str]]:
    """(replica, why) for each replica the engine should start with that never had a process
    and sits on a node that is not Ready (or gone): nobody will start it until that node's
    manager is back, so it is no RW replica (``manager.reconciler`` records it failed)."""
    out = []
    for member in desired.replicas:
        if member.name not in desired.start_with or member.address or member.mode == ReplicaMode.ERR:
            continue
        try:
            node = nodes.get(member.node)
            why = "" if node.ready else node.ready_message
        except NotFound:
            why = "no longer registered"
        if why:
            out.append((member.name, f"not started: node {member.node} is not Ready ({why})"[:1000]))
    return out


class NodePresence:
    def __init__(self, app: ControlPlane, leases: NodeLeases, nodes: list[str], holder: Holder,
                 leadership: Leadership, timeout: float = DEFAULT_NODE_TIMEOUT_S,
                 on_lost: Callable[[LeaseHeld], None] = lambda _: None) -> None:
        self.nodes = Nodes(app)
        self.leases = leases
        self.own = list(nodes)
        self.holder = holder
        self.leadership = leadership
        self.timeout = timeout
        self.interval = min(MAX_HEARTBEAT_S, timeout / 3)
        self.on_lost = on_lost
        self.lost: LeaseHeld | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="node-presence", daemon=True)

    def start(self) -> None:
        """Mark this manager's nodes Ready and check their disks now, then keep at it."""
        for node in self.own:
            self._tend(node)
        self.thread.start()

    def close(self) -> None:
        """Stop heartbeating; mark this manager's nodes NotReady (unless their lease was lost)."""
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
        if self.lost is not None:
            return
        for name in self.own:
            try:
                self.nodes.mark_not_ready(name, NotReadyReason.MANAGER_STOPPED,
                                          f"the manager of {name} stopped ({self.holder.describe()})")
            except Exception as exc:  # noqa: BLE001 - stopping anyway; the leader notices the free lease
                log.warning("node %s: could not record that its manager stopped: %s", name, exc)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            self.tick()

    def tick(self) -> None:
        try:
            self.leases.renew()
        except LeaseHeld as exc:
            log.error("lost the lease of node %s: %s", exc.node, exc)
            self.lost = exc
            self.stop.set()
            self.on_lost(exc)
            return
        except Exception as exc:  # noqa: BLE001 - the store may be down: the next tick retries
            log.warning("node heartbeat failed: %s", exc)
            return
        for node in self.own:
            self._tend(node)
        if self.leadership.leading:
            self._watch_others()
            return
        try:
            deposed = self.leases.depose_silent_leader(self.timeout)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not check the leader's heartbeat: %s", exc)
            return
        if deposed:
            log.warning("deposed the leader: no heartbeat from the manager of %s for %.0f s", deposed, self.timeout)

    def _tend(self, name: str) -> None:
        try:
            node = self.nodes.get(name)
            if not node.ready:
                self.nodes.mark_ready(name, f"the manager of {name} runs ({self.holder.describe()})")
                log.info("node %s: Ready", name)
            for path in node.disks:
                if node.disk_confirmed(path):
                    continue
                problem = disk_problem(path)
                if problem:
                    if (path, problem) not in node.disk_problems:
                        log.warning("node %s: disk %s not usable: %s", name, path, problem)
                    self.nodes.fail_disk_check(name, path, problem)
                else:
                    self.nodes.confirm_disk(name, path)
                    log.info("node %s: disk %s confirmed", name, path)
        except NotFound:
            pass  # removed meanwhile
        except Exception as exc:  # noqa: BLE001 - a store error: the next tick retries
            log.warning("node %s: could not record its state: %s", name, exc)

    def _watch_others(self) -> None:
        try:
            names = self.nodes.names()
        except Exception as exc:  # noqa: BLE001
            log.warning("could not list nodes: %s", exc)
            return
        for name in names:
            if name in self.own:
                continue
            try:
                node = self.nodes.get(name)
                if not node.ready:
                    continue
                presence = self.leases.presence(name)
                # a free lease with a recent heartbeat: its manager may be retaking it (store restarted)
                if not presence.held and (presence.age is None or presence.age > 2 * self.interval):
                    reason, message = NotReadyReason.MANAGER_STOPPED, \
                        f"the manager of {name} stopped (no manager holds its lease)"
                elif presence.age is not None and presence.age > self.timeout:
                    reason, message = NotReadyReason.HEARTBEAT_LAPSED, \
                        f"no heartbeat from the manager of {name} for {presence.age:.0f} s"
                else:
                    continue
                self.nodes.mark_not_ready(name, reason, message)
                log.warning("node %s: NotReady: %s", name, message)
            except NotFound:
                continue
            except Exception as exc:  # noqa: BLE001
                log.warning("node %s: could not check its presence: %s", name, exc)
