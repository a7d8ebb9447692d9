"""Where the volume status view is kept: in memory, in SQLite or in PostgreSQL.

Each view is an eventsourcing ``TrackingRecorder``: it stores every volume's status
(as JSON), the map from aggregate id to volume name the projection needs to route
replica and snapshot-chain events, the per-volume history index
(``projections.history_rows``) and the projection's position (the last
notification id processed) -- all written in ONE transaction by ``commit``,
so after a crash the view resumes exactly where its data ends. ``commit`` refuses a
position that is not past the recorded one (``IntegrityError``): two runners on
one view can never apply an event twice.

The SQL views reuse the event store's datastores (connection pools) and live in
tables beside the events (``projections.status_view_sql``). Built by
``open_status_view`` (its own connections) or ``status_view_of(app)`` (the
application's); written by ``projections.volume_status_projection``, read by
``projections.indexed_history`` and the CLI / REST.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    PersistenceError,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.utils import Environment

from domain.store import persistence_env
from projections.history_rows import HistoryBatch, IndexedAggregate, IndexRow
from projections.status_json import status_from_json, status_to_json
from projections.status_view_sql import SQLITE_TABLES, SqlTables, postgres_tables
from projections.volume_status import VolumeStatus

VIEW_NAME = "VolumeStatusView"
CREATE_ATTEMPTS = 5


class VolumeStatusView(TrackingRecorder, ABC):
    """Statuses by volume name + aggregate owners + position, committed together."""

    @abstractmethod
    def load(self, names: Iterable[str]) -> dict[str, VolumeStatus]:
        """The stored statuses of those volumes that have one."""

    @abstractmethod
    def load_all(self) -> list[VolumeStatus]:
        """Every stored status, sorted by volume name."""

    @abstractmethod
    def load_owners(self) -> dict[str, str]:
        """Aggregate id (hex) -> volume name, for every aggregate seen so far."""

    @abstractmethod
    def commit(self, statuses: Mapping[str, VolumeStatus], owners: Mapping[str, str], tracking: Tracking,
               history: HistoryBatch | None = None) -> None:
        """Save changed statuses, new owners, the history index's additions and the new position atomically."""

    @abstractmethod
    def history(self, volume: str, after: int = 0, upto: int | None = None) -> list[IndexRow]:
        """The volume's indexed events after position ``after`` (up to ``upto``), in order."""

    @abstractmethod
    def history_length(self, volume: str) -> int:
        """How many events the volume's indexed history holds."""

    @abstractmethod
    def history_aggregates(self, volume: str) -> dict[str, IndexedAggregate]:
        """The volume's aggregates by id."""

    @abstractmethod
    def checkpoint(self, volume: str, at_most: int) -> VolumeStatus | None:
        """The stored status at the highest checkpoint position <= ``at_most`` (None: none)."""

    def get(self, name: str) -> VolumeStatus | None:
        return self.load([name]).get(name)

    def close(self) -> None:
        """Release connections (no-op for the in-memory view)."""


