"""The REST API over real HTTP (urllib) against a real server on a free port.

Every reply is validated against the server's own /openapi.json (tests/fixtures/
rest_client.py); the scenario test walks every route, and the error tests check
each 4xx class with its JSON error body.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from openapi_spec_validator import validate

from adapters.rest.routes import all_routes
from adapters.rest.server import MAX_BODY, start_api
from domain.application import ControlPlane
from domain.services import Snapshots
from domain.store import open_control_plane
from tests.fixtures.nodes import managed
from tests.fixtures.rest_client import ApiClient

GI = 1024**3
NODE = {"name": "n1", "address": "127.0.0.1", "zone": "z1", "tags": ["ssd"],
        "disks": [{"path": "/data", "capacity": "100Gi", "reserved": "1Gi", "tags": ["fast"]}]}


@pytest.fixture
def plane() -> Iterator[ControlPlane]:
    app = ControlPlane()
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def api(plane: ControlPlane) -> Iterator[ApiClient]:
    handle = start_api(plane, port=0)
    try:
        assert handle.address[0] == "127.0.0.1" and handle.address[1] > 0
        yield ApiClient(handle.url)
    finally:
        handle.stop()


def test_openapi_document_is_valid_and_covers_every_route(api: ApiClient) -> None:
    validate(api.openapi)
    assert api.openapi["openapi"].startswith("3.1")
    assert api.openapi["servers"] == [{"url": api.url}]
    documented = {(method.upper(), path) for path, ops in api.openapi["paths"].items() for method in ops}
    assert documented == {(r.method, r.path) for r in all_routes()} | {("GET", "/openapi.json")}


def test_every_route_end_to_end(api: ApiClient, plane: ControlPlane) -> None:
    node = api.ok("POST", "/v1/nodes", NODE, 201)
    assert node["disks"][0]["capacity"] == 100 * GI and node["zone"] == "z1"
    api.ok("POST", "/v1/nodes", {**NODE, "name": "n2", "zone": "z2"}, 201)
    assert [n["name"] for n in api.ok("GET", "/v1/nodes")] == ["n1", "n2"]
    assert api.ok("POST", "/v1/nodes/n2/cordon")["schedulable"] is False
    assert api.ok("POST", "/v1/nodes/n2/uncordon")["schedulable"] is True
    assert api.ok("GET", "/v1/nodes/n1") == api.ok("GET", "/v1/nodes")[0]
    api.ok("POST", "/v1/nodes", {**NODE, "name": "n3"}, 201)
    assert api.ok("DELETE", "/v1/nodes/n3") == {"name": "n3", "deleted": True}
    managed(plane)

    status = api.ok("POST", "/v1/volumes", {"name": "v1", "size": "1Gi", "number_of_replicas": 2}, 201)
    assert (status["state"], status["size"], len(status["replicas"])) == ("detached", GI, 2)
    assert api.ok("GET", "/v1/volumes")[0]["name"] == "v1"
    assert api.ok("GET", "/v1/volumes/v1") == status
    assert api.ok("POST", "/v1/volumes/v1/expand", {"size": 2 * GI})["size"] == 2 * GI
    replicas = api.ok("GET", "/v1/volumes/v1/replicas")
    assert sorted(r["node"] for r in replicas) == ["n1", "n2"] and all(r["mode"] == "RW" for r in replicas)

    attaching = api.ok("POST", "/v1/volumes/v1/attach", {"node": "n1"}, 202)
    assert (attaching["state"], attaching["node"]) == ("attaching", "n1")
    chain = api.ok("POST", "/v1/volumes/v1/snapshots", {"name": "s1", "labels": {"k": "v"}}, 202)
    assert [(s["name"], s["state"], s["labels"]) for s in chain["snapshots"]] == [("s1", "requested", {"k": "v"})]
    Snapshots(plane).take("v1", "s1", labels={"k": "v"})  # what the manager does with the request
    Snapshots(plane).take("v1", "s2")
    taken = api.ok("GET", "/v1/volumes/v1/snapshots")
    assert [(s["name"], s["state"], s["parent"]) for s in taken["snapshots"]] == [("s1", "taken", ""),
                                                                                  ("s2", "taken", "s1")]
    assert api.ok("POST", "/v1/volumes/v1/snapshots/s1/revert", expect=202)["revert_request"] == "s1"
    removed = api.ok("DELETE", "/v1/volumes/v1/snapshots/s2")
    assert [s["state"] for s in removed["snapshots"]] == ["taken", "removed"]
    assert api.ok("POST", "/v1/volumes/v1/detach", expect=202)["state"] == "detaching"

    events = api.ok("GET", "/v1/volumes/v1/events")
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    assert {"Created", "Expanded", "AttachStarted", "Taken", "DetachStarted"} <= {e["type"] for e in events}
    replayed = api.ok("GET", "/v1/volumes/v1/events?at=2")
    assert (replayed["at"], replayed["status"]["events"]) == (2, 2)
    later = api.ok("GET", "/v1/volumes/v1/events?at=" + events[-1]["timestamp"].replace("+", "%2B"))
    assert later["status"] == api.ok("GET", "/v1/volumes/v1")
    nodes = api.ok("GET", "/v1/events?aggregate=Node")
    assert {(e["aggregate_name"], e["type"]) for e in nodes} >= {("n1", "Registered"), ("n2", "Cordoned")}

    job = api.ok("POST", "/v1/jobs", {"name": "five", "cron": "*/5 * * * *", "retain": 3, "volumes": ["v1"]}, 201)
    assert (job["task"], job["last_fired"], job["fires"]) == ("snapshot", None, 0)
    assert api.ok("PATCH", "/v1/jobs/five", {"retain": 5, "labels": {"tier": "gold"}})["retain"] == 5
    assert api.ok("GET", "/v1/jobs/five")["labels"] == {"tier": "gold"}
    assert [j["name"] for j in api.ok("GET", "/v1/jobs")] == ["five"]
    assert api.ok("DELETE", "/v1/jobs/five") == {"name": "five", "deleted": True}

    api.ok("POST", "/v1/volumes", {"name": "v2", "size": 4096, "number_of_replicas": 1}, 201)
    assert api.ok("DELETE", "/v1/volumes/v2", expect=202)["state"] == "deleting"
    assert api.covered == {(r.method, r.path) for r in all_routes()}


def test_malformed_and_missing_bodies_are_400(api: ApiClient) -> None:
    assert api.fails(400, "POST", "/v1/nodes", raw=b"{not json")["code"] == "MalformedJSON"
    assert api.fails(400, "POST", "/v1/nodes", raw=b"\xff\xfe")["code"] == "MalformedJSON"
    assert "needs a JSON body" in api.fails(400, "POST", "/v1/volumes")["message"]
    assert api.fails(413, "POST", "/v1/nodes", raw=b" " * (MAX_BODY + 1))["code"] == "TooLarge"


@pytest.mark.parametrize(("body", "words"), [
    ({"name": "v", "size": "1Gx"}, "size"),
    ({"name": "v", "size": 4097}, "multiple of 4096"),
    ({"name": "Bad_Name", "size": "1Gi"}, "volume name"),
    ({"name": "v", "size": "1Gi", "number_of_replicas": 0}, "number of replicas"),
    ({"name": "v", "size": "1Gi", "data_locality": "nearby"}, "data_locality"),
    ({"name": "v", "size": "1Gi", "colour": "red"}, "colour"),
    ({"size": "1Gi"}, "name"),
    ([1, 2], "body"),
])
def test_invalid_volume_values_are_422(api: ApiClient, body: object, words: str) -> None:
    error = api.fails(422, "POST", "/v1/volumes", body)
    assert error["code"] == "InvalidValue" and words in error["message"]


def test_invalid_job_and_node_values_are_422(api: ApiClient) -> None:
    bad_cron = api.fails(422, "POST", "/v1/jobs", {"name": "j", "cron": "0 25 * * *", "retain": 1})
    assert "hour: 25 is outside 0-23" in bad_cron["message"]
    assert "retain" in api.fails(422, "POST", "/v1/jobs", {"name": "j", "cron": "* * * * *", "retain": 0})["message"]
    assert "task" in api.fails(422, "POST", "/v1/jobs", {"name": "j", "cron": "* * * * *", "retain": 1,
                                                         "task": "copy"})["message"]
    api.fails(422, "POST", "/v1/nodes", {"name": "n", "address": "127.0.0.1", "disks": [{"path": "rel", "capacity": 1}]})


def test_unknown_objects_are_404(api: ApiClient) -> None:
    for path in ("/v1/volumes/nope", "/v1/volumes/nope/replicas", "/v1/volumes/nope/snapshots",
                 "/v1/volumes/nope/events", "/v1/nodes/nope", "/v1/jobs/nope"):
        assert api.fails(404, "GET", path)["code"] == "NotFound"
    assert "nope" in api.fails(404, "POST", "/v1/nodes/nope/cordon")["message"]
    assert "no route" in api.fails(404, "GET", "/v2/volumes")["message"]
    assert api.fails(405, "PUT", "/v1/volumes")["code"] == "MethodNotAllowed"


def test_conflicts_are_409(api: ApiClient, plane: ControlPlane) -> None:
    api.ok("POST", "/v1/nodes", NODE, 201)
    managed(plane)
    assert api.fails(409, "POST", "/v1/nodes", NODE)["code"] == "AlreadyExists"
    failed = api.fails(409, "POST", "/v1/volumes", {"name": "v", "size": "1Gi", "number_of_replicas": 3})
    assert failed["code"] == "SchedulingFailed" and "InsufficientNodes" in failed["message"]
    api.ok("POST", "/v1/volumes", {"name": "v", "size": "1Gi", "number_of_replicas": 1}, 201)
    api.ok("POST", "/v1/volumes/v/snapshots", {"name": "s1"}, 202)
    api.ok("POST", "/v1/volumes/v/snapshots", {"name": "s1"}, 202)  # the same request again: idempotent
    assert api.fails(409, "POST", "/v1/volumes/v/snapshots", {"name": "s1", "labels": {"k": "v"}})["code"] == \
        "AlreadyExists"
    assert api.fails(422, "POST", "/v1/volumes/v/expand", {"size": 4096})["code"] == "InvalidValue"
    api.ok("DELETE", "/v1/volumes/v", expect=202)
    refused = api.fails(409, "POST", "/v1/volumes/v/attach", {"node": "n1"})
    assert refused["code"] == "InvalidTransition" and "deleting" in refused["message"]
    assert api.fails(409, "POST", "/v1/volumes/v/snapshots", {"name": "s2"})["code"] == "InvalidTransition"


def test_replay_points_outside_the_history_are_422(api: ApiClient, plane: ControlPlane) -> None:
    api.ok("POST", "/v1/nodes", NODE, 201)
    managed(plane)
    api.ok("POST", "/v1/volumes", {"name": "v", "size": "1Gi", "number_of_replicas": 1}, 201)
    assert "outside" in api.fails(422, "GET", "/v1/volumes/v/events?at=999")["message"]
    assert "no events at" in api.fails(422, "GET", "/v1/volumes/v/events?at=2001-01-01T00:00:00")["message"]
    assert "invalid point" in api.fails(422, "GET", "/v1/volumes/v/events?at=yesterday")["message"]


def test_chunked_bodies_are_refused_and_the_connection_closed(api: ApiClient) -> None:
    parts = urlsplit(api.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request("POST", "/v1/nodes", body=iter([b'{"name": "n1"}']),
                           headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        reply = connection.getresponse()
        assert reply.status == 411 and b"Content-Length" in reply.read()
        assert reply.getheader("Connection") == "close"
    finally:
        connection.close()


def test_concurrent_requests_on_one_volume_all_land(tmp_path: Path) -> None:
    """Eight clients at once on a SQLite store: the services retry conflicts; nothing is lost."""
    app = open_control_plane(f"sqlite://{tmp_path / 'events.sqlite'}")
    handle = start_api(app, port=0)
    try:
        api = ApiClient(handle.url)
        api.ok("POST", "/v1/nodes", NODE, 201)
        managed(app)
        api.ok("POST", "/v1/volumes", {"name": "v", "size": "1Gi", "number_of_replicas": 1}, 201)
        names = [f"s{i}" for i in range(24)]
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda n: api.call("POST", "/v1/volumes/v/snapshots", {"name": n})[0], names))
        assert statuses == [202] * len(names)
        listed = api.ok("GET", "/v1/volumes/v/snapshots")["snapshots"]
        assert sorted(s["name"] for s in listed) == sorted(names)
    finally:
        handle.stop()
        app.close()
