"""``Reconciler``: one level-triggered pass brings this manager's nodes to the desired state.

Every pass catches up an in-memory read model of the volumes' aggregates with the
store's log (projections/desired_engines.py: loaded once, then only new events are
read), takes each volume's desired engine state from it, and for the volumes that
need it (``manager.attention``: news, not settled, a process exited, a failed
reconcile, or reached by the round-robin sweep — every volume when there are few)
compares that with what the local supervisors and the engine report, acts on the
difference and records outcomes as events through the domain services. Nothing is
remembered between passes that the store cannot rebuild (the model) but running
rebuild threads, so a restarted manager simply resumes. Per volume:

- processes should run (attaching/attached): each local replica process is
  ensured (``manager.replica_processes``); one that died is recorded ``Failed`` (ERR,
  with how it ended), taken out of the engine,
  restarted on its old address and rebuilt (a delta: it keeps its data). The
  engine is ensured on its node with the RW replicas (all of them when none is
  RW: the engine keeps the freshest: auto-salvage; a replica never started on a node
  that is not Ready is recorded failed first); once it serves, ``Attached``
  is recorded with its ``nbd://`` endpoint. Replicas the engine reports ERR are
  recorded failed and rebuilt; a replica the engine lacks is rebuilt
  (``manager.rebuilds``); an engine starts at the size its replicas hold and grows
  to the volume's (``manager.expansion``: a refusal is recorded, the engine keeps
  its size); snapshot intents
  are carried out (``manager.snapshot_work``); on the leader, replicas that stay
  failed are replaced and stale ones removed (``manager.replenishment``).
- deleting: this node's replicas are stopped, wiped and recorded removed; the
  last one records the volume ``Deleted`` (``manager.deletion``).
- otherwise: the engine and replica processes are stopped and a detaching
  volume is recorded ``Detached``.
Finally processes no live volume wants are stopped, and replica directories of
replicas the log says were removed are deleted (``manager.deletion``: anything else
under ``replicas/`` is left alone and reported once). Called by ``manager.loop``.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial

from domain.application import ControlPlane
from domain.causation import last_saved
from domain.errors import DomainError
from domain.replica import Replica
from domain.services import Nodes, Replicas, Volumes
from domain.values import Reason, ReasonCode, ReplicaMode, VolumeState
from domain.volume import Volume
from engine.client import EngineClient
from engine.errors import EngineError
from manager import failure_reasons
from manager.attention import SWEEP, Attention, wanted_processes
from manager.deletion import DirectoryCollector, remove_local_replicas
from manager.expansion import Expansion, start_size
from manager.instances import engine_key, replica_key
from manager.node_presence import unstartable
from manager.rebuilds import Rebuilds
from manager.replenishment import ReplicaPolicy, remove_stale, replenish
from manager.replica_processes import PROBE_TIMEOUT_S, ReplicaProcesses, one_line
from manager.snapshot_work import carry_out
from manager.supervisor import StartFailed, Supervisor
from projections.desired_engine import DesiredEngine, DesiredReplica, Finish, desired_engine
from projections.desired_engines import DesiredEngines
from proto import engine_pb2 as pb
from replica.client import ControlClient
from replica.errors import ReplicaError

log = logging.getLogger("pronghorn.manager.reconciler")

STATUS_TIMEOUT_S = 5.0

EngineClientFactory = Callable[[str, float], EngineClient]  # (control address, timeout) -> client


def _answers(address: str) -> bool:
    """Whether a replica's control service answers (probed before rebuilding a remote one)."""
    try:
        with ControlClient(address, timeout=PROBE_TIMEOUT_S) as client:
            client.get_info()
    except ReplicaError:
        return False
    return True


