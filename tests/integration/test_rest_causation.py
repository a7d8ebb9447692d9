"""What a REST client does is recorded as done by ``rest:<its address>``, also a refused command."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adapters.rest.server import start_api
from domain.application import ControlPlane
from domain.causation import actor_of, cause_of
from tests.fixtures.nodes import managed
from tests.fixtures.rest_client import ApiClient

NODE = {"name": "n1", "address": "127.0.0.1", "disks": [{"path": "/data", "capacity": "100Gi"}]}


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
        yield ApiClient(handle.url)
    finally:
        handle.stop()


def stored(plane: ControlPlane) -> list[Any]:
    return [plane.mapper.to_domain_event(n) for n in plane.recorder.select_notifications(1, 10_000)]


def test_events_of_a_rest_request_name_the_client(api: ApiClient, plane: ControlPlane) -> None:
    api.ok("POST", "/v1/nodes", NODE, 201)
    managed(plane)  # its manager said it is Ready
    api.ok("POST", "/v1/volumes", {"name": "v1", "size": "1Gi", "number_of_replicas": 1}, 201)
    api.ok("POST", "/v1/volumes/v1/attach", {"node": "n1"}, 202)
    attach = next(e for e in stored(plane) if type(e).__qualname__ == "Volume.AttachStarted")
    assert (actor_of(attach), cause_of(attach)) == ("rest:127.0.0.1", "command:rest:127.0.0.1")

    api.fails(409, "DELETE", "/v1/volumes/v1")
    refused = stored(plane)[-1]
    assert type(refused).__qualname__ == "Volume.CommandRefused" and actor_of(refused) == "rest:127.0.0.1"
    assert refused.reason.message.startswith("cannot delete volume 'v1' while it is attaching")
