"""``Attention``: which volumes a reconcile pass acts on, and what the others want.

At 1,000 volumes a pass cannot compare every volume with its processes and engine
(each comparison costs /proc reads and gRPC calls), and most volumes have not changed.
A pass reconciles a volume when:

- it has news: an event since the last pass (``DesiredEngines.take_changed``);
- it is unsettled: attaching, detaching, or running with a replica not RW (rebuilds,
  salvage, failures are followed pass by pass, as before);
- a process of it that this manager started has exited (``Popen.poll``: no /proc read);
- its last reconcile failed;
- the sweep reaches it: ``sweep`` volumes a pass in name order, round robin, so every
  volume is compared with what runs at least once a round — all of them on every pass
  when there are no more than ``sweep`` (level-triggered safety: a process lost
  behind the manager's back, an engine that reports a replica ERR).

The other volumes still count for garbage collection: ``at_rest`` gives the processes
each wants (``wanted_processes``), cached while its desired state is the same object.
Used by ``manager.reconciler``; driven from one thread.
"""

from __future__ import annotations

import bisect
from collections.abc import Container, Mapping

from domain.values import ReplicaMode
from manager.instances import engine_key, replica_key
from manager.supervisor import Supervisor
from projections.desired_engine import DesiredEngine, Finish

SWEEP = 32  # volumes with no news compared with their processes per pass

Wanted = frozenset[tuple[str, str]]  # (node, instance key)


def wanted_processes(desired: DesiredEngine, nodes: Container[str]) -> set[tuple[str, str]]:
    """The processes a volume wants on ``nodes`` (this manager's), as (node, instance key)."""
    if not desired.run:
        return set()
    wanted = {(r.node, replica_key(desired.volume, r.name)) for r in desired.replicas}
    if desired.engine_node in nodes:
        wanted.add((desired.engine_node, engine_key(desired.volume)))
    return wanted


def settled(desired: DesiredEngine) -> bool:
    """Whether a volume is where it should be: not attaching or detaching, every replica RW if it runs."""
    return desired.finish == Finish.NOTHING and (
        not desired.run or all(r.mode == ReplicaMode.RW for r in desired.replicas))


class Attention:
    def __init__(self, supervisors: Mapping[str, Supervisor], sweep: int = SWEEP) -> None:
        if sweep < 1:
            raise ValueError("sweep must be at least 1")
        self.supervisors = supervisors
        self.sweep = sweep
        self.swept_to = ""  # the last volume the sweep reached
        self.retry: set[str] = set()  # volumes whose reconcile failed this pass
        self.resting: dict[str, tuple[DesiredEngine, Wanted | None]] = {}
        self.rested: dict[str, tuple[DesiredEngine, Wanted | None]] = {}

    def plan(self, names: list[str], changed: set[str]) -> tuple[set[str], bool]:
        """The volumes this pass reconciles (``names`` sorted), and whether the sweep ended a round."""
        swept, wrapped = self._sweep(names)
        due = swept | changed | self.retry | self._exited()
        self.retry = set()
        self.rested, self.resting = self.resting, {}
        return due, wrapped

    def at_rest(self, name: str, desired: DesiredEngine) -> Wanted | None:
        """The processes of a volume left alone this pass (None: unsettled, reconcile it)."""
        cached = self.rested.get(name)
        if cached is None or cached[0] is not desired:
            cached = (desired, frozenset(wanted_processes(desired, self.supervisors)) if settled(desired) else None)
        if cached[1] is not None:
            self.resting[name] = cached
        return cached[1]

    def _sweep(self, names: list[str]) -> tuple[set[str], bool]:
        if len(names) <= self.sweep:
            return set(names), True
        start = bisect.bisect_right(names, self.swept_to) if self.swept_to else 0
        chosen = names[start:start + self.sweep]  # the last slice of a round may be shorter
        wrapped = start + self.sweep >= len(names)
        self.swept_to = "" if wrapped or not chosen else chosen[-1]  # a round ends: the next starts at the top
        return set(chosen), wrapped

    def _exited(self) -> set[str]:
        volumes: set[str] = set()
        for sup in self.supervisors.values():
            gone = {pid for pid, child in sup.children.items() if child.poll() is not None}
            if gone:
                volumes |= {inst.volume for inst in sup.table.records.values() if inst.pid in gone}
        return volumes
