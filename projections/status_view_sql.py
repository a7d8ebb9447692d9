"""SQL text of the volume status view's tables, per dialect (SQLite, PostgreSQL).

Three tables for the statuses: ``volume_status`` (name -> status JSON),
``volume_status_owners`` (aggregate id -> volume name) and ``volume_status_tracking``
(projection name -> last notification id); three for the per-volume history index:
``volume_history`` (volume, per-volume position -> notification id, aggregate,
version, event type, time), ``volume_history_aggregates`` (aggregate id -> volume,
kind, name) and ``volume_status_checkpoints`` (volume, position -> status JSON). ``advance_position`` moves the position forward only and
returns a row when it did, which is how ``projections.status_views.SqlStatusView``
detects a batch that was already applied. Rows are read by column name (SQLite
rows and psycopg's dict rows both allow it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SqlTables:
    placeholder: str = "?"  # parameter marker of the driver
    prefix: str = ""  # schema qualification of table names, e.g. '"public".'

    def _t(self, table: str) -> str:
        return f"{self.prefix}{table}"

    def create_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self._t('volume_status')} (name TEXT PRIMARY KEY, status TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self._t('volume_status_owners')} "
            "(aggregate_id TEXT PRIMARY KEY, volume TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self._t('volume_status_tracking')} "
            "(application_name TEXT PRIMARY KEY, notification_id BIGINT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self._t('volume_history')} (volume TEXT NOT NULL, position INTEGER NOT NULL, "
            "notification_id BIGINT NOT NULL, aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, "
            "type TEXT NOT NULL, timestamp TEXT NOT NULL, PRIMARY KEY (volume, position))",
            f"CREATE TABLE IF NOT EXISTS {self._t('volume_history_aggregates')} (aggregate_id TEXT PRIMARY KEY, "
            "volume TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS volume_history_aggregates_volume "
            f"ON {self._t('volume_history_aggregates')} (volume)",
            f"CREATE TABLE IF NOT EXISTS {self._t('volume_status_checkpoints')} (volume TEXT NOT NULL, "
            "position INTEGER NOT NULL, status TEXT NOT NULL, PRIMARY KEY (volume, position))",
        ]

    def reset_statements(self) -> list[str]:
        """Run with ``create_statements`` (only when the index's tables were missing): a view that an
        earlier build left has statuses and a position but no history index, so everything is
        projected again from the start."""
        tables = ("volume_status", "volume_status_owners", "volume_status_tracking", "volume_history",
                  "volume_history_aggregates", "volume_status_checkpoints")
        return [f"DELETE FROM {self._t(table)}" for table in tables]

    def select_made(self) -> str:
        """A row naming the table made last by ``create_statements`` (a NULL name or no row: not made)."""
        if self.placeholder == "?":
            return "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'volume_status_checkpoints'"
        return f"SELECT to_regclass('{self._t('volume_status_checkpoints')}') AS name"

    def select_statuses(self, count: int) -> str:
        marks = ", ".join([self.placeholder] * count)
        return f"SELECT name, status FROM {self._t('volume_status')} WHERE name IN ({marks})"

    def select_all_statuses(self) -> str:
        return f"SELECT name, status FROM {self._t('volume_status')} ORDER BY name"

    def select_owners(self) -> str:
        return f"SELECT aggregate_id, volume FROM {self._t('volume_status_owners')}"

    def select_position(self) -> str:
        return (
            f"SELECT notification_id FROM {self._t('volume_status_tracking')} "
            f"WHERE application_name = {self.placeholder}"
        )

    def upsert_status(self) -> str:
        p = self.placeholder
        return (
            f"INSERT INTO {self._t('volume_status')} (name, status) VALUES ({p}, {p}) "
            "ON CONFLICT (name) DO UPDATE SET status = excluded.status"
        )

    def upsert_owner(self) -> str:
        p = self.placeholder
        return (
            f"INSERT INTO {self._t('volume_status_owners')} (aggregate_id, volume) VALUES ({p}, {p}) "
            "ON CONFLICT (aggregate_id) DO UPDATE SET volume = excluded.volume"
        )

    def advance_position(self) -> str:
        p = self.placeholder
        table = self._t("volume_status_tracking")
        return (
            f"INSERT INTO {table} AS t (application_name, notification_id) VALUES ({p}, {p}) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = excluded.notification_id "
            "WHERE t.notification_id < excluded.notification_id RETURNING notification_id"
        )

    def select_history(self) -> str:
        p = self.placeholder
        return (
            "SELECT position, notification_id, aggregate_id, version, type, timestamp "
            f"FROM {self._t('volume_history')} WHERE volume = {p} AND position > {p} AND position <= {p} "
            "ORDER BY position"
        )

    def select_history_length(self) -> str:
        return f"SELECT MAX(position) AS length FROM {self._t('volume_history')} WHERE volume = {self.placeholder}"

    def select_history_aggregates(self) -> str:
        return (
            f"SELECT aggregate_id, kind, name FROM {self._t('volume_history_aggregates')} "
            f"WHERE volume = {self.placeholder}"
        )

    def select_checkpoint(self) -> str:
        p = self.placeholder
        return (
            f"SELECT position, status FROM {self._t('volume_status_checkpoints')} "
            f"WHERE volume = {p} AND position <= {p} ORDER BY position DESC LIMIT 1"
        )

    def insert_history(self) -> str:
        marks = ", ".join([self.placeholder] * 7)
        return (
            f"INSERT INTO {self._t('volume_history')} "
            f"(volume, position, notification_id, aggregate_id, version, type, timestamp) VALUES ({marks}) "
            "ON CONFLICT (volume, position) DO NOTHING"
        )

    def insert_history_aggregate(self) -> str:
        marks = ", ".join([self.placeholder] * 4)
        return (
            f"INSERT INTO {self._t('volume_history_aggregates')} (aggregate_id, volume, kind, name) "
            f"VALUES ({marks}) ON CONFLICT (aggregate_id) DO NOTHING"
        )

    def insert_checkpoint(self) -> str:
        p = self.placeholder
        return (
            f"INSERT INTO {self._t('volume_status_checkpoints')} (volume, position, status) VALUES ({p}, {p}, {p}) "
            "ON CONFLICT (volume, position) DO NOTHING"
        )


SQLITE_TABLES = SqlTables()


def postgres_tables(schema: str) -> SqlTables:
    return SqlTables(placeholder="%s", prefix=f'"{schema}".')
