"""Every REST route at and past its limits, with its target in each state: one row per request.

A row is (method, path, JSON body or raw bytes, HTTP status, a fragment of the reply: the
error message, or the JSON text of a document). Each row runs against a real server
(``start_api`` on port 0) over a copy of the store of tests/fixtures/limits_store.py,
and every reply is checked against the server's own /openapi.json
(tests/fixtures/rest_client.py). The server-wide limits (body size and depth, the
listen backlog) follow the table.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.rest.server import BACKLOG, MAX_BODY, MAX_DEPTH, start_api
from domain.store import open_control_plane
from tests.fixtures.limits_store import STORE_FILE, build_limits_store
from tests.fixtures.rest_client import ApiClient

V, N, J = "/v1/volumes", "/v1/nodes", "/v1/jobs"
NAME63 = "a" * 63
DISK = {"path": "/srv/d", "capacity": "1Gi"}


class Raw(bytes):
    """A body sent as these bytes, not encoded as JSON."""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_limits_store(tmp_path_factory.mktemp("rest-limits"))


@pytest.fixture
def api(template: Path, tmp_path: Path) -> Iterator[ApiClient]:
    shutil.copy(template, tmp_path / STORE_FILE)
    app = open_control_plane(f"sqlite://{tmp_path / STORE_FILE}")
    handle = start_api(app, port=0)
    try:
        yield ApiClient(handle.url)
    finally:
        handle.stop()
        app.close()


def nested(depth: int) -> Raw:
    """A volume body whose node_selector nests ``depth`` levels in all (the body object is 1)."""
    return Raw(b'{"name": "v9", "size": 4096, "node_selector": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}")


ROWS: list[tuple[str, str, Any, int, str]] = [
    # -- POST /v1/nodes: address, disk path, capacity ----------------------------------------------------
    ("POST", N, {"name": "n9", "address": "127.0.0.9", "disks": [DISK]}, 201, '"path": "/srv/d"'),
    ("POST", N, {"name": NAME63 + "a", "address": "127.0.0.9"}, 422, "invalid node name"),
    ("POST", N, {"name": "n9", "address": "notanip"}, 422, "must be an IP address"),
    ("POST", N, {"name": "n9", "address": "0.0.0.0"}, 422, "not unspecified"),
    ("POST", N, {"name": "n9", "address": 5}, 422, "address: Input should be a valid string"),
    ("POST", N, {"name": "n9", "address": "127.0.0.9", "disks": [{**DISK, "path": "/"}]}, 422, "root directory"),
    ("POST", N, {"name": "n9", "address": "127.0.0.9", "disks": [{**DISK, "path": "/etc"}]}, 422, "system's /etc"),
    ("POST", N, {"name": "n9", "address": "127.0.0.9", "disks": [{**DISK, "path": "/sys/x"}]}, 422, "system's /sys"),
    ("POST", N, {"name": "n9", "address": "127.0.0.9", "disks": [{**DISK, "path": "/a/../etc"}]}, 422, "normalised"),
    ("POST", N, {"name": "n9", "address": "127.0.0.9", "disks": [{**DISK, "path": "rel"}]}, 422, "absolute"),
    ("POST", N, {"name": "n9", "address": "127.0.0.9", "disks": [{**DISK, "capacity": True}]}, 422,
     "disks.0.capacity: Input should be a valid integer"),
    ("POST", N, {"name": "n9", "address": "127.0.0.9", "disks": [{**DISK, "capacity": 0}]}, 422, "must be >= 1"),
    ("POST", N, {"name": "n9", "address": "127.0.0.9", "disks": [{**DISK, "capacity": 1}]}, 201, '"capacity": 1,'),
    ("POST", N, {"name": "n9", "address": "127.0.0.9", "disks": [{**DISK, "capacity": 4096, "reserved": 4097}]},
     422, "must be 0..4096"),
    ("POST", N, {"name": "n1", "address": "127.0.0.1"}, 409, "node 'n1' already exists"),
    ("POST", N, {"name": "n9", "address": "127.0.0.9", "disks": [{**DISK, "path": f"/d/{i}"} for i in range(256)]},
     201, '"path": "/d/255"'),
    ("POST", N, {"name": "n9", "address": "127.0.0.9", "disks": [{**DISK, "path": f"/d/{i}"} for i in range(257)]},
     422, "at most 256 per node"),
    ("POST", N, {"name": "n9", "address": "127.0.0.9", "tags": [f"t{i}" for i in range(65)]}, 422, "at most 64 tags"),
    ("POST", V, {"name": "v9", "size": 4096, "node_selector": [f"t{i}" for i in range(65)]}, 422, "at most 64 tags"),
    # -- /v1/nodes/{name}: get, rm, cordon --------------------------------------------------------------
    ("GET", N + "/nope", None, 404, "node 'nope' not found"),
    ("DELETE", N + "/nope", None, 404, "node 'nope' not found"),
    ("DELETE", N + "/n3", None, 409, "replicas live there: solo/r1"),
    ("DELETE", N + "/n1", None, 409, "volumes attached there: attaching"),
    ("DELETE", N + "/empty", None, 200, '"deleted": true'),
    ("DELETE", N + "/removed", None, 404, "node 'removed' not found"),
    ("POST", N + "/nope/cordon", None, 404, "node 'nope' not found"),
    ("POST", N + "/removed/cordon", None, 404, "node 'removed' not found"),
    ("POST", N + "/cordoned/cordon", None, 200, '"schedulable": false'),
    ("POST", N, {"name": "removed", "address": "127.0.0.7"}, 201, '"address": "127.0.0.7"'),
    ("POST", N + "/n1/uncordon", None, 200, '"schedulable": true'),
    # -- POST /v1/volumes: name, size, replicas ----------------------------------------------------------
    ("POST", V, {"name": NAME63, "size": 4096, "number_of_replicas": 1}, 201, '"state": "detached"'),
    ("POST", V, {"name": NAME63 + "a", "size": 4096}, 422, "invalid volume name"),
    ("POST", V, {"name": "v9", "size": True}, 422, "size: Input should be a valid integer"),
    ("POST", V, {"name": "v9", "size": False}, 422, "size: Input should be a valid integer"),
    ("POST", V, {"name": "v9", "size": 4096.0}, 422, "size: Input should be a valid integer"),
    ("POST", V, {"name": "v9", "size": None}, 422, "size: Input should be a valid integer"),
    ("POST", V, {"name": "v9", "size": 0}, 422, "must be greater than 0"),
    ("POST", V, {"name": "v9", "size": 4095}, 422, "multiple of 4096"),
    ("POST", V, {"name": "v9", "size": 2**50 + 4096}, 422, "must be at most 1125899906842624"),
    ("POST", V, {"name": "v9", "size": 2**64}, 422, "must be at most"),
    ("POST", V, {"name": "v9", "size": "1Gx"}, 422, "invalid size '1Gx'"),
    ("POST", V, {"name": "v9", "size": "4096", "number_of_replicas": "1"}, 422,
     "number_of_replicas: Input should be a valid integer"),
    ("POST", V, {"name": "v9", "size": 4096, "number_of_replicas": True}, 422, "number_of_replicas"),
    ("POST", V, {"name": "v9", "size": 4096, "number_of_replicas": 11}, 422, "must be 1..10"),
    ("POST", V, {"name": "v9", "size": 4096, "number_of_replicas": 4}, 409, "InsufficientNodes"),
    ("POST", V, {"name": "v9", "size": 4096, "stale_replica_timeout": 10**30}, 422, "must be 0..31536000"),
    ("POST", V, {"name": "v9", "size": 4096, "extra": 1}, 422, "extra: Extra inputs are not permitted"),
    ("POST", V, [], 422, "Input should be a valid dictionary"),
    ("POST", V, None, 400, "needs a JSON body"),
    ("POST", V, {"name": "detached", "size": 4096}, 409, "volume 'detached' already exists"),
    ("POST", V, {"name": "deleted", "size": 4096}, 409, "a deleted volume's name is not reused"),
    # -- /v1/volumes/{name}: get, delete, expand ---------------------------------------------------------
    ("GET", V + "/nope", None, 404, "volume 'nope' not found"),
    ("GET", V + "/%2e%2e", None, 404, "volume '..' not found"),
    ("GET", V + "/deleted", None, 200, '"state": "deleted"'),
    ("DELETE", V + "/attaching", None, 409, "detach it first"),
    ("DELETE", V + "/deleted", None, 202, '"state": "deleted"'),
    ("DELETE", V + "/nope", None, 404, "volume 'nope' not found"),
    ("POST", V + "/detached/expand", {"size": "1Gi"}, 200, '"size": 1073741824'),
    ("POST", V + "/detached/expand", {"size": True}, 422, "size: Input should be a valid integer"),
    ("POST", V + "/detached/expand", {"size": 2**80}, 422, "must be at most"),
    ("POST", V + "/detached/expand", {"size": "1023Mi"}, 422, "volumes only grow"),
    ("POST", V + "/attaching/expand", {"size": "2Gi"}, 409, "while it is attaching"),
    ("POST", V + "/deleted/expand", {"size": "2Gi"}, 409, "while it is deleted"),
    # -- attach / detach ---------------------------------------------------------------------------------
    ("POST", V + "/detached/attach", {"node": "nope"}, 404, "node 'nope' not found"),
    ("POST", V + "/detached/attach", {"node": "Bad_Node"}, 422, "invalid node name"),
    ("POST", V + "/detached/attach", {"node": "removed"}, 404, "node 'removed' not found"),
    ("POST", V + "/detached/attach", {}, 422, "node: Field required"),
    ("POST", V + "/nope/attach", {"node": "n1"}, 404, "volume 'nope' not found"),
    ("POST", V + "/detached/attach", {"node": "n1"}, 202, '"reason": "Attaching"'),
    ("POST", V + "/attaching/attach", {"node": "n2"}, 409, "cannot attach volume 'attaching'"),
    ("POST", V + "/deleting/attach", {"node": "n1"}, 409, "while it is deleting"),
    ("POST", V + "/attaching/detach", None, 202, '"reason": "Detaching"'),
    ("POST", V + "/attaching/detach?force=true", None, 202, '"reason": "DetachForced"'),
    ("POST", V + "/detaching/detach?force=true", None, 202, '"state": "detached"'),
    ("POST", V + "/detaching/detach?force=false", None, 202, '"state": "detaching"'),
    ("POST", V + "/detaching/detach?force=yes", None, 422, "expected true or false"),
    ("POST", V + "/deleted/detach?force=true", None, 409, "cannot force detach volume 'deleted'"),
    # -- replicas / snapshots ---------------------------------------------------------------------------
    ("GET", V + "/detached/replicas", None, 200, '"name": "r1"'),
    ("POST", V + "/detached/snapshots", {"name": NAME63}, 202, NAME63),
    ("POST", V + "/detached/snapshots", {"name": NAME63 + "a"}, 422, "invalid snapshot name"),
    ("POST", V + "/detached/snapshots", {"name": "s1"}, 409, "snapshot 's1' already exists"),
    ("POST", V + "/detached/snapshots", {"name": "s2", "labels": {"k": 1}}, 422, "labels.k"),
    ("POST", V + "/detached/snapshots", {"name": "s2", "labels": {"k" * 64: "v"}}, 422, "label key"),
    ("POST", V + "/deleted/snapshots", {"name": "s2"}, 409, "deleted"),
    ("DELETE", V + "/detached/snapshots/nope", None, 404, "snapshot 'nope' of volume 'detached' not found"),
    ("POST", V + "/detached/snapshots/nope/revert", None, 404, "snapshot 'nope'"),
    # -- events ------------------------------------------------------------------------------------------
    ("GET", V + "/detached/events?at=0", None, 422, "outside volume 'detached''s history"),
    ("GET", V + "/detached/events?at=1", None, 200, '"at": 1'),
    ("GET", V + "/detached/events?at=-1", None, 422, "invalid point '-1'"),
    ("GET", V + "/detached/events?at=99999999999999999999", None, 422, "outside"),
    ("GET", V + "/nope/events", None, 404, "volume 'nope' not found"),
    # -- jobs ----------------------------------------------------------------------------------------------
    ("POST", J, {"name": "j2", "cron": "* * * * *", "retain": 1, "volumes": ["detached"]}, 201, '"name": "j2"'),
    ("POST", J, {"name": "j2", "cron": "* * * * *", "retain": True}, 422, "retain: Input should be a valid integer"),
    ("POST", J, {"name": "j2", "cron": "* * * * *", "retain": 101}, 422, "must be 1..100"),
    ("POST", J, {"name": "j2", "cron": "* * * * *", "retain": 1, "volumes": ["nope"]}, 404, "volume 'nope' not found"),
    ("POST", J, {"name": "j2", "cron": "* * * * *", "retain": 1, "volumes": ["deleted"]}, 404, "is deleted"),
    ("POST", J, {"name": "j2", "cron": "* * * * *", "retain": 1, "task": "backup"}, 422, "backups are not built yet"),
    ("POST", J, {"name": "j2", "cron": "61 * * * *", "retain": 1}, 422, "invalid cron"),
    ("POST", J, {"name": "daily", "cron": "* * * * *", "retain": 1}, 409, "'daily' already exists"),
    ("PATCH", J + "/daily", {"volumes": ["detached", "nope"]}, 404, "volume 'nope' not found"),
    ("PATCH", J + "/daily", {"labels": {f"k{i}": "v" for i in range(64)}}, 200, '"k63": "v"'),
    ("PATCH", J + "/daily", {"labels": {f"k{i}": "v" for i in range(65)}}, 422, "invalid labels 65: at most 64"),
    ("PATCH", J + "/daily", {"retain": 1.0}, 422, "retain: Input should be a valid integer"),
    ("PATCH", J + "/daily", {}, 200, '"retain": 3'),
    ("PATCH", J + "/nope", {"retain": 2}, 404, "recurring job 'nope' not found"),
    ("DELETE", J + "/nope", None, 404, "recurring job 'nope' not found"),
    # -- the transport ----------------------------------------------------------------------------------
    ("PUT", V, None, 405, "PUT not allowed on /v1/volumes"),
    ("GET", V + "/detached/", None, 404, "no route"),
    ("POST", V, Raw(b"{not json"), 400, "body is not valid JSON"),
    ("POST", V, Raw(b'{"name": "v9", "size": NaN}'), 400, "NaN is not a JSON number"),
    ("POST", V, Raw(b'{"name": "v9", "size": ' + b"9" * 5000 + b"}"), 400, "body is not valid JSON"),
    ("POST", V, Raw(b"[" * 100_000), 400, f"nests deeper than {MAX_DEPTH} levels"),
    ("POST", V, Raw(b"[" * 100_000 + b"]" * 100_000), 400, f"nests deeper than {MAX_DEPTH} levels"),
    ("POST", V, nested(MAX_DEPTH + 1), 400, f"nests deeper than {MAX_DEPTH} levels"),
    ("POST", V, nested(MAX_DEPTH), 422, "node_selector.0: Input should be a valid string"),
    ("POST", V, Raw(b" " * (MAX_BODY + 1)), 413, "body over"),
]


def _id(row: tuple[str, str, Any, int, str]) -> str:
    method, path, body, status, _ = row
    shown = "raw" if isinstance(body, Raw) else json.dumps(body)
    return f"{status}:{method} {path} {shown[:40]}"


@pytest.mark.parametrize(("method", "path", "body", "status", "fragment"), ROWS, ids=[_id(r) for r in ROWS])
def test_rest_limits(api: ApiClient, method: str, path: str, body: Any, status: int, fragment: str) -> None:
    raw = body if isinstance(body, Raw) else None
    got, document = api.call(method, path, None if raw is not None else body, raw)
    assert got == status, document
    shown = document["error"]["message"] if status >= 400 else json.dumps(document)
    assert fragment in shown


def test_listen_backlog_is_not_five(tmp_path: Path) -> None:
    """The kernel's accept queue of the API socket, as ``ss`` reports it (Send-Q of a listener)."""
    app = open_control_plane("memory:")
    handle = start_api(app, port=0)
    try:
        port = handle.address[1]
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
        somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
        assert int(out.split()[2]) == min(BACKLOG, somaxconn) > 5, out
    finally:
        handle.stop()
        app.close()