class InMemoryStatusView(VolumeStatusView):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statuses: dict[str, VolumeStatus] = {}
        self._owners: dict[str, str] = {}
        self._positions: dict[str, int] = {}
        self._history: dict[str, list[IndexRow]] = defaultdict(list)
        self._aggregates: dict[str, dict[str, IndexedAggregate]] = defaultdict(dict)
        self._checkpoints: dict[str, dict[int, VolumeStatus]] = defaultdict(dict)

    def load(self, names: Iterable[str]) -> dict[str, VolumeStatus]:
        with self._lock:
            return {n: self._statuses[n] for n in names if n in self._statuses}

    def load_all(self) -> list[VolumeStatus]:
        with self._lock:
            return [self._statuses[n] for n in sorted(self._statuses)]

    def load_owners(self) -> dict[str, str]:
        with self._lock:
            return dict(self._owners)

    def commit(self, statuses: Mapping[str, VolumeStatus], owners: Mapping[str, str], tracking: Tracking,
               history: HistoryBatch | None = None) -> None:
        with self._lock:
            self._check_advances(self._positions.get(tracking.application_name), tracking)
            self._statuses.update(statuses)
            self._owners.update(owners)
            for volume, row in history.rows if history else ():
                rows = self._history[volume]
                if row.position == len(rows) + 1:  # an already indexed position is not added twice
                    rows.append(row)
            for volume, aggregate in history.aggregates if history else ():
                self._aggregates[volume].setdefault(aggregate.aggregate_id, aggregate)
            for volume, position, status in history.checkpoints if history else ():
                self._checkpoints[volume].setdefault(position, status)
            self._positions[tracking.application_name] = tracking.notification_id

    def history(self, volume: str, after: int = 0, upto: int | None = None) -> list[IndexRow]:
        with self._lock:
            return list(self._history.get(volume, ())[after:upto])

    def history_length(self, volume: str) -> int:
        with self._lock:
            return len(self._history.get(volume, ()))

    def history_aggregates(self, volume: str) -> dict[str, IndexedAggregate]:
        with self._lock:
            return dict(self._aggregates.get(volume, {}))

    def checkpoint(self, volume: str, at_most: int) -> VolumeStatus | None:
        with self._lock:
            positions = [p for p in self._checkpoints.get(volume, {}) if p <= at_most]
            return self._checkpoints[volume][max(positions)] if positions else None

    def insert_tracking(self, tracking: Tracking) -> None:
        self.commit({}, {}, tracking)

    def max_tracking_id(self, application_name: str) -> int | None:
        with self._lock:
            return self._positions.get(application_name)

    @staticmethod
    def _check_advances(current: int | None, tracking: Tracking) -> None:
        if current is not None and tracking.notification_id <= current:
            raise IntegrityError(
                f"view already at notification {current}, refusing {tracking.notification_id} again"
            )


