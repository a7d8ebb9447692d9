"""The REST events routes over real HTTP: filters, unknown parameters refused, server-sent events.

A real server on a free port over a SQLite store; replies are checked against the
server's own /openapi.json (tests/fixtures/rest_client.py). The stream is read with
http.client while another application writes to the same store, as the manager and
the CLI do.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from adapters.rest.server import ApiHandle, start_api
from domain.application import ControlPlane
from domain.services import Nodes, Volumes
from domain.store import open_control_plane
from domain.values import GIB, Disk
from tests.fixtures.nodes import managed
from tests.fixtures.rest_client import ApiClient

TIMEOUT_S = 30


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ApiHandle, ControlPlane]]:
    url = f"sqlite://{tmp_path / 'events.sqlite'}"
    app, writer = open_control_plane(url), open_control_plane(url)
    Nodes(writer).add("n1", "127.0.0.1", disks=[Disk(path="/d", capacity=100 * GIB)])
    managed(writer)
    Volumes(writer).provision("vol", GIB, 1)
    Volumes(writer).expand("vol", 2 * GIB)
    handle = start_api(app, port=0)
    try:
        yield handle, writer
    finally:
        handle.stop()
        app.close()
        writer.close()


def test_filters_and_unknown_parameters(served: tuple[ApiHandle, ControlPlane]) -> None:
    api = ApiClient(served[0].url)
    every = api.ok("GET", "/v1/volumes/vol/events")
    assert [e["type"] for e in api.ok("GET", "/v1/volumes/vol/events?type=Expanded,Created&aggregate=Volume")] == [
        "Created", "Expanded"]
    assert api.ok("GET", "/v1/volumes/vol/events?limit=2") == every[-2:]
    assert api.ok("GET", "/v1/volumes/vol/events?since=-1h") == every
    assert api.ok("GET", "/v1/volumes/vol/events?until=2000-01-01T00:00:00Z") == []
    cluster = api.ok("GET", "/v1/events?aggregate=Node&type=Registered")
    assert [(e["aggregate_name"], e["type"]) for e in cluster] == [("n1", "Registered")]
    assert "position" not in cluster[0] and cluster[0]["global_position"] == 1
    refused = api.fails(400, "GET", "/v1/volumes/vol/events?typo=1")
    assert refused["code"] == "UnknownParameter" and "typo" in refused["message"]
    assert api.fails(400, "GET", "/v1/volumes/vol?at=1")["code"] == "UnknownParameter"
    assert api.fails(422, "GET", "/v1/events?limit=-3")["code"] == "InvalidValue"
    assert api.fails(422, "GET", "/v1/events?since=soon")["code"] == "InvalidValue"


def _stream(handle: ApiHandle, path: str, accept: str = "text/event-stream") -> http.client.HTTPResponse:
    parts = urlsplit(handle.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT_S)
    connection.request("GET", path, headers={"Accept": accept})
    return connection.getresponse()


def _next_event(reply: http.client.HTTPResponse) -> dict[str, str]:
    fields: dict[str, str] = {}
    while (line := reply.fp.readline().decode()) not in ("\n", ""):
        if not line.startswith(":"):
            name, _, value = line.rstrip("\n").partition(": ")
            fields[name] = value
    return fields or _next_event(reply)  # a keep-alive comment alone: the next one


def test_server_sent_events_stream_the_history_then_new_events(served: tuple[ApiHandle, ControlPlane]) -> None:
    handle, writer = served
    every = ApiClient(handle.url).ok("GET", "/v1/volumes/vol/events")
    reply = _stream(handle, "/v1/volumes/vol/events?type=Expanded")
    cluster = _stream(handle, "/v1/events?follow=true&aggregate=Volume&limit=1", accept="*/*")
    try:
        assert reply.status == 200 and reply.getheader("Content-Type") == "text/event-stream"
        first = _next_event(reply)
        assert json.loads(first["data"]) == [e for e in every if e["type"] == "Expanded"][0]
        assert first["id"] == str(json.loads(first["data"])["global_position"])
        assert json.loads(_next_event(cluster)["data"])["type"] == "Expanded"  # the last Volume event
        Volumes(writer).expand("vol", 3 * GIB)
        new = json.loads(_next_event(reply)["data"])
        assert (new["type"], new["data"]["size"], new["position"]) == ("Expanded", 3 * GIB, len(every) + 1)
        assert json.loads(_next_event(cluster)["data"])["global_position"] == new["global_position"]
    finally:
        reply.close()
        cluster.close()
    assert _stream(handle, "/v1/volumes/nope/events").status == 404
