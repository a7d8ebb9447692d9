"""``manager.attention``: the sweep visits every volume once a round; settled volumes rest."""

from __future__ import annotations

import pytest

from domain.values import ReplicaMode
from manager.attention import Attention, settled, wanted_processes
from projections.desired_engine import DesiredEngine, DesiredReplica, Finish


def desired(run: bool = True, modes: tuple[str, ...] = ("RW", "RW"), finish: Finish = Finish.NOTHING) -> DesiredEngine:
    replicas = tuple(DesiredReplica(f"r{i}", f"node{i}", f"/d/r{i}", f"127.0.0.1:{i}", ReplicaMode(m))
                     for i, m in enumerate(modes, 1))
    return DesiredEngine("vol", 1 << 20, run, "node1" if run else "", replicas, ("r1", "r2"), finish)


@pytest.mark.parametrize(("count", "sweep"), [(10, 3), (9, 3), (3, 5), (1, 1), (7, 1)])
def test_a_round_of_the_sweep_visits_every_volume_once(count: int, sweep: int) -> None:
    names = [f"vol{i:02d}" for i in range(count)]
    attention = Attention({}, sweep)
    for _ in range(3):  # three rounds
        seen: list[str] = []
        while True:
            due, wrapped = attention.plan(names, set())
            seen += sorted(due)
            if wrapped:
                break
        assert seen == names  # each exactly once, in name order


def test_news_and_failures_are_due_besides_the_sweep() -> None:
    names = [f"vol{i}" for i in range(10)]
    attention = Attention({}, 2)
    attention.retry.add("vol9")
    due, _ = attention.plan(names, {"vol5"})
    assert due == {"vol0", "vol1", "vol5", "vol9"}
    due, _ = attention.plan(names, set())
    assert due == {"vol2", "vol3"}  # a retry is due once
    names.remove("vol4")  # volumes come and go between passes: the sweep goes on by name
    assert attention.plan(names, set()) == ({"vol5", "vol6"}, False)


def test_only_settled_volumes_rest() -> None:
    assert settled(desired()) and settled(desired(run=False, modes=("ERR", "RW")))
    assert not settled(desired(modes=("RW", "ERR"))) and not settled(desired(modes=("WO", "RW")))
    assert not settled(desired(finish=Finish.ATTACH)) and not settled(desired(run=False, finish=Finish.DETACH))
    attention = Attention({}, 1)
    attention.plan(["vol"], set())
    assert attention.at_rest("vol", desired(modes=("RW", "ERR"))) is None
    assert attention.at_rest("vol", desired()) == {("node1", "replica:vol/r1"), ("node2", "replica:vol/r2")}


def test_processes_wanted_on_this_managers_nodes() -> None:
    assert wanted_processes(desired(run=False), {"node1"}) == set()
    assert wanted_processes(desired(), {"node1"}) == {
        ("node1", "replica:vol/r1"), ("node2", "replica:vol/r2"), ("node1", "engine:vol")}
    assert ("node1", "engine:vol") not in wanted_processes(desired(), {"node2"})


def test_sweep_must_be_positive() -> None:
    with pytest.raises(ValueError, match="sweep"):
        Attention({}, 0)
