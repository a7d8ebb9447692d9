"""How a volume's history and status look: JSON documents and human tables.

Shared by ``pronghorn events`` (the history), ``pronghorn replay`` (status at a
point, diffs) and ``pronghorn volume get`` (status now), so that ``volume get
--json`` right after a command and ``replay --at`` that position print the same
document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from adapters.cli.output import cell, render_fields, render_table
from adapters.cli.sizes import format_size, format_usage
from projections.history import Change, HistoryEntry, Timeline
from projections.plain import plain
from projections.status_json import status_to_dict
from projections.volume_status import VolumeStatus

DATA_WIDTH = 72  # characters of event data shown per table row (without --wide)
SIZE_KEYS = frozenset({"size", "capacity", "reserved"})  # exact sizes
USAGE_KEYS = frozenset({"done", "total", "rebuild_done", "rebuild_total", "from_network", "copied_locally",
                        "already_present"})  # measured bytes
DURATION_KEYS = frozenset({"stale_replica_timeout"})  # seconds


def entry_document(entry: HistoryEntry) -> dict[str, Any]:
    """One event as ``events --json`` prints it: ``position`` is the per-volume one (absent in the
    cluster-wide stream), ``global_position`` the store's notification id."""
    document: dict[str, Any] = {"position": entry.position} if entry.position else {}
    return document | {
        "global_position": entry.notification_id,
        "aggregate": entry.aggregate,
        "aggregate_name": entry.aggregate_name,
        "aggregate_id": str(entry.aggregate_id),
        "version": entry.version,
        "timestamp": entry.timestamp.isoformat(),
        "type": entry.type,
        "data": plain(entry.data()),
    }


def render_entries(entries: Iterable[HistoryEntry], wide: bool = False, header: bool = True,
                   positions: bool | None = None) -> str:
    """The events as a table; POS (the per-volume position) only for a volume's history
    (``positions``; by default when the entries have one)."""
    listed = list(entries)
    positions = any(e.position for e in listed) if positions is None else positions
    rows = [
        ((e.position,) if positions else ())
        + (
            e.timestamp.isoformat(timespec="milliseconds"),
            f"{e.aggregate}/{e.aggregate_name}",
            e.version,
            e.type,
            _summary(human(plain(e.data())), wide),
        )
        for e in listed
    ]
    headers = (["POS"] if positions else []) + ["TIME", "AGGREGATE", "VER", "EVENT", "DATA"]
    table = render_table(headers, rows)
    return table if header else "\n".join(table.splitlines()[1:])


def human(value: Any, key: str = "") -> Any:
    """Event data with sizes (``1Gi``) and durations (``10m``) as people read them."""
    if isinstance(value, dict):
        return {k: human(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [human(v, key) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        if key in SIZE_KEYS:
            return format_size(value)
        if key in USAGE_KEYS:
            return format_usage(value)
        if key in DURATION_KEYS:
            return format_duration(value)
    return value


def format_duration(seconds: int) -> str:
    """``90`` -> ``1m30s``; ``7200`` -> ``2h``."""
    parts = [(seconds // 86400, "d"), (seconds % 86400 // 3600, "h"), (seconds % 3600 // 60, "m"), (seconds % 60, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


def status_document(history: Timeline, position: int) -> dict[str, Any]:
    """The volume status after ``position`` (its ``events`` field is that position)."""
    return status_document_of(history.status_at(position))


def status_document_of(status: VolumeStatus) -> dict[str, Any]:
    """A volume status as ``volume get --json`` prints it; each replica also carries its rebuild
    progress as ``rebuild_bytes_done`` / ``rebuild_bytes_total``."""
    document = status_to_dict(status)
    for replica in document["replicas"]:
        replica["rebuild_bytes_done"] = replica["rebuild_done"]
        replica["rebuild_bytes_total"] = replica["rebuild_total"]
    return document


def rebuild_cell(rebuild: str, done: int, total: int) -> str:
    """A replica's rebuild as a table shows it: ``rebuilding 42%`` while one runs."""
    if rebuild != "running":
        return rebuild
    return f"rebuilding {100 * done // total}%" if total else "rebuilding"


# Columns of the nested tables in the human status view (those present are shown).
NESTED_COLUMNS = {
    "replicas": ("name", "node", "mode", "disk", "address", "rebuild", "failures", "last_failure"),
    "snapshots": ("name", "parent", "created", "user_created", "removed", "size"),
    "conditions": ("type", "status", "reason", "message"),
}


def render_status(document: Mapping[str, Any]) -> str:
    """Scalar fields as ``key: value`` lines, then replicas / snapshots / conditions as tables."""
    # ``position`` is the store's global one: --json only; ``events`` is the per-volume position.
    shown = {k: v for k, v in document.items() if k not in NESTED_COLUMNS and k != "position"}
    if isinstance(shown.get("size"), int):
        shown["size"] = f"{format_size(shown['size'])} ({shown['size']} bytes)"
    parts = [render_fields(shown)]
    for key, columns in NESTED_COLUMNS.items():
        items = document.get(key) or []
        if not items:
            parts.append(f"{key}: -")
            continue
        present = [c for c in columns if any(c in item for item in items)]
        if key == "replicas":
            items = [{**item, "rebuild": rebuild_cell(item.get("rebuild", ""), item.get("rebuild_done", 0),
                                                      item.get("rebuild_total", 0))} for item in items]
        if key == "snapshots":
            items = [{**item, "size": format_usage(item.get("size") or 0)} for item in items]
        rows = [[item.get(c) for c in present] for item in items]
        table = render_table([c.upper() for c in present], rows)
        parts.append(f"{key}:\n" + "\n".join("  " + line for line in table.splitlines()))
    return "\n".join(parts)


def change_document(change: Change) -> dict[str, Any]:
    return {"field": change.field, "before": change.before, "after": change.after}


def render_changes(changes: Iterable[Change]) -> str:
    rows = [(c.field, _short(c.before), _short(c.after)) for c in changes]
    return render_table(["FIELD", "BEFORE", "AFTER"], rows) if rows else "(no status change)"


def _summary(data: Mapping[str, Any], wide: bool = False) -> str:
    text = " ".join(f"{k}={cell(v)}" for k, v in data.items())
    return text if wide else _short(text)


def _short(value: Any) -> str:
    text = cell(value)
    return text if len(text) <= DATA_WIDTH else text[: DATA_WIDTH - 3] + "..."
