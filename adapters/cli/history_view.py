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
from adapters.cli.sizes import format_size
from projections.history import Change, History, HistoryEntry
from projections.plain import plain
from projections.status_json import status_to_dict

DATA_WIDTH = 72  # characters of event data shown per table row


def entry_document(entry: HistoryEntry) -> dict[str, Any]:
    """One event as ``events --json`` prints it (nothing store-specific, so it moves across stores)."""
    return {
        "position": entry.position,
        "aggregate": entry.aggregate,
        "aggregate_name": entry.aggregate_name,
        "aggregate_id": str(entry.aggregate_id),
        "version": entry.version,
        "timestamp": entry.timestamp.isoformat(),
        "type": entry.type,
        "data": plain(entry.data()),
    }


def render_entries(entries: Iterable[HistoryEntry]) -> str:
    rows = [
        (
            e.position,
            e.timestamp.isoformat(timespec="milliseconds"),
            f"{e.aggregate}/{e.aggregate_name}",
            e.version,
            e.type,
            _summary(plain(e.data())),
        )
        for e in entries
    ]
    return render_table(["POS", "TIME", "AGGREGATE", "VER", "EVENT", "DATA"], rows)


def status_document(history: History, position: int) -> dict[str, Any]:
    """The volume status after ``position`` (its ``events`` field is that position); each replica
    also carries its rebuild progress as ``rebuild_bytes_done`` / ``rebuild_bytes_total``."""
    document = status_to_dict(history.status_at(position))
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
    shown = {k: v for k, v in document.items() if k not in NESTED_COLUMNS}
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
        rows = [[item.get(c) for c in present] for item in items]
        table = render_table([c.upper() for c in present], rows)
        parts.append(f"{key}:\n" + "\n".join("  " + line for line in table.splitlines()))
    return "\n".join(parts)


def change_document(change: Change) -> dict[str, Any]:
    return {"field": change.field, "before": change.before, "after": change.after}


def render_changes(changes: Iterable[Change]) -> str:
    rows = [(c.field, _short(c.before), _short(c.after)) for c in changes]
    return render_table(["FIELD", "BEFORE", "AFTER"], rows) if rows else "(no status change)"


def _summary(data: Mapping[str, Any]) -> str:
    return _short(" ".join(f"{k}={cell(v)}" for k, v in data.items()))


def _short(value: Any) -> str:
    text = cell(value)
    return text if len(text) <= DATA_WIDTH else text[: DATA_WIDTH - 3] + "..."