class Reconciler:
    def __init__(self, app: ControlPlane, supervisors: dict[str, Supervisor], rebuilds: Rebuilds,
                 policy: ReplicaPolicy | None = None, leader: bool = True,
                 engine_client: EngineClientFactory = EngineClient, sweep: int = SWEEP) -> None:
        self.app = app
        self.model = DesiredEngines(app)  # volumes' aggregates in memory, following the store's log
        self.loaded = False
        self.attention = Attention(supervisors, sweep)  # which volumes a pass reconciles
        self.engine_client = engine_client  # a seam: bench/manager_scale.py simulates the data plane
        self.policy = policy or ReplicaPolicy()
        self.leader = leader  # makes the cluster-wide decisions (placing, removing replicas)
        self.supervisors = supervisors
        self.rebuilds = rebuilds
        self.volumes = Volumes(app)
        self.replicas = Replicas(app)
        self.nodes = Nodes(app)
        self.expansion = Expansion(self.volumes)
        self.directories = DirectoryCollector(self.replicas, self.nodes)  # removes only what the log removed
        self.processes = ReplicaProcesses(self.replicas, supervisors, self._remove_from_engine)

    def run_pass(self) -> None:
        if not self.loaded:
            self.model.load()  # a (re)started manager reads every volume once, then follows the log
            self.loaded = True
        self.model.catch_up()
        names = self.model.names()
        due, wrapped = self.attention.plan(names, self.model.take_changed())
        wanted: set[tuple[str, str]] = set()  # (node, instance key)
        complete = True  # every volume was read and reconciled: directories may be collected
        for name in names:
            try:
                desired, volume = self.model.desired(name), self.model.volume(name)
                busy = name in due or volume.state == VolumeState.DELETING  # deletions: every pass
                resting = None if busy else self.attention.at_rest(name, desired)
                if resting is not None:  # settled, no news: an earlier pass compared it with what runs
                    wanted |= resting
                    continue
                wanted |= self._volume(volume, desired)
            except (DomainError, EngineError, ReplicaError, StartFailed) as exc:
                log.warning("volume %s: %s", name, exc)
                complete = False
                self.attention.retry.add(name)
                wanted |= {(node, key) for node, sup in self.supervisors.items()
                           for key in sup.keys() if key.split(":", 1)[1].split("/")[0] == name}
        live_dirs = None
        if complete and wrapped:  # once a sweep round: it lists every replica directory
            live_dirs = {r.data_dir for name in names for r in self.model.desired(name).replicas}
        self._collect(wanted, live_dirs)

    # -- one volume ------------------------------------------------------------------

    def _volume(self, volume: Volume, desired: DesiredEngine) -> set[tuple[str, str]]:
        if not desired.run:
            if volume.state == VolumeState.DELETING:
                remove_local_replicas(self.volumes, self.replicas, volume, self.supervisors)
                return set()
            for sup in self.supervisors.values():
                sup.stop(engine_key(volume.name))
            if desired.finish == Finish.DETACH and (not volume.node or volume.node in self.supervisors):
                self.volumes.detached(volume.name)  # the engine's own node records it
            return set()
        wanted = wanted_processes(desired, self.supervisors)
        engine = self.supervisors.get(desired.engine_node)
        if engine is not None:
            self._stop_engines_except(volume.name, desired.engine_node)
        if self._all_running(volume.name, desired):
            for member in desired.replicas:  # nothing to start: no threads
                self.processes.ensure(volume, member, engine)
        else:
            with ThreadPoolExecutor(max_workers=len(desired.replicas)) as pool:  # processes start in parallel
                # each thread acts as this one does (contextvars are not inherited by pool threads)
                for started in [pool.submit(contextvars.copy_context().run, self.processes.ensure, volume, member, engine)
                                for member in desired.replicas]:
                    started.result()
        if engine is None:
            return wanted
        self.model.catch_up(if_saved=True)  # what the replicas' start recorded
        desired = desired_engine(self.model.volume(volume.name),
                                 [r for r in self.model.replicas(volume.name) if desired.replica(r.name)])
        self._engine(volume, desired, engine)
        if self.leader:
            self.model.catch_up(if_saved=True)
            volume = self.model.volume(volume.name)
            members = self.model.replicas(volume.name)
            now = datetime.now(UTC)
            remove_stale(self.replicas, volume, members, now)
            replenish(self.replicas, volume, members, self.policy, now)
        return wanted

    def _engine(self, volume: Volume, desired: DesiredEngine, sup: Supervisor) -> None:
        key = engine_key(volume.name)
        if not sup.alive(key):
            addresses = [r.address for r in desired.replicas if r.name in desired.start_with and r.address]
            if len(addresses) < len(desired.start_with):
                for name, why in unstartable(self.nodes, desired):  # their node's manager is gone: the
                    self.replicas.fail(volume.name, name, Reason(ReasonCode.NODE_NOT_READY, why))  # engine starts
                    # without them
                return  # some replicas not started yet (another node's manager)
            starting = [r for r in desired.replicas if r.name in desired.start_with]
            sup.ensure_engine(volume.name, start_size(starting, self.supervisors, volume.size), addresses)
            started = set(desired.start_with)  # their modes now come from the engine's start-up check
        else:
            started = set()
        inst = sup.get(key)
        assert inst is not None
        with self.engine_client(inst.control, STATUS_TIMEOUT_S) as client:
            status = client.status()
            grown = started and status.size < volume.size
            if grown:  # expanded while detached: grown before Attached
                self.expansion.reconcile(volume, status.size, client)
                status = client.status()
            if desired.finish == Finish.ATTACH:
                self.volumes.attached(volume.name, f"nbd://{inst.service}", inst.control)
            in_engine = set()
            for reported in status.replicas:
                member = desired.by_address(reported.address)
                if member is None:
                    if not status.rebuilding:
                        client.remove_replica(reported.address)  # not ours any more
                    continue
                in_engine.add(member.name)
                self._sync_mode(volume.name, member, reported, client, member.name in started)
            if not status.rebuilding and not grown:  # after the modes are recorded: an expand may fail
                self.expansion.reconcile(volume, status.size, client)
            if not status.rebuilding:
                carry_out(self.app, volume.name, client, self.model.chain(volume.name))
        for member in desired.replicas:
            if member.name in in_engine or not member.address or self.rebuilds.busy(volume.name, member.name):
                continue
            local = self.supervisors.get(member.node)
            key = replica_key(volume.name, member.name)
            if local is not None and not local.alive(key):
                continue  # its process is not up (yet): nothing to rebuild into
            if not _answers(member.address):
                if local is not None and local.hung(key):  # stopped, or silent on its node too: restarted next pass
                    self.processes.stop_silent(volume.name, member, local)
                continue  # cut off by the network, or remote: rebuilt once it answers (a delta)
            if self.rebuilds.start(volume.name, member.name, member.node, inst.control, member.address,
                                   self._reasons(volume.name, member, ReasonCode.REBUILD_FAILED),
                                   self.processes.rebuild_cause.get(key, 0)):
                self.processes.rebuild_cause.pop(key, None)

    def _engine_reason(self, volume: str, member: DesiredReplica, error: str) -> Reason:
        return self._reasons(volume, member)(one_line(error) if error else "")

    def _reasons(self, volume: str, member: DesiredReplica,
                 code: ReasonCode = ReasonCode.ENGINE_REPORTED) -> Callable[[str], Reason]:
        """The error's words -> the reason of a failure of ``member`` (its disk looked at if local)."""
        return partial(failure_reasons.engine_reported, code=code, node=member.node,
                       disk=self.model.replica(volume, member.name).disk, data_dir=member.data_dir,
                       local=member.node in self.supervisors)

    def _sync_mode(self, volume: str, member: DesiredReplica, reported: pb.ReplicaStatus, client: EngineClient,
                   just_started: bool) -> None:
        """Record what the engine says of a replica; a failure recorded elsewhere (another
        node's manager saw its process die) takes it out of the engine to be rebuilt."""
        if self.rebuilds.busy(volume, member.name):
            return
        mode = reported.mode
        replica: Replica = self.model.replica(volume, member.name)
        if mode != replica.mode:
            replica = self.replicas.get(volume, member.name)  # about to act: read the store's word
        if mode == ReplicaMode.ERR:
            if replica.mode != ReplicaMode.ERR:
                seen = datetime.fromtimestamp(reported.error_at, UTC) if reported.error_at else None
                self.replicas.fail(volume, member.name, self._engine_reason(volume, member, reported.error), seen)
                self.processes.rebuild_cause[replica_key(volume, member.name)] = last_saved()
            self._take_out(volume, member.address, client)  # rebuilt on the next pass (a delta)
        elif mode == ReplicaMode.RW and replica.mode != ReplicaMode.RW:
            if replica.rebuild == "running":
                self.replicas.rebuild_completed(volume, member.name)  # finished while we were away
            elif just_started:
                self.replicas.set_mode(volume, member.name, ReplicaMode.RW)  # salvaged: consistent at start-up
            else:
                self._take_out(volume, member.address, client)

    def _take_out(self, volume: str, address: str, client: EngineClient) -> None:
        try:
            client.remove_replica(address)
        except EngineError as exc:  # e.g. the last RW replica: keep serving from it
            log.warning("%s: engine keeps %s: %s", volume, address, exc)

    def _remove_from_engine(self, volume: str, sup: Supervisor | None, address: str) -> None:
        inst = sup.get(engine_key(volume)) if sup is not None else None
        if inst is None or not address or sup is None or not sup.alive(inst.key):
            return
        try:
            with self.engine_client(inst.control, STATUS_TIMEOUT_S) as client:
                client.remove_replica(address)
        except EngineError as exc:
            log.info("%s: engine did not remove %s: %s", volume, address, exc)

    def _all_running(self, volume: str, desired: DesiredEngine) -> bool:
        return all(sup.alive(replica_key(volume, r.name)) for r in desired.replicas
                   if (sup := self.supervisors.get(r.node)) is not None)

    def _stop_engines_except(self, volume: str, node: str) -> None:
        for name, sup in self.supervisors.items():
            if name != node:
                sup.stop(engine_key(volume))

    # -- garbage ---------------------------------------------------------------------

    def _collect(self, wanted: set[tuple[str, str]], live_dirs: set[str] | None) -> None:
        for node, sup in self.supervisors.items():
            for key in sorted(k for k in sup.table.records if (node, k) not in wanted):
                log.info("%s: stopping %s (not wanted)", node, key)
                sup.stop(key)
            if live_dirs is None:
                continue
            unused = sorted(d for d in sup.directory.glob("disk*/replicas/*") if str(d) not in live_dirs)
            running_dirs = {a for inst in sup.table.records.values() for a in inst.args} if unused else set()
            self.directories.collect(node, [d for d in unused if str(d) not in running_dirs])
