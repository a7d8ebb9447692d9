"""The manager's in-memory read model (``projections.desired_engines``) equals a full rebuild.

Random sequences of domain commands (provision, create, attach/detach and their
outcomes, replica failures, rebuilds, addresses, placements, removals, expansion,
snapshot requests and takes, deletion) run through the services on an in-memory
store that snapshots aggregates every few events. At random points the followed
model catches up (reading the log 3 notifications at a time, so one save's events
are often split across reads); after each catch-up its live names, every volume's
``Volume``, ``Replica`` and ``SnapshotChain`` state and its desired engine state
equal those of a model freshly loaded from the store. Also checked: the volumes the
model reports changed include every volume whose state differs from the last check.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import ControlPlane
from domain.catalog import Catalog
from domain.errors import DomainError
from domain.ids import chain_id
from domain.node import Node
from domain.replica import Replica
from domain.services import Nodes, Replicas, Snapshots, Volumes
from domain.snapshots import SnapshotChain
from domain.values import Disk, ReplicaMode
from domain.volume import Volume
from projections.desired_engines import DesiredEngines
from tests.fixtures.nodes import managed

NODES = ["n1", "n2", "n3"]
VOLUMES = ["v0", "v1", "v2", "v3"]
REPLICAS = [f"r{i}" for i in range(1, 6)]
UNIT = 1 << 20


class FrequentSnapshots(ControlPlane):
    """Aggregate snapshots every few events: full loads mostly start from one."""

    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Volume: 4, Replica: 3, Node: 50, Catalog: 5, SnapshotChain: 3}


def plain(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def view(model: DesiredEngines) -> dict[str, Any]:
    """Everything the reconciler reads from the model, per live volume."""
    out: dict[str, Any] = {}
    for name in model.names():
        chain = plain(model.chain(name)) if chain_id(name) in model.aggregates else None
        out[name] = (plain(model.volume(name)), [plain(r) for r in model.replicas(name)], chain,
                     model.desired(name))
    return out


def run(app: ControlPlane, command: tuple[Any, ...]) -> None:
    volumes, replicas, snapshots = Volumes(app), Replicas(app), Snapshots(app)
    verb, vol, arg = command
    actions = {
        "provision": lambda: volumes.provision(vol, UNIT, 1 + arg % 3),
        "create": lambda: volumes.create(vol, UNIT, 2),
        "attach": lambda: volumes.start_attach(vol, NODES[arg % 3]),
        "attached": lambda: volumes.attached(vol, f"nbd://127.0.0.1:{10000 + arg}"),
        "detach": lambda: volumes.start_detach(vol),
        "detached": lambda: volumes.detached(vol),
        "fail": lambda: replicas.fail(vol, REPLICAS[arg % 5], "boom"),
        "rebuild": lambda: replicas.rebuild_started(vol, REPLICAS[arg % 5]),
        "rebuilt": lambda: replicas.rebuild_completed(vol, REPLICAS[arg % 5]),
        "rw": lambda: replicas.set_mode(vol, REPLICAS[arg % 5], ReplicaMode.RW),
        "address": lambda: replicas.set_address(vol, REPLICAS[arg % 5], f"127.0.0.1:{20000 + arg}"),
        "place": lambda: replicas.place(vol, 1),
        "remove": lambda: replicas.remove(vol, REPLICAS[arg % 5]),
        "expand": lambda: volumes.expand(vol, UNIT * (2 + arg)),
        "request": lambda: snapshots.request(vol, f"s{arg}"),
        "take": lambda: snapshots.take(vol, f"s{arg}"),
        "mark_removed": lambda: snapshots.mark_removed(vol, f"s{arg}"),
        "delete": lambda: volumes.delete(vol),
    }
    if verb not in actions:
        return  # a check where no model exists yet
    try:
        actions[verb]()
    except DomainError:
        pass  # refused: nothing saved


VERBS = ["provision", "create", "attach", "attached", "detach", "detached", "fail", "rebuild", "rebuilt",
         "rw", "address", "place", "remove", "expand", "request", "take", "mark_removed", "delete", "check"]
commands = st.lists(st.tuples(st.sampled_from(VERBS), st.sampled_from(VOLUMES), st.integers(0, 8)),
                    min_size=1, max_size=40)


@settings(max_examples=40, deadline=None)
@given(commands=commands, early=st.integers(0, 10))
def test_followed_model_equals_a_full_rebuild(commands: list[tuple[Any, ...]], early: int) -> None:
    app = FrequentSnapshots({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for i, node in enumerate(NODES):
        Nodes(app).add(node, f"127.0.0.{i + 1}", disks=[Disk(f"/d{i}", 1 << 40)])
        managed(app)
    Volumes(app).provision("v0", UNIT, 2)
    for command in commands[:early]:  # some history before the model's first load
        run(app, command)
    model = DesiredEngines(app, batch=3)
    model.load()
    last = view(model)
    model.take_changed()
    for command in [*commands[early:], ("check", "", 0)]:
        if command[0] != "check":
            run(app, command)
            continue
        model.catch_up()
        fresh = DesiredEngines(app)
        fresh.load()
        now = view(model)
        assert now == view(fresh)
        changed = model.take_changed()
        assert {n for n in now if now[n] != last.get(n)} <= changed
        last = now
