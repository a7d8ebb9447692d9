"""The HTTP server: ``start_api(app)`` serves the route table on 127.0.0.1:9500.

Standard library only (``http.server.ThreadingHTTPServer``: one thread per
connection; the event-sourced application is shared, its services retry
optimistic-concurrency conflicts). Per request: match the route (404 / 405
otherwise), parse the JSON body into the route's pydantic model (400 if it is not
JSON or nested deeper than ``MAX_DEPTH``), call the handler, answer with the route's
status and the document as JSON; a query parameter the route does not know is refused
(400). A route that can stream answers ``Accept: text/event-stream`` (or
``?follow=true``) with server-sent events until the client leaves or the server
stops. Started with a token (``adapters.rest.access``), every request without
``Authorization: Bearer TOKEN`` gets 401; without one it listens on loopback only.
Every failure becomes ``{"error": {"code", "message"}}`` through
``adapters.rest.errors``; a 503 (store unavailable: answered at once while the store
is down, see ``domain.store_health``) also carries ``Retry-After``. Called by
``pronghorn api`` (``adapters.rest.cli``) and
by the manager, which owns the application and passes it in.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from adapters.rest.access import authorized, check_exposure
from adapters.rest.errors import ApiError, classify, error_body, retry_after
from adapters.rest.openapi import openapi_document
from adapters.rest.routes import Call, FrontendProbe, Route, all_routes, mounts_on_this_host
from domain.application import ControlPlane
from domain.causation import acting
from projections.plain import plain

log = logging.getLogger("pronghorn.api")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9500
MAX_BODY = 1 << 20
MAX_DRAINED = 64 << 20  # a larger refused body is not read: the connection is closed instead
STOP_POLL_S = 0.1  # how often serve_forever checks for stop(): stop() waits at most this long
STREAM_POLL_S = 0.5  # how often a server-sent event stream looks for new events
STREAM_KEEPALIVE_S = 15.0  # a comment line this often on an idle stream (finds clients that left)
MAX_DEPTH = 32  # arrays / objects nested deeper than this are refused (no request needs more than 3)
BACKLOG = 1024  # connections the kernel queues before accept (the kernel caps it at net.core.somaxconn)


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(self, address: tuple[str, int], app: ControlPlane, routes: list[Route],
                 frontend_use: FrontendProbe = mounts_on_this_host, token: bytes | None = None) -> None:
        super().__init__(address, ApiRequestHandler)
        self.app = app
        self.frontend_use = frontend_use
        self.routes = routes
        self.stopping = threading.Event()  # ends the event streams
        self.token = token
        url = f"http://{address[0]}:{self.server_address[1]}"
        self.openapi = json.dumps(openapi_document(routes, url)).encode()


class ApiRequestHandler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"
    server_version = "pronghorn-api"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        with acting(f"rest:{self.client_address[0]}"):  # events it records name the client
            self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        try:
            if not authorized(self.headers.get("Authorization"), self.server.token):
                self.close_connection = True  # its body is not read
                raise ApiError(HTTPStatus.UNAUTHORIZED, "Unauthorized", "send Authorization: Bearer TOKEN "
                               "(the token in the file given to --api-token-file)")
            url = urlsplit(self.path)
            body = self._read_body()
            if url.path == "/openapi.json" and self.command == "GET":
                self._send(HTTPStatus.OK, self.server.openapi)
                return
            route, params = self._match(url.path)
            query = dict(parse_qsl(url.query, keep_blank_values=True))
            unknown = sorted(set(query) - set(route.query))
            if unknown:
                raise ApiError(HTTPStatus.BAD_REQUEST, "UnknownParameter",
                               f"unknown query parameter(s) {', '.join(unknown)} for {route.path} "
                               f"(known: {', '.join(route.query) or 'none'})")
            if route.stream is not None and self._wants_stream(query):
                self._stream(route.stream(Call(self.server.app, params, query)))
                return
            model = None
            if route.body is not None:
                if body is None and route.body_required:
                    raise ApiError(HTTPStatus.BAD_REQUEST, "MalformedJSON", "this request needs a JSON body")
                model = route.body.model_validate({} if body is None else body)
            document = route.handler(Call(self.server.app, params, query, model, self.server.frontend_use))
            self._send(route.status, json.dumps(plain(document)).encode())
        except Exception as exc:  # noqa: BLE001 - every failure is answered, in one shape
            status, code, message = classify(exc)
            headers = {}
            if status == HTTPStatus.SERVICE_UNAVAILABLE:  # the store's health logs its outage, once
                headers["Retry-After"] = str(retry_after(exc))
            elif status >= HTTPStatus.INTERNAL_SERVER_ERROR:
                log.warning("%s %s: %s", self.command, self.path, message, exc_info=status == 500)
            self._send(status, json.dumps(error_body(code, message)).encode(), headers)

    def _wants_stream(self, query: dict[str, str]) -> bool:
        follow = query.pop("follow", "").lower()
        if follow not in ("", "true", "false", "1", "0"):
            raise ApiError(HTTPStatus.BAD_REQUEST, "InvalidValue", f"follow={follow!r}: expected true or false")
        return follow in ("true", "1") or "text/event-stream" in (self.headers.get("Accept") or "")

    def _stream(self, documents: Iterator[Any]) -> None:
        """Server-sent events: one ``data:`` line of JSON per document, a comment to keep the line
        alive; a ``None`` from ``documents`` means "nothing new": wait, then ask again."""
        first = next(documents, None)  # errors of the first read are answered as usual
        self.close_connection = True
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        idle = 0.0
        try:
            for document in itertools.chain([first], documents):
                if self.server.stopping.is_set():
                    return
                if document is None:
                    self.server.stopping.wait(STREAM_POLL_S)
                    idle += STREAM_POLL_S
                    if idle >= STREAM_KEEPALIVE_S:
                        self.wfile.write(b": keep-alive\n\n")
                        self.wfile.flush()
                        idle = 0.0
                    continue
                idle = 0.0
                payload = json.dumps(plain(document))
                event_id = document.get("global_position", "") if isinstance(document, dict) else ""
                self.wfile.write(f"id: {event_id}\ndata: {payload}\n\n".encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return  # the client went away

    def _read_body(self) -> Any:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # the unread body would be taken for the next request
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, "LengthRequired", "send the body with a Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise ApiError(HTTPStatus.BAD_REQUEST, "MalformedRequest", "Content-Length is not a number") from None
        if length > MAX_BODY:
            if length <= MAX_DRAINED:  # read it away so the client sees the answer, not a reset
                while length > 0 and (chunk := self.rfile.read(min(1 << 16, length))):
                    length -= len(chunk)
            else:
                self.close_connection = True
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "TooLarge", f"body over {MAX_BODY} bytes")
        raw = self.rfile.read(length) if length > 0 else b""
        if not raw.strip():
            return None
        try:
            document = json.loads(raw, parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError; NaN; an integer of 4,300+ digits
            raise ApiError(HTTPStatus.BAD_REQUEST, "MalformedJSON", f"body is not valid JSON: {exc}") from None
        except RecursionError:  # deeper than the parser goes
            raise _too_deep() from None
        if _deeper_than(document, MAX_DEPTH):
            raise _too_deep()
        return document

    def _match(self, path: str) -> tuple[Route, dict[str, str]]:
        allowed = []
        for route in self.server.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == self.command:
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
            allowed.append(route.method)
        if allowed:
            raise ApiError(HTTPStatus.METHOD_NOT_ALLOWED, "MethodNotAllowed",
                           f"{self.command} not allowed on {path} (allowed: {', '.join(sorted(allowed))})")
        raise ApiError(HTTPStatus.NOT_FOUND, "NotFound", f"no route {path} (see /openapi.json)")

    def _send(self, status: HTTPStatus, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status == HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", 'Bearer realm="pronghorn"')
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


@dataclass
class ApiHandle:
    """A running API server: ``address`` (host, port), ``url``, ``stop()``."""

    server: ApiServer
    thread: threading.Thread

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _too_deep() -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "MalformedJSON", f"body nests deeper than {MAX_DEPTH} levels")


def _deeper_than(document: Any, limit: int) -> bool:
    """Whether arrays / objects nest more than ``limit`` levels (``[]`` is 1; iterative, no recursion)."""
    level = [document]
    for _ in range(limit):
        level = [child for item in level if isinstance(item, list | dict)
                 for child in (item.values() if isinstance(item, dict) else item)]
    return any(isinstance(item, list | dict) for item in level)


def start_api(app: ControlPlane, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
              frontend_use: FrontendProbe = mounts_on_this_host, *, token: bytes | None = None) -> ApiHandle:
    """Serve the REST API for ``app`` in a background thread (port 0: any free port); ``frontend_use``
    says who uses a volume before a revert (the manager passes one that also asks the engine). Anywhere
    but loopback only with a ``token`` every request must carry (``AccessError`` otherwise)."""
    check_exposure(host, token)
    server = ApiServer((host, port), app, all_routes(), frontend_use, token)
    thread = threading.Thread(target=server.serve_forever, args=(STOP_POLL_S,), name="pronghorn-api", daemon=True)
    thread.start()
    log.info("REST API on http://%s:%d", host, server.server_address[1])
    return ApiHandle(server, thread)
