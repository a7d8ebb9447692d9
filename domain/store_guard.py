"""``guard_store(app, display)``: a ``StoreHealth`` in front of an application's store connections.

Called by ``domain.store.open_control_plane`` for every application it opens. Every
recorder of eventsourcing 9.5 (PostgreSQL and SQLite) takes its connections from its
datastore's ``get_connection``; the guard wraps that one method on the datastore
object, so that (see ``domain.store_health``):

- while the store is known to be down, a store call raises ``StoreDown`` at once,
  before the library's own retries (ten attempts, each waiting up to the pool's
  timeout: 37 s and more per call on PostgreSQL) can start;
- a connection-level failure (``OperationalError``/``InterfaceError``) is checked with
  a probe on a fresh connection: unreachable → ``StoreDown``; reachable → a stale
  connection (the server restarted between two calls): broken idle connections are
  dropped from the PostgreSQL pool and the library's retry goes on.

PostgreSQL: every connection attempt (the pool's and the probe's) gives up after
``CONNECT_TIMEOUT_S`` (libpq waits forever by default), and when the store is back the
datastore gets a fresh pool (the old one's reconnect attempts back off to a minute
and more). SQLite: the probe takes the write lock for ``PROBE_TIMEOUT_S``, so a file
locked past the store's lock timeout, or gone, is down. In memory: never down.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import quote

from eventsourcing.application import Application
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.sqlite import SQLiteDatastore

from domain.store_health import Probe, StoreHealth

CONNECT_TIMEOUT_S = 2
PROBE_TIMEOUT_S = 2
CONNECTION_FAILURES = (OperationalError, InterfaceError, sqlite3.OperationalError)
POSTGRES_PARAMS = ("dbname", "host", "port", "user", "password")


def guard_store(app: Application, display: str) -> StoreHealth:
    """Install the guard on ``app``'s datastore; returns its health (never down in memory)."""
    datastore: Any = getattr(app.factory, "datastore", None)
    after_blip: Callable[[], None] | None = None
    if isinstance(datastore, SQLiteDatastore):
        health = StoreHealth(display, _sqlite_probe(datastore.pool.db_name))
    elif type(datastore).__name__ == "PostgresDatastore":  # imported only when PostgreSQL is used
        datastore.pool.kwargs["connect_timeout"] = CONNECT_TIMEOUT_S
        health = StoreHealth(display, _postgres_probe(datastore.pool.kwargs), lambda: _fresh_pool(datastore))
        after_blip = lambda: datastore.pool.check()  # noqa: E731 - the pool in use at the time
    else:
        return StoreHealth(display)
    datastore.get_connection = _guarded(health, datastore.get_connection, after_blip)
    return health


def _guarded(health: StoreHealth, get_connection: Callable[..., AbstractContextManager[Any]],
             after_blip: Callable[[], None] | None) -> Callable[..., AbstractContextManager[Any]]:
    @contextmanager
    def guarded(*args: Any, **kwargs: Any) -> Iterator[Any]:
        health.check()
        try:
            with get_connection(*args, **kwargs) as conn:
                yield conn
        except CONNECTION_FAILURES as exc:
            health.failed(exc)  # raises StoreDown unless the store answers a probe
            if after_blip is not None:
                after_blip()
            raise

    return guarded


def _one_line(exc: BaseException) -> str:
    """The first line of a driver's message (libpq adds hints on further lines)."""
    lines = str(exc).strip().splitlines()
    return " ".join(lines[0].split())[:200] if lines else type(exc).__name__


def _postgres_probe(kwargs: dict[str, Any]) -> Probe:
    def probe() -> str:
        import psycopg

        params = {key: kwargs[key] for key in POSTGRES_PARAMS if kwargs.get(key)}
        try:
            with psycopg.connect(**params, connect_timeout=PROBE_TIMEOUT_S, autocommit=True) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            return _one_line(exc)
        return ""

    return probe


def _fresh_pool(datastore: Any) -> None:
    """Give the datastore a new pool built as eventsourcing's ``PostgresDatastore`` builds
    its own; close the old one (its connections are broken, its reconnects backed off)."""
    from eventsourcing.postgres import ConnectionPool

    old = datastore.pool
    datastore.pool = ConnectionPool(
        get_password_func=old.get_password_func, connection_class=old.connection_class, kwargs=old.kwargs,
        min_size=old.min_size, max_size=old.max_size, open=False, configure=datastore.after_connect_func(),
        timeout=old.timeout, max_waiting=old.max_waiting, max_lifetime=old.max_lifetime,
        check=ConnectionPool.check_connection if datastore.pre_ping else None)
    old.close(timeout=1.0)


def _sqlite_probe(db_name: str) -> Probe:
    uri = db_name if db_name.startswith("file:") else f"file:{quote(db_name)}?mode=rw"

    def probe() -> str:
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=PROBE_TIMEOUT_S, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")  # the write lock: a store locked past its timeout is down
                conn.execute("ROLLBACK")
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return _one_line(exc)
        return ""

    return probe
