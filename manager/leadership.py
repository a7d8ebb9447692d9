"""Who makes a cluster's wide decisions (placing and removing replicas): one elected leader.

``Leadership.for_store(url)``: on PostgreSQL, the manager holding a session-level
advisory lock (``pg_try_advisory_lock``) on its own connection is the leader; the
lock goes with the connection, so a manager that dies or loses its connection
hands leadership to the next one that asks (every reconcile pass asks). A lost
connection is made again on the next ask, then after failed attempts no sooner than
a back-off (``RECONNECT_FIRST_S`` doubling to ``RECONNECT_MAX_S``; not leading meanwhile),
each attempt bounded by ``CONNECT_TIMEOUT_S``; the first failure is logged, not each. The leader
writes its node and server session into ``pronghorn_leader``, so that a leader whose
manager hangs (alive, lock held, no heartbeat) can be deposed by another manager
(``manager.node_lease_postgres.PostgresLeases.depose_silent_leader``). On SQLite
and in memory there is one local manager: it always leads. Used by
``manager.loop``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from domain.store import StoreKind, parse_store_url
from domain.store_guard import CONNECT_TIMEOUT_S

log = logging.getLogger("pronghorn.manager.leadership")

LOCK_KEY = 0x70726F6E67686F  # "pronghorn" in ASCII, truncated to fit a bigint
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 10.0
LEADER_TABLE = "pronghorn_leader"


class Leadership:
    def __init__(self, env: dict[str, str] | None = None, node: str = "") -> None:
        self.env = env  # None: not PostgreSQL, always the leader
        self.node = node  # this manager's node, recorded while it leads
        self.connection: Any = None
        self.leading = env is None
        self.backoff = 0.0  # seconds between reconnect attempts (0: connected, or not tried yet)
        self.retry_at = 0.0  # monotonic time of the next connect attempt

    @classmethod
    def for_store(cls, url: str | None, node: str = "") -> Leadership:
        location = parse_store_url(url)
        return cls(location.env if location.kind is StoreKind.POSTGRESQL else None, node)

    def is_leader(self) -> bool:
        if self.env is None:
            return True
        import psycopg

        if self.connection is None and time.monotonic() < self.retry_at:
            return False  # backing off after failed attempts
        try:
            if self.connection is None or self.connection.closed:
                self.connection = psycopg.connect(
                    host=self.env["POSTGRES_HOST"], port=int(self.env["POSTGRES_PORT"]),
                    dbname=self.env["POSTGRES_DBNAME"], user=self.env["POSTGRES_USER"],
                    password=self.env["POSTGRES_PASSWORD"] or None, autocommit=True,
                    connect_timeout=CONNECT_TIMEOUT_S)
                self.leading = False
            if self.leading:
                self.connection.execute("SELECT 1")  # still connected: still holding the lock
            else:
                row = self.connection.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
                self.leading = bool(row and row[0])
                if self.leading:
                    self._record()
                    log.info("this manager is the cluster's leader")
            self.backoff = 0.0
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())[:200]
            if self.leading:
                log.warning("lost leadership: %s", reason)
            elif self.backoff == 0.0:
                log.warning("cannot ask for leadership: %s (retrying with back-off)", reason)
            self.close()
            self.backoff = min(max(self.backoff * 2, RECONNECT_FIRST_S), RECONNECT_MAX_S)
            self.retry_at = time.monotonic() + self.backoff
        return self.leading

    def _record(self) -> None:
        self.connection.execute(f"CREATE TABLE IF NOT EXISTS {LEADER_TABLE} (id int PRIMARY KEY, node text NOT NULL, "
                                "backend_pid int NOT NULL)")
        self.connection.execute(f"INSERT INTO {LEADER_TABLE} VALUES (1, %s, pg_backend_pid()) ON CONFLICT (id) "
                                "DO UPDATE SET node = excluded.node, backend_pid = excluded.backend_pid", (self.node,))

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            finally:
                self.connection = None
        self.leading = self.env is None
