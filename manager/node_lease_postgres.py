"""Node leases on PostgreSQL: an advisory lock per node, a heartbeat row per node.

The lock (``pg_try_advisory_lock(LOCK_CLASS, hashtext(node))``, session level) lives on
this lease's own connection: it is what makes a second manager of the node fail, and
the server frees it when the holder's process or connection dies. The row in
``pronghorn_node_leases`` names the holder and carries ``renewed_at``, the heartbeat,
so a holder that is alive but stuck shows as silent. A lost connection is reopened on
the next ``renew``, and the locks are taken again; if another manager took one in
between, ``renew`` raises ``LeaseHeld`` and this manager must stop. See
``manager.node_lease`` for the interface; used through ``node_leases``.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from manager.leadership import LEADER_TABLE
from manager.node_lease import LOCK_CLASS, Holder, LeaseHeld, Presence

log = logging.getLogger("pronghorn.manager.lease")

TABLE = "pronghorn_node_leases"
CREATE = (f"CREATE TABLE IF NOT EXISTS {TABLE} (node text PRIMARY KEY, holder text NOT NULL, "
          "renewed_at timestamptz NOT NULL)")
# pg_locks shows the two-key form as classid = key 1, objid = key 2 (as an unsigned oid), objsubid = 2
HELD = ("EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid = %(class)s AND l.objid = (hashtext({node})::bigint & 4294967295)::oid)")


class PostgresLeases:
    def __init__(self, env: dict[str, str], holder: Holder) -> None:
        self.env = env
        self.holder = holder
        self.nodes: list[str] = []
        self.locked: set[str] = set()  # nodes whose lock the current connection holds
        self.connection: Any = None

    def _connect(self) -> Any:
        if self.connection is None or self.connection.closed:
            self.locked.clear()
            self.connection = psycopg.connect(
                host=self.env["POSTGRES_HOST"], port=int(self.env["POSTGRES_PORT"]),
                dbname=self.env["POSTGRES_DBNAME"], user=self.env["POSTGRES_USER"],
                password=self.env["POSTGRES_PASSWORD"] or None, autocommit=True, connect_timeout=5)
            try:
                self.connection.execute(CREATE)
            except psycopg.errors.UniqueViolation:
                pass  # another manager created the table at the same moment
        return self.connection

    def _lock(self, node: str) -> None:
        connection = self._connect()
        row = connection.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, node)).fetchone()
        if not (row and row[0]):
            found = connection.execute(f"SELECT holder FROM {TABLE} WHERE node = %s", (node,)).fetchone()
            raise LeaseHeld(node, Holder.parse(found[0]) if found else None)
        connection.execute(
            f"INSERT INTO {TABLE} (node, holder, renewed_at) VALUES (%s, %s, now()) "
            "ON CONFLICT (node) DO UPDATE SET holder = excluded.holder, renewed_at = now()",
            (node, self.holder.dump()))
        self.locked.add(node)

    def acquire(self, nodes: list[str]) -> None:
        try:
            for node in nodes:
                self._lock(node)
                self.nodes.append(node)
        except BaseException:
            self.release()
            raise

    def renew(self) -> None:
        if self.connection is not None and not self.connection.closed:
            try:
                self.connection.execute(f"UPDATE {TABLE} SET renewed_at = now() WHERE node = ANY(%s)",
                                        (sorted(self.locked),))
            except psycopg.OperationalError as exc:
                log.warning("node lease connection lost (%s): taking the leases again", exc)
                self.connection.close()
                self.locked.clear()
        for node in self.nodes:
            if node in self.locked:
                continue
            try:
                self._lock(node)  # on a new connection: the old one's locks are gone
            except LeaseHeld as exc:
                if exc.holder != self.holder:
                    raise
                log.warning("node %s: the server still holds this manager's previous session; retrying", node)

    def presence(self, node: str) -> Presence:
        row = self._connect().execute(
            f"SELECT {HELD.format(node='%(node)s')}, "
            f"(SELECT holder FROM {TABLE} WHERE node = %(node)s), "
            f"(SELECT extract(epoch FROM now() - renewed_at) FROM {TABLE} WHERE node = %(node)s)",
            {"class": LOCK_CLASS, "node": node}).fetchone()
        held, holder, age = row
        return Presence(bool(held), None if age is None else float(age), Holder.parse(holder) if holder else None)

    def holders(self) -> dict[str, Holder | None]:
        rows = self._connect().execute(
            f"SELECT node, holder FROM {TABLE} WHERE {HELD.format(node='node')}", {"class": LOCK_CLASS}).fetchall()
        return {node: Holder.parse(holder) for node, holder in rows}

    def depose_silent_leader(self, timeout: float) -> str:
        """End the server session of a leader whose node's heartbeat is older than ``timeout``
        (its manager hangs with the leadership lock held); returns that node ("" if none)."""
        try:
            row = self._connect().execute(
                f"SELECT l.node, pg_terminate_backend(l.backend_pid) FROM {LEADER_TABLE} l "
                f"JOIN {TABLE} n ON n.node = l.node WHERE now() - n.renewed_at > make_interval(secs => %s) "
                "AND EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted "
                "AND k.objsubid = 1 AND k.pid = l.backend_pid)", (timeout,)).fetchone()
        except psycopg.errors.UndefinedTable:
            return ""  # no leader ever recorded
        return str(row[0]) if row and row[1] else ""

    def release(self) -> None:
        self.nodes.clear()
        if self.connection is not None:
            try:
                self.connection.close()  # the server frees the session's advisory locks
            finally:
                self.connection = None
