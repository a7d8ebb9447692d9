"""Property: for random command sequences, the status fold equals the aggregates.

Hypothesis draws sequences of service commands on one volume (lifecycle, expansion,
conditions, replicas added / failing / rebuilding / removed, snapshots taken /
removed / purged / reverted), then deletes the volume. Commands the domain refuses
are skipped. After every command the volume's history is folded from scratch and
compared with its Volume, Replica and SnapshotChain aggregates
(``tests/fixtures/status_checks.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import ControlPlane
from domain.errors import DomainError
from domain.services import Nodes, Replicas, Snapshots, Volumes
from domain.values import GIB, Disk, RebuildState, ReplicaMode
from tests.fixtures.status_checks import REPLICAS, assert_matches_aggregates

Command = Callable[[ControlPlane, int], object]
SNAPS = ("s0", "s1", "s2", "s3")


def _replica(i: int) -> str:
    return REPLICAS[i % len(REPLICAS)]


def _rebuilding(app: ControlPlane, i: int) -> str:
    """A replica whose rebuild is running, if any (else one by ``i``: the domain refuses)."""
    running = [r.name for r in Replicas(app).list_for("v") if r.rebuild == RebuildState.RUNNING]
    return running[i % len(running)] if running else _replica(i)


def _purge(app: ControlPlane, i: int) -> object:
    chain = Snapshots(app).chain("v")
    removed = [s.name for s in chain.snapshots.values() if s.removed and not s.children and s.name != chain.head_parent]
    coalesced = {s.name: s.children[0] for s in chain.snapshots.values()
                 if s.removed and len(s.children) == 1 and s.name != chain.head_parent}
    return Snapshots(app).purged("v", removed[:1], dict(list(coalesced.items())[:1]) if i % 2 else {})


COMMANDS: list[Command] = [
    lambda app, i: Volumes(app).finish_creating("v"),
    lambda app, i: Volumes(app).start_attach("v", f"n{i % 3 + 1}"),
    lambda app, i: Volumes(app).attached("v", f"127.0.0.1:{10000 + i}"),
    lambda app, i: Volumes(app).attach_failed("v", "engine did not start"),
    lambda app, i: Volumes(app).start_detach("v"),
    lambda app, i: Volumes(app).detached("v"),
    lambda app, i: Volumes(app).expand("v", (2 + i) * GIB),
    lambda app, i: Volumes(app).set_number_of_replicas("v", 1 + i % 3),
    lambda app, i: Volumes(app).set_condition("v", "Scheduled", i % 2 == 0, "", f"try {i}"),
    lambda app, i: Replicas(app).add("v", _replica(i), f"n{i % 3 + 1}", "/d", address=f"127.0.0.1:{9000 + i}"),
    lambda app, i: Replicas(app).set_mode("v", _replica(i), list(ReplicaMode)[i % 3]),
    lambda app, i: Replicas(app).fail("v", _replica(i), f"error {i}"),
    lambda app, i: Replicas(app).rebuild_started("v", _replica(i), source=_replica(i + 1)),
    lambda app, i: Replicas(app).rebuild_progress("v", _rebuilding(app, i), i, 10),
    lambda app, i: Replicas(app).rebuild_completed("v", _rebuilding(app, i)),
    lambda app, i: Replicas(app).rebuild_failed("v", _rebuilding(app, i), "source gone"),
    lambda app, i: Replicas(app).set_address("v", _replica(i), f"127.0.0.2:{9000 + i}"),
    lambda app, i: Replicas(app).remove("v", _replica(i)),
    lambda app, i: Snapshots(app).take("v", SNAPS[i % len(SNAPS)], user_created=i % 2 == 0, labels={"i": str(i)}),
    lambda app, i: Snapshots(app).mark_removed("v", SNAPS[i % len(SNAPS)]),
    lambda app, i: Snapshots(app).revert("v", SNAPS[i % len(SNAPS)]),
    lambda app, i: Snapshots(app).measure("v", SNAPS[i % len(SNAPS)], 4096 * i, f"{i:064x}"),
    _purge,
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(COMMANDS) - 1), st.integers(0, 9)), max_size=30))
def test_fold_equals_aggregates_for_any_command_sequence(steps: list[tuple[int, int]]) -> None:
    app = ControlPlane()
    for n in range(3):
        Nodes(app).add(f"n{n + 1}", f"127.0.0.{n + 1}", disks=[Disk(path="/d", capacity=100 * GIB)])
    Volumes(app).create("v", GIB, 2)
    Volumes(app).finish_creating("v")
    for command, arg in steps:
        try:
            COMMANDS[command](app, arg)
        except DomainError:
            continue
        assert_matches_aggregates(app, "v")
    # Then delete it: detach, start deleting, remove the replicas (the last one finishes it).
    Volumes(app).start_detach("v")
    Volumes(app).detached("v")
    Volumes(app).delete("v")
    for replica in Replicas(app).list_for("v"):
        Replicas(app).remove("v", replica.name)
        assert_matches_aggregates(app, "v")
    assert assert_matches_aggregates(app, "v").state == "deleted"