class SqlStatusView(VolumeStatusView):
    """The SQL view over an eventsourcing datastore (SQLite or PostgreSQL)."""

    def __init__(self, datastore: Any, tables: SqlTables, owns_datastore: bool = True) -> None:
        self.datastore = datastore
        self.tables = tables
        self.owns_datastore = owns_datastore
        if any(row["name"] for row in self._rows(tables.select_made())):
            return  # made already: one query instead of the DDL (PostgreSQL: ~30 ms per reader)
        for attempt in range(CREATE_ATTEMPTS):
            try:
                with self.datastore.transaction(commit=True) as cursor:
                    for statement in tables.create_statements() + tables.reset_statements():
                        cursor.execute(statement)
                break
            except PersistenceError:
                # PostgreSQL's CREATE ... IF NOT EXISTS fails when another process creates the same
                # table at that moment; again, it finds the table made. Any other failure repeats.
                if attempt == CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _rows(self, statement: str, params: Any = ()) -> list[Any]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            return list(cursor.fetchall())

    def load(self, names: Iterable[str]) -> dict[str, VolumeStatus]:
        wanted = list(names)
        result: dict[str, VolumeStatus] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            for row in self._rows(self.tables.select_statuses(len(chunk)), chunk):
                result[row["name"]] = status_from_json(row["status"])
        return result

    def load_all(self) -> list[VolumeStatus]:
        return [status_from_json(row["status"]) for row in self._rows(self.tables.select_all_statuses())]

    def load_owners(self) -> dict[str, str]:
        return {row["aggregate_id"]: row["volume"] for row in self._rows(self.tables.select_owners())}

    def commit(self, statuses: Mapping[str, VolumeStatus], owners: Mapping[str, str], tracking: Tracking,
               history: HistoryBatch | None = None) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(self.tables.advance_position(), (tracking.application_name, tracking.notification_id))
            if cursor.fetchone() is None:
                raise IntegrityError(
                    f"view already at or past notification {tracking.notification_id}: not applied twice"
                )
            if statuses:
                rows = [(name, status_to_json(status)) for name, status in statuses.items()]
                cursor.executemany(self.tables.upsert_status(), rows)
            if owners:
                cursor.executemany(self.tables.upsert_owner(), list(owners.items()))
            if history is not None:
                self._commit_history(cursor, history)

    def _commit_history(self, cursor: Any, history: HistoryBatch) -> None:
        if history.rows:
            cursor.executemany(self.tables.insert_history(), [
                (volume, r.position, r.notification_id, r.aggregate_id, r.version, r.type, r.timestamp.isoformat())
                for volume, r in history.rows
            ])
        if history.aggregates:
            cursor.executemany(self.tables.insert_history_aggregate(), [
                (a.aggregate_id, volume, a.kind, a.name) for volume, a in history.aggregates
            ])
        if history.checkpoints:
            cursor.executemany(self.tables.insert_checkpoint(), [
                (volume, position, status_to_json(status)) for volume, position, status in history.checkpoints
            ])

    def history(self, volume: str, after: int = 0, upto: int | None = None) -> list[IndexRow]:
        rows = self._rows(self.tables.select_history(), (volume, after, upto if upto is not None else 2**62))
        return [
            IndexRow(row["position"], int(row["notification_id"]), row["aggregate_id"], row["version"], row["type"],
                     datetime.fromisoformat(row["timestamp"]))
            for row in rows
        ]

    def history_length(self, volume: str) -> int:
        rows = self._rows(self.tables.select_history_length(), (volume,))
        return int(rows[0]["length"] or 0) if rows else 0

    def history_aggregates(self, volume: str) -> dict[str, IndexedAggregate]:
        rows = self._rows(self.tables.select_history_aggregates(), (volume,))
        return {row["aggregate_id"]: IndexedAggregate(row["aggregate_id"], row["kind"], row["name"]) for row in rows}

    def checkpoint(self, volume: str, at_most: int) -> VolumeStatus | None:
        rows = self._rows(self.tables.select_checkpoint(), (volume, at_most))
        return status_from_json(rows[0]["status"]) if rows else None

    def insert_tracking(self, tracking: Tracking) -> None:
        self.commit({}, {}, tracking)

    def max_tracking_id(self, application_name: str) -> int | None:
        rows = self._rows(self.tables.select_position(), (application_name,))
        return int(rows[0]["notification_id"]) if rows else None

    def close(self) -> None:
        if self.owns_datastore:
            self.datastore.close()


def open_status_view(url: str | None = None) -> VolumeStatusView:
    """The status view in the store named by ``url`` (same URLs as ``domain.store``)."""
    env = persistence_env(url)
    module = env["PERSISTENCE_MODULE"]
    if module == "eventsourcing.popo":
        return InMemoryStatusView()
    if module not in ("eventsourcing.sqlite", "eventsourcing.postgres"):
        raise ValueError(f"no status view for persistence module {module!r}")
    # Constructing the factory imports the driver only now (psycopg costs start-up time).
    factory: Any = InfrastructureFactory.construct(Environment(VIEW_NAME, env))
    datastore = factory.datastore
    return _sql_view(module, datastore, owns_datastore=True)


def status_view_of(app: Any) -> VolumeStatusView:
    """The status view in ``app``'s own store, on the application's connections (an in-memory
    store gets a new, empty in-memory view). Closing it leaves the application's store open."""
    datastore = getattr(app.recorder, "datastore", None)
    module = type(datastore).__module__  # the persistence module that made it
    if datastore is None or module not in ("eventsourcing.sqlite", "eventsourcing.postgres"):
        return InMemoryStatusView()
    return _sql_view(module, datastore, owns_datastore=False)


def _sql_view(module: str, datastore: Any, owns_datastore: bool) -> SqlStatusView:
    tables = SQLITE_TABLES if module == "eventsourcing.sqlite" else postgres_tables(datastore.schema)
    return SqlStatusView(datastore, tables, owns_datastore)
