"""Where the control plane's events live: store URLs -> an open ``ControlPlane``.

Called by every in-process user of the event store (the CLI's ``--store`` /
``PRONGHORN_STORE``, the manager, tests, bench/eventstore.py). A store URL is:

- absent: ``$PRONGHORN_STORE`` if set, else the SQLite file
  ``$PRONGHORN_HOME/events.sqlite`` (``PRONGHORN_HOME`` defaults to
  ``~/.local/share/pronghorn`` and is created if missing);
- ``sqlite:///abs/path.sqlite``: a SQLite file (its directory must exist);
- ``memory:``: a fresh in-memory store (gone when the application is closed);
- ``postgresql://user[:password]@host[:port]/dbname`` (``postgres://`` too).

``persistence_env`` maps a URL to the eventsourcing 9.5 environment variables;
``open_control_plane`` builds the application on it, its connections guarded
(``domain.store_guard``: while the store is down, calls fail at once with ``StoreDown``
and ``app.health`` says when it is back). Close what you open
(``app.close()`` or ``with open_control_plane(url) as app:``): PostgreSQL
connection pools complain at exit otherwise.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from eventsourcing.persistence import PersistenceError

from domain.application import ControlPlane
from domain.store_errors import InvalidStoreURL, StoreDown, StoreError, StoreUnavailable
from domain.store_guard import guard_store

__all__ = ["InvalidStoreURL", "StoreDown", "StoreError", "StoreUnavailable", "open_control_plane"]  # errors re-exported

STORE_ENV = "PRONGHORN_STORE"
HOME_ENV = "PRONGHORN_HOME"
DEFAULT_HOME = "~/.local/share/pronghorn"
SQLITE_FILENAME = "events.sqlite"
POSTGRES_DEFAULT_PORT = 5432
POSTGRES_CONNECT_TIMEOUT_S = 5
SQLITE_LOCK_TIMEOUT_S = 30  # several processes may share one file (CLI next to a manager)
OPEN_ATTEMPTS = 5
CONCURRENT_DDL = ("tuple concurrently updated", "pg_type_typname_nsp_index", "already exists")


class StoreKind(StrEnum):
    MEMORY = "memory"
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


@dataclass(frozen=True)
class StoreLocation:
    """A parsed store URL: its kind, eventsourcing env, and a printable form (password hidden)."""

    kind: StoreKind
    env: dict[str, str]
    display: str


def default_store_url() -> str:
    """``$PRONGHORN_STORE``, else the SQLite file in ``$PRONGHORN_HOME`` (directory created)."""
    configured = os.environ.get(STORE_ENV, "").strip()
    if configured:
        return configured
    home = Path(os.environ.get(HOME_ENV, "").strip() or DEFAULT_HOME).expanduser().resolve()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(str(home), f"cannot create {HOME_ENV} directory: {exc.strerror}") from exc
    return f"sqlite://{home / SQLITE_FILENAME}"


def parse_store_url(url: str | None = None) -> StoreLocation:
    """Parse a store URL (None: the default store) or raise ``InvalidStoreURL``."""
    url = default_store_url() if url is None else url.strip()
    if url == "memory:":
        return StoreLocation(StoreKind.MEMORY, {"PERSISTENCE_MODULE": "eventsourcing.popo"}, "memory:")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidStoreURL(url, str(exc)) from exc
    if parts.query or parts.fragment:
        raise InvalidStoreURL(url, "query strings and fragments are not supported")
    if parts.scheme == "sqlite":
        return _sqlite_location(url, parts)
    if parts.scheme in ("postgresql", "postgres"):
        return _postgres_location(url, parts)
    raise InvalidStoreURL(url, "expected memory:, sqlite:///ABS/PATH or postgresql://USER@HOST:PORT/DB")


def _sqlite_location(url: str, parts: SplitResult) -> StoreLocation:
    if parts.netloc:
        raise InvalidStoreURL(url, "a SQLite URL has no host: write sqlite:///absolute/path.sqlite")
    path = Path(unquote(parts.path))
    if not path.is_absolute() or path == Path("/"):
        raise InvalidStoreURL(url, "a SQLite URL needs an absolute file path: sqlite:///absolute/path.sqlite")
    if path.is_dir():
        raise InvalidStoreURL(url, f"{path} is a directory, not a SQLite file")
    if not path.parent.is_dir():
        raise InvalidStoreURL(url, f"directory {path.parent} does not exist")
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": str(SQLITE_LOCK_TIMEOUT_S),
    }
    return StoreLocation(StoreKind.SQLITE, env, f"sqlite://{path}")


def _postgres_location(url: str, parts: SplitResult) -> StoreLocation:
    user = unquote(parts.username or "")
    host = parts.hostname or ""
    hostport = parts.netloc.rpartition("@")[2]
    if hostport.lower().startswith("%2f"):  # a unix socket directory, percent-encoded (case kept)
        host = unquote(hostport.split(":", 1)[0])
    dbname = unquote(parts.path.lstrip("/"))
    if not user:
        raise InvalidStoreURL(url, "a PostgreSQL URL needs a user: postgresql://USER@HOST:PORT/DB")
    if not host:
        raise InvalidStoreURL(url, "a PostgreSQL URL needs a host: postgresql://USER@HOST:PORT/DB")
    if not dbname or "/" in dbname:
        raise InvalidStoreURL(url, "a PostgreSQL URL needs one database name: postgresql://USER@HOST:PORT/DB")
    port = parts.port or POSTGRES_DEFAULT_PORT
    password = unquote(parts.password) if parts.password is not None else os.environ.get("PGPASSWORD", "")
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": user,
        "POSTGRES_PASSWORD": password,
        "POSTGRES_CONNECT_TIMEOUT": str(POSTGRES_CONNECT_TIMEOUT_S),
    }
    secret = ":***" if parts.password else ""
    return StoreLocation(StoreKind.POSTGRESQL, env, f"postgresql://{user}{secret}@{host}:{port}/{dbname}")


def persistence_env(url: str | None = None) -> dict[str, str]:
    """The eventsourcing environment variables for a store URL (None: the default store)."""
    return dict(parse_store_url(url).env)


def open_control_plane(url: str | None = None) -> ControlPlane:
    """Open the control plane application on a store; raises ``InvalidStoreURL`` / ``StoreUnavailable``."""
    location = parse_store_url(url)
    if location.kind is StoreKind.POSTGRESQL and (unreachable := _postgres_unreachable(location.env)):
        raise StoreUnavailable(location.display, unreachable)
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            app = ControlPlane(env=location.env)
        except (PersistenceError, OSError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            if location.kind is StoreKind.POSTGRESQL and attempt < OPEN_ATTEMPTS and _concurrent_ddl(reason):
                time.sleep(0.05 * attempt)  # another process created the tables at the same moment: they exist now
                continue
            if location.kind is StoreKind.POSTGRESQL:
                reason += " (check user, password and database name)"
            raise StoreUnavailable(location.display, reason) from exc
        app.health = guard_store(app, location.display)
        return app
    raise AssertionError("unreachable")


def _concurrent_ddl(reason: str) -> bool:
    """PostgreSQL's answers when two processes create the same tables at once (CREATE ... IF NOT
    EXISTS is not safe against a concurrent twin): retrying finds the tables made."""
    return any(text in reason for text in CONCURRENT_DDL)


def _postgres_unreachable(env: dict[str, str]) -> str:
    """Why nothing answers at the server's address ("" if something listens there).

    The connection pool would only report a timeout after retrying for seconds; a
    plain TCP connect tells the commonest mistake (wrong host/port, server down) at once.
    """
    host, port = env["POSTGRES_HOST"], int(env["POSTGRES_PORT"])
    if host.startswith("/"):
        return ""  # a unix socket directory: let the driver report
    try:
        with socket.create_connection((host, port), timeout=POSTGRES_CONNECT_TIMEOUT_S):
            return ""
    except OSError as exc:
        return f"no server reachable at {host}:{port} ({exc.strerror or type(exc).__name__})"
