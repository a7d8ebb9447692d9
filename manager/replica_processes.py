"""``ReplicaProcesses``: keeps the local replica processes of the volumes running, and records
what became of each, with why and what it reacts to.

A process that died is recorded ``Failed`` with how it ended ("process killed by SIGKILL"),
then restarted on its old address (``ProcessRestarted``, caused by that failure); a start
that keeps failing is one ``TroubleStarted`` and, once it starts, one ``TroubleEnded`` with
the count of failed passes; a live process a restarted manager found is ``ProcessAdopted``;
a stuck one is ``ProcessStopped`` (NoReply) before it is stopped, and its restart follows
from that. ``rebuild_cause`` remembers which event the replica's next rebuild reacts to.
Used by ``manager.reconciler`` (one pass calls ``ensure`` per local replica, maybe in threads
of a pool: the dictionaries are only touched for that replica's own key).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from domain.causation import acting, event_cause, last_saved
from domain.services import Replicas
from domain.values import Reason, ReasonCode, ReplicaMode
from domain.volume import Volume
from manager.instances import process_state, replica_key
from manager.supervisor import StartFailed, Supervisor
from projections.desired_engine import DesiredReplica

log = logging.getLogger("pronghorn.manager.reconciler")

PROBE_TIMEOUT_S = 1.0  # how long a replica's control service has to answer a probe
REASON_LIMIT = 300

RemoveFromEngine = Callable[[str, "Supervisor | None", str], None]  # (volume, engine's node, replica address)


def one_line(text: str) -> str:
    """A failure reason as the domain takes it: one line, bounded."""
    return " ".join(text.split())[:REASON_LIMIT] or "unknown"


class ReplicaProcesses:
    def __init__(self, replicas: Replicas, supervisors: dict[str, Supervisor],
                 remove_from_engine: RemoveFromEngine) -> None:
        self.replicas = replicas
        self.supervisors = supervisors
        self.remove_from_engine = remove_from_engine
        self.troubles: dict[str, int] = {}  # replica key -> passes its start has failed in a row
        self.restart_cause: dict[str, int] = {}  # replica key -> position of what its next restart follows
        self.rebuild_cause: dict[str, int] = {}  # replica key -> position of what its next rebuild follows

    def ensure(self, volume: Volume, member: DesiredReplica, engine: Supervisor | None) -> None:
        """This node's process of ``member`` runs (started or restarted); what became of it is recorded."""
        sup = self.supervisors.get(member.node)
        if sup is None:
            return  # another node's manager runs it
        key = replica_key(volume.name, member.name)
        had = sup.get(key) is not None
        died = had and not sup.alive(key)
        failed = died and member.mode != ReplicaMode.ERR
        if failed:
            self.replicas.fail(volume.name, member.name, sup.exit_reason(key))
            self.restart_cause[key] = last_saved()
            self.remove_from_engine(volume.name, engine, member.address)
        if key in sup.adopted:
            sup.adopted.remove(key)
            if not died and (inst := sup.get(key)) is not None:
                self.replicas.adopted(volume.name, member.name, Reason(
                    ReasonCode.ADOPTED, f"a restarted manager found its process running (pid {inst.pid}) and kept it"))
        try:
            inst = sup.ensure_replica(volume.name, member.name, member.data_dir, volume.size)
        except StartFailed as exc:
            self._start_failed(volume.name, member.name, key, exc, recorded=failed or member.mode == ReplicaMode.ERR)
            return
        if died or key in self.restart_cause or key in self.troubles:
            cause = self.restart_cause.pop(key, 0)  # its failure, its stop or its trouble
            with acting(cause=event_cause(cause) if cause else None):
                self.replicas.restarted(volume.name, member.name, Reason(
                    ReasonCode.RESTARTED, f"process started again on {inst.control} (pid {inst.pid})"))
                self.rebuild_cause[key] = last_saved()
                if key in self.troubles:
                    self.replicas.trouble_ended(volume.name, member.name, self.troubles.pop(key))
        if inst.control != member.address:
            if member.address:
                self.remove_from_engine(volume.name, engine, member.address)
            self.replicas.set_address(volume.name, member.name, inst.control)

    def _start_failed(self, volume: str, replica: str, key: str, exc: StartFailed, recorded: bool) -> None:
        """Bounded: the failure (unless ``recorded`` already) and the trouble are recorded when it
        starts; later passes only count."""
        reason = Reason(ReasonCode.START_FAILED, one_line(f"cannot start: {exc}"))
        self.troubles[key] = self.troubles.get(key, 0) + 1
        if not recorded:
            self.replicas.fail(volume, replica, reason)
        if self.troubles[key] == 1:
            self.replicas.trouble(volume, replica, reason)
            self.restart_cause.setdefault(key, last_saved())
        log.warning("%s: %s", volume, exc)

    def stop_silent(self, volume: str, member: DesiredReplica, sup: Supervisor) -> None:
        """A live replica that answers nobody: recorded stopped (why), then stopped; restarted next pass."""
        key = replica_key(volume, member.name)
        log.warning("%s: replica %s does not answer: stopping it", volume, member.name)
        self.replicas.stopped(volume, member.name, self._no_reply(sup, key, member.address))
        self.restart_cause[key] = last_saved()
        sup.stop(key)

    @staticmethod
    def _no_reply(sup: Supervisor, key: str, address: str) -> Reason:
        inst = sup.get(key)
        paused = inst is not None and process_state(inst.pid) in ("T", "t")
        how = " (its process was paused: SIGSTOP)" if paused else " (silent on its own node too)"
        return Reason(ReasonCode.NO_REPLY, f"no reply within {PROBE_TIMEOUT_S:g} s on {address}{how}")
