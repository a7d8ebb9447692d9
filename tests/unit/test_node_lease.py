"""SQLite node leases (manager/node_lease.py): lock files beside the store, one holder per node."""

from __future__ import annotations

from pathlib import Path

import pytest

from manager.node_lease import FileLeases, Holder, LeaseHeld, Presence, node_leases


def test_a_node_has_one_holder_named_in_the_refusal_and_freed_on_release(tmp_path: Path) -> None:
    store = f"sqlite://{tmp_path / 'events.sqlite'}"
    first = node_leases(store, Holder(101, "host-a", "/srv/a"))
    second = node_leases(store, Holder(202, "host-b", "/srv/b"))
    assert isinstance(first, FileLeases)
    first.acquire(["node1", "node2"])
    with pytest.raises(LeaseHeld) as refused:
        second.acquire(["node3", "node2"])
    assert str(refused.value).startswith("node node2 is already run by another manager "
                                         "(pid 101 on host host-a, home /srv/a)")
    assert second.holders() == {"node1": Holder(101, "host-a", "/srv/a"), "node2": Holder(101, "host-a", "/srv/a")}
    assert not second.presence("node3").held  # all or none: node3 was let go with the refusal
    presence = second.presence("node1")
    assert presence.held and presence.age is not None and presence.age < 60
    assert second.presence("node9") == Presence(False, None, None)  # never held
    first.release()
    assert second.holders() == {}
    second.acquire(["node2"])
    assert second.presence("node2").holder == Holder(202, "host-b", "/srv/b")
    second.release()
