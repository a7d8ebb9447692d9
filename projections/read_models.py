"""The read side's entry point: the volume status view, caught up before it answers.

``current_view(app)`` gives the status view in ``app``'s store (statuses and the
per-volume history index, ``projections.status_views``) after catching it up from
its recorded position (``projections.volume_status_projection``): cheap when it is
current (one query), so a reader is right even when no manager keeps the view up
to date. Whoever advances it first wins; a runner that finds the view moved past
it (``IntegrityError``) starts again from the new position. One view and runner
are kept per application and used under a lock, so the REST server's threads share
them; ``statuses`` / ``history`` are the two questions readers ask, and
``volume_events`` / ``cluster_events`` the polls of a reader that follows new events. Called by the
CLI (``volume get/ls``, ``events``, ``replay``), the REST API and the manager
(``keep_current`` in a thread of its own).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from projections.event_filter import EventFilter
from projections.event_stream import ClusterStream
from projections.history import HistoryEntry
from projections.indexed_history import IndexedHistory, indexed_history
from projections.status_views import VolumeStatusView, status_view_of
from projections.volume_status import VolumeStatus
from projections.volume_status_projection import VolumeStatusProjection

ATTEMPTS = 5  # catch-ups that may lose a race with another runner before giving up
KEEP_CURRENT_S = 1.0
log = logging.getLogger("pronghorn.read_models")


@dataclass
class _Held:
    view: VolumeStatusView
    projection: VolumeStatusProjection
    lock: threading.Lock = field(default_factory=threading.Lock)


_HELD = "_pronghorn_read_models"  # the attribute of the application that holds them (they die with it)
_held_lock = threading.Lock()


def current_view(app: Application[Any]) -> VolumeStatusView:
    """``app``'s status view, caught up with every event stored so far."""
    held = _holder(app)
    with held.lock:
        for attempt in range(ATTEMPTS):
            try:
                held.projection.catch_up()
                break
            except IntegrityError:
                if attempt == ATTEMPTS - 1:
                    raise
                held.projection = VolumeStatusProjection(app, held.view)  # another runner moved it: go on from there
    return held.view


def keep_current(app: Application[Any], stop: threading.Event, interval: float = KEEP_CURRENT_S) -> None:
    """Catch the view up every ``interval`` seconds until ``stop`` is set (the manager runs this in a
    thread, so readers find the view current). A failed catch-up (the store away) is retried."""
    health = getattr(app, "health", None)  # domain.store_health: the outage is logged there, once
    while not stop.is_set():
        if health is None or not health.down:
            try:
                current_view(app)
            except Exception:  # noqa: BLE001 - the next round retries; readers catch up themselves anyway
                if health is None or not health.down:
                    log.warning("read models: catch-up failed, retrying in %.0fs", interval, exc_info=True)
        stop.wait(interval)


def statuses(app: Application[Any], names: list[str]) -> dict[str, VolumeStatus]:
    """The current statuses of those of ``names`` that have one."""
    return current_view(app).load(names)


def history(app: Application[Any], volume: str, after: int = 0) -> IndexedHistory:
    """``volume``'s history through the index (HistoryError when it has no events); with
    ``after``, only the events after that position (maybe none), for a reader following it."""
    return indexed_history(app, current_view(app), volume, after)


Poll = Callable[[EventFilter], list[HistoryEntry]]


def volume_events(app: Application[Any], volume: str) -> Poll:
    """Each call: the volume's events ``wanted`` asks for, after those the previous call returned
    (the first call: HistoryError for a volume without events)."""
    seen = 0

    def poll(wanted: EventFilter) -> list[HistoryEntry]:
        nonlocal seen
        tail = history(app, volume, after=seen)
        entries = tail.select(wanted)
        seen = tail.length
        return entries

    return poll


def cluster_events(app: Application[Any]) -> Poll:
    """Each call: the store's events ``wanted`` asks for, after those the previous call saw."""
    stream = ClusterStream(app)
    seen = 0

    def poll(wanted: EventFilter) -> list[HistoryEntry]:
        nonlocal seen
        last = stream.last_id()
        entries = stream.select(wanted, after=seen)
        seen = max([last, seen, *(e.notification_id for e in entries)])
        return entries

    return poll


def _holder(app: Application[Any]) -> _Held:
    with _held_lock:
        held: _Held | None = getattr(app, _HELD, None)
        if held is None:
            view = status_view_of(app)
            held = _Held(view, VolumeStatusProjection(app, view))
            setattr(app, _HELD, held)
        return held
