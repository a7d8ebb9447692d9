"""Who may reach the REST API: loopback only without a token; with one, every request carries it.

The token tests run the real ``pronghorn api`` executable on 127.0.0.1 with
``--api-token-file`` and talk to it with http.client; the refusals run the executable
(and ``start_api`` itself) asking for 0.0.0.0, which must exit before binding anything.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from adapters.cli.errors import ExitCode
from adapters.rest.access import AccessError, is_loopback
from adapters.rest.server import start_api
from domain.application import ControlPlane
from domain.store import open_control_plane
from tests.conftest import PRONGHORN
from tests.fixtures.local_cluster import LocalCluster, wait_for
from tests.fixtures.nodes import managed

TOKEN = "s3cret-token-0123456789"
TIMEOUT_S = 30


def token_file(directory: Path, text: str = TOKEN, mode: int = 0o600) -> Path:
    path = directory / "token"
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def pronghorn(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRONGHORN_HOME": str(home)}
    return subprocess.run([PRONGHORN, *args], capture_output=True, text=True, env=env, timeout=TIMEOUT_S, check=False)


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``pronghorn api`` on 127.0.0.1 (any port) with a token file: (base URL, process)."""
    store = f"sqlite://{tmp_path / 'events.sqlite'}"
    proc = subprocess.Popen(
        [PRONGHORN, "api", "--listen", "127.0.0.1:0", "--store", store,
         "--api-token-file", str(token_file(tmp_path))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        ready = proc.stdout.readline()
        assert ready.startswith("pronghorn api listening on http://127.0.0.1:"), ready + proc.stderr.read()
        yield ready.split()[-1], proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(TIMEOUT_S)


def request(url: str, method: str, path: str, body: object = None,
            authorization: str | None = None) -> tuple[int, dict[str, str], object]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT_S)
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    try:
        connection.request(method, path, None if body is None else json.dumps(body), headers)
        reply = connection.getresponse()
        return reply.status, dict(reply.getheaders()), json.loads(reply.read())
    finally:
        connection.close()


@pytest.mark.parametrize("authorization", [None, "", "Bearer", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}",
                                           f"bearer {TOKEN}", TOKEN, f"Basic {TOKEN}", f"Bearer  {TOKEN}"])
def test_a_request_without_the_token_is_401(guarded: tuple[str, subprocess.Popen[str]],
                                            authorization: str | None) -> None:
    url, _ = guarded
    for method, path, body in (("GET", "/v1/volumes", None), ("GET", "/openapi.json", None),
                               ("POST", "/v1/nodes", {"name": "n1", "address": "127.0.0.1"})):
        status, headers, document = request(url, method, path, body, authorization)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer"), document
        assert isinstance(document, dict) and document["error"]["code"] == "Unauthorized"
    status, _, nodes = request(url, "GET", "/v1/nodes", authorization=f"Bearer {TOKEN}")
    assert (status, nodes) == (200, [])  # the refused POST wrote nothing


def test_with_the_token_every_route_answers_and_the_token_is_never_logged(
        guarded: tuple[str, subprocess.Popen[str]], tmp_path: Path) -> None:
    url, proc = guarded
    bearer = f"Bearer {TOKEN}"
    status, _, openapi = request(url, "GET", "/openapi.json", authorization=bearer)
    assert status == 200 and isinstance(openapi, dict)
    assert openapi["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    node = {"name": "n1", "address": "127.0.0.1", "disks": [{"path": "/srv/d", "capacity": "10Gi"}]}
    assert request(url, "POST", "/v1/nodes", node, bearer)[0] == 201
    assert request(url, "POST", "/v1/nodes", node, bearer)[0] == 409
    with open_control_plane(f"sqlite://{tmp_path / 'events.sqlite'}") as app:
        managed(app)  # stand in for n1's manager: Ready, its disk confirmed
    status, _, volume = request(url, "POST", "/v1/volumes", {"name": "v1", "size": "1Gi", "number_of_replicas": 1},
                                bearer)
    assert status == 201 and isinstance(volume, dict) and volume["state"] == "detached"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 0 and TOKEN not in stderr


@pytest.mark.parametrize(("args", "fragment"), [
    (["api", "--listen", "0.0.0.0:0"], "without a token"),
    (["up", "--api", "0.0.0.0:0"], "without a token"),
    (["manager", "--node", "n1", "--api", "0.0.0.0:0"], "without a token"),
])
def test_listening_beyond_loopback_without_a_token_is_refused(tmp_path: Path, args: list[str],
                                                              fragment: str) -> None:
    proc = pronghorn(*args, home=tmp_path / "home")
    assert proc.returncode == ExitCode.USAGE and fragment in proc.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "home").exists()  # refused before anything was set up


@pytest.mark.parametrize(("text", "mode", "fragment"), [
    (TOKEN, 0o644, "readable by others"),
    (TOKEN, 0o640, "readable by others"),
    ("short", 0o600, "16..4096 printable ASCII"),
    ("with a space in it", 0o600, "printable ASCII"),
    ("", 0o600, "printable ASCII"),
])
def test_a_bad_token_file_is_refused(tmp_path: Path, text: str, mode: int, fragment: str) -> None:
    path = token_file(tmp_path, text, mode)
    proc = pronghorn("api", "--listen", "0.0.0.0:0", "--api-token-file", str(path), home=tmp_path)
    assert proc.returncode == ExitCode.USAGE and fragment in proc.stderr, proc.stderr
    assert TOKEN not in proc.stderr


def test_start_api_itself_refuses_a_non_loopback_address_without_a_token() -> None:
    app = ControlPlane()
    try:
        with pytest.raises(AccessError, match="without a token"):
            start_api(app, "0.0.0.0", 0)
        handle = start_api(app, "127.0.0.1", 0, token=TOKEN.encode())
        handle.stop()
    finally:
        app.close()


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.255.255.254", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.1", False), ("128.0.0.1", False), ("example.com", False),
    ("[::1]", False),
])
def test_loopback_is_127_0_0_0_8_and_ipv6_1(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_managers_api_wants_the_token_too(tmp_path: Path) -> None:
    """``pronghorn up --api ... --api-token-file F``: the manager's own API (the same server) asks for it."""
    cluster = LocalCluster(tmp_path / "home", nodes=1)
    cluster.home.mkdir()
    out = cluster.home / "manager.out"
    try:
        with open(out, "wb") as stdout, open(cluster.log_path, "wb") as stderr:
            proc = cluster.proc = subprocess.Popen(
                [PRONGHORN, "up", "--home", str(cluster.home), "--nodes", "1", "--api", "127.0.0.1:0",
                 "--api-token-file", str(token_file(tmp_path))], stdin=subprocess.DEVNULL, stdout=stdout,
                stderr=stderr, start_new_session=True)
        line = wait_for("the REST API banner", lambda: next(
            (text for text in out.read_text().splitlines() if text.startswith("REST API on ")), None)
            or (proc.poll() is not None and "exited"), 60)
        assert line != "exited", cluster.log_path.read_text()[-3000:]
        url = line.split()[3]
        assert request(url, "GET", "/v1/nodes")[0] == 401
        status, _, nodes = request(url, "GET", "/v1/nodes", authorization=f"Bearer {TOKEN}")
        assert status == 200 and isinstance(nodes, list) and [n["name"] for n in nodes] == ["node1"]
    finally:
        cluster.cleanup()
    assert TOKEN not in cluster.log_path.read_text()
