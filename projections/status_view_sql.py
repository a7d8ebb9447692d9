"""SQL text of the volume status view's tables, per dialect (SQLite, PostgreSQL).

Three tables: ``volume_status`` (name -> status JSON), ``volume_status_owners``
(aggregate id -> volume name) and ``volume_status_tracking`` (projection name ->
last notification id). ``advance_position`` moves the position forward only and
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
        ]

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


SQLITE_TABLES = SqlTables()


def postgres_tables(schema: str) -> SqlTables:
    return SqlTables(placeholder="%s", prefix=f'"{schema}".')
