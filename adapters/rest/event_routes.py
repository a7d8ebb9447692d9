"""REST handlers for event histories: a volume's (``?at=`` replays it) and the whole cluster's.

``GET /v1/volumes/{name}/events`` and ``GET /v1/events`` take the filters of
``pronghorn events`` (``type`` — comma-separated —, ``aggregate``, ``since``,
``until``, ``limit``; parsed by ``adapters.cli.history_filters``) and answer with the
same documents as ``pronghorn events --json``. Asked with ``Accept:
text/event-stream`` or ``?follow=true``, they stream instead (server-sent events,
``adapters.rest.server``): the matching events so far, then each new one as it is
stored, one ``data:`` JSON document per event with the global position as its ``id``.
Read through ``projections.read_models`` (the history index, caught up first).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from adapters.cli.history_filters import TIME_HELP, filter_from
from adapters.cli.history_view import entry_document, status_document
from adapters.cli.replay import resolve_point
from adapters.rest import models as m
from adapters.rest.routes import Call, Route
from domain.services import Volumes
from projections import read_models
from projections.event_filter import EventFilter

FILTERS = {
    "type": "only events of these types, comma-separated (Attached, Replica.Failed)",
    "aggregate": "only events of this aggregate kind (Replica) or kind/name (Replica/r2)",
    "since": f"only events at or after this time ({TIME_HELP})",
    "until": "only events at or before this time",
    "limit": "only the last N matching events",
    "follow": "true: stream the events, then new ones as they are stored (server-sent events)",
}
AT_HELP = "a position (1 = after the first event) or an ISO 8601 time: return the status replayed to that point"


def wanted(call: Call) -> EventFilter:
    query = call.query
    return filter_from(query.get("type", "").split(","), query.get("aggregate", ""), query.get("since"),
                       query.get("until"), query.get("limit"))


def volume_events(call: Call) -> Any:
    name = call.params["name"]
    Volumes(call.app).get(name)  # 404 for an unknown volume
    history = read_models.history(call.app, name)
    if "at" in call.query:
        position = resolve_point(history, call.query["at"])
        return {"volume": name, "at": position, "status": status_document(history, position)}
    return [entry_document(entry) for entry in history.select(wanted(call))]


def follow_volume_events(call: Call) -> Iterator[Any]:
    Volumes(call.app).get(call.params["name"])
    return _follow(read_models.volume_events(call.app, call.params["name"]), wanted(call))


def cluster_events(call: Call) -> Any:
    return [entry_document(entry) for entry in read_models.cluster_events(call.app)(wanted(call))]


def follow_cluster_events(call: Call) -> Iterator[Any]:
    return _follow(read_models.cluster_events(call.app), wanted(call))


def _follow(poll: read_models.Poll, first: EventFilter) -> Iterator[Any]:
    """The documents so far, then None whenever a poll found nothing new (the server waits then)."""
    yield from (entry_document(entry) for entry in poll(first))
    later = EventFilter(first.types, first.aggregate, first.since, first.until)
    while True:
        entries = poll(later)
        yield from (entry_document(entry) for entry in entries)
        if not entries:
            yield None


ROUTES = [
    Route("GET", "/v1/volumes/{name}/events", volume_events,
          "A volume's event history (filtered, or followed), or its status replayed ?at=",
          list[m.HistoryEntryDoc] | m.StatusAtDoc, query={"at": AT_HELP, **FILTERS}, stream=follow_volume_events),
    Route("GET", "/v1/events", cluster_events, "Every event of the cluster (filtered, or followed)",
          list[m.HistoryEntryDoc], query=FILTERS, stream=follow_cluster_events),
]
