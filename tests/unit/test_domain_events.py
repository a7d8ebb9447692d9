"""Event naming and the store transcoding of domain values."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from eventsourcing.domain import Aggregate, DomainEvent

from domain.catalog import Catalog
from domain.node import Node
from domain.replica import Replica
from domain.snapshots import SnapshotChain
from domain.transcoding import DomainTranscoder
from domain.values import (
    Condition,
    DataLocality,
    Disk,
    Failure,
    ReplicaMember,
    ReplicaMode,
    SnapshotInfo,
    VolumeState,
)
from domain.volume import Volume

AGGREGATES = [Volume, Node, Replica, SnapshotChain, Catalog]


def event_classes(aggregate: type[Aggregate]) -> list[type]:
    return [v for v in vars(aggregate).values()
            if isinstance(v, type) and issubclass(v, DomainEvent) and v.__name__ not in ("Snapshot", "Event")]


@pytest.mark.parametrize("aggregate", AGGREGATES, ids=lambda a: a.__name__)
def test_events_are_named_in_the_past_tense(aggregate: type[Aggregate]) -> None:
    names = [cls.__name__ for cls in event_classes(aggregate)]
    assert names, "no events found"
    assert all(name.endswith(("ed", "en", "Found")) for name in names), names  # Found: irregular


@pytest.mark.parametrize(
    "value",
    [
        VolumeState.ATTACHED,
        DataLocality.STRICT_LOCAL,
        ("a", "b"),
        (),
        [("x", 1), ReplicaMode.WO],
        {"k": (1, 2), "m": ReplicaMember("r1", "n1", ReplicaMode.ERR)},
        Disk("/d", 4096, 0, ("ssd",), False),
        Condition("Scheduled", False, "DiskPressure", "msg"),
        Failure("boom", datetime(2026, 1, 1, tzinfo=UTC)),
        SnapshotInfo("s1", "", datetime(2026, 1, 1, tzinfo=UTC), labels={"a": "b"}, children=("s2",)),
        {"uuid": uuid4(), "dec": Decimal("1.5"), "none": None, "f": 1.5, "b": True},
        {"_type_": "looks", "_data_": "like a box"},  # a plain dict that resembles an encoded value
    ],
)
def test_values_round_trip_with_their_types(value: object) -> None:
    transcoder = DomainTranscoder()
    decoded = transcoder.decode(transcoder.encode({"v": value}))["v"]
    assert decoded == value and repr(decoded) == repr(value)
