"""projections.history on an in-memory control plane: membership, positions, times, replay, diff."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.application import ControlPlane
from domain.ids import volume_id
from domain.services import Volumes
from domain.volume import Volume
from projections.history import HistoryError, PositionOutOfRange, diff, read_history

GI = 1024**3


@pytest.fixture
def app() -> ControlPlane:
    app = ControlPlane()
    volumes = Volumes(app)
    volumes.create("a", GI, 1)
    volumes.create("b", GI, 1)
    volumes.finish_creating("a")
    volumes.expand("b", 2 * GI)
    volumes.expand("a", 3 * GI)
    volumes.delete("a")
    return app


def test_history_holds_only_the_volumes_own_events_in_log_order(app: ControlPlane) -> None:
    history = read_history(app.recorder, app.mapper, "a")
    assert [e.type for e in history] == ["Created", "CreationFinished", "Expanded", "DeletionStarted", "Deleted"]
    assert [e.position for e in history] == [1, 2, 3, 4, 5]
    assert {e.aggregate for e in history} == {"Volume"} and {e.aggregate_id for e in history} == {volume_id("a")}
    ids = [e.notification_id for e in history]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert history[2].data() == {"size": 3 * GI}


def test_status_at_every_position_matches_the_aggregate_at_that_version(app: ControlPlane) -> None:
    history = read_history(app.recorder, app.mapper, "a")
    for entry in history:
        volume = app.repository.get(volume_id("a"), version=entry.version)
        assert isinstance(volume, Volume)
        status = history.status_at(entry.position)
        assert (status.name, status.size, status.state, status.robustness, status.version) == (
            volume.name, volume.size, volume.state, volume.robustness, volume.version,
        )
        assert status.events == entry.position and status.position == entry.notification_id


def test_positions_and_times(app: ControlPlane) -> None:
    history = read_history(app.recorder, app.mapper, "a")
    assert history.position_at(history[2].timestamp) == 3
    assert history.position_at(history[-1].timestamp + timedelta(days=1)) == len(history)
    assert history.position_at(history[0].timestamp.replace(tzinfo=None)) >= 1  # naive = UTC
    with pytest.raises(PositionOutOfRange):
        history.position_at(history[0].timestamp - timedelta(seconds=1))
    for bad in (0, len(history) + 1):
        with pytest.raises(PositionOutOfRange, match="outside"):
            history.status_at(bad)
    assert [e.position for e in history.between(1, 3)] == [2, 3]
    assert history.between(3, 1) == history.between(1, 3)


def test_diff_names_changed_fields_only(app: ControlPlane) -> None:
    history = read_history(app.recorder, app.mapper, "a")
    changes = {c.field: (c.before, c.after) for c in diff(history.status_at(2), history.status_at(3))}
    assert changes["size"] == (GI, 3 * GI)
    assert "name" not in changes and "state" not in changes
    assert diff(history.status_at(3), history.status_at(3)) == []


def test_unknown_volume_has_no_history(app: ControlPlane) -> None:
    with pytest.raises(HistoryError, match="'nope'"):
        read_history(app.recorder, app.mapper, "nope")
