"""The exported volume history file: write it from one store, read it into another.

Used by ``pronghorn events export VOLUME FILE`` and ``pronghorn events import
FILE``. The file is self-describing JSON::

    {"format": "pronghorn.volume-history", "format_version": 1,
     "volume": "vol1", "exported_at": "...", "source_store": "sqlite:///...",
     "aggregates": [{"id": "...", "kind": "Volume", "name": "vol1", "events": 3}],
     "events": [{"position": 1, "aggregate_id": "...", "aggregate": "Volume",
                 "version": 1, "timestamp": "...", "type": "Created",
                 "topic": "domain.volume:Volume.Created", "state": {...}}]}

``topic`` + ``state`` (the event's attributes as the domain's JSON transcoder
writes them, never compressed or encrypted) are what reconstructs each event;
the rest is for people and for checks. Import re-encodes each event for the
target store (its own compression/cipher settings apply), refuses when any of
the aggregates already has events there, and inserts all events in their
original order in one transaction, so the target's history is the same.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from adapters.cli.errors import CommandError, ExitCode
from projections.history import History, volume_of
from projections.indexed_history import IndexedHistory

FORMAT = "pronghorn.volume-history"
FORMAT_VERSION = 1


def export_history(app: Application[Any], history: History | IndexedHistory, path: Path, source: str) -> int:
    """Write ``history`` to ``path`` (atomically: temp file + rename); returns the event count."""
    plain_mapper: Mapper[Any] = Mapper(transcoder=app.mapper.transcoder)
    counts: dict[UUID, dict[str, Any]] = {}
    events = []
    for entry in history:
        stored = plain_mapper.to_stored_event(entry.event)
        events.append(
            {
                "position": entry.position,
                "aggregate_id": str(entry.aggregate_id),
                "aggregate": entry.aggregate,
                "version": entry.version,
                "timestamp": entry.timestamp.isoformat(),
                "type": entry.type,
                "topic": stored.topic,
                "state": json.loads(stored.state),
            }
        )
        agg = counts.setdefault(
            entry.aggregate_id,
            {"id": str(entry.aggregate_id), "kind": entry.aggregate, "name": entry.aggregate_name, "events": 0},
        )
        agg["events"] += 1
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "volume": history.volume,
        "exported_at": datetime.now(tz=UTC).isoformat(),
        "source_store": source,
        "aggregates": list(counts.values()),
        "events": events,
    }
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return len(events)


def import_history(app: Application[Any], path: Path) -> tuple[str, int]:
    """Insert the events of the file at ``path`` into ``app``'s store; returns (volume, count)."""
    document = _load(path)
    plain_mapper: Mapper[Any] = Mapper(transcoder=app.mapper.transcoder)
    stored_events: list[StoredEvent] = []
    ids: dict[UUID, str] = {}
    versions: dict[UUID, int] = {}  # last version seen per aggregate
    volume = str(document["volume"])
    for number, item in enumerate(document["events"], start=1):
        try:
            originator = UUID(item["aggregate_id"])
            source = StoredEvent(
                originator_id=originator,
                originator_version=int(item["version"]),
                topic=str(item["topic"]),
                state=json.dumps(item["state"]).encode("utf-8"),
            )
            event = plain_mapper.to_domain_event(source)
        except Exception as exc:  # noqa: BLE001 - any malformed event makes the file invalid
            raise CommandError(f"{path}: event {number} is not valid: {exc}", ExitCode.USAGE) from exc
        if get_topic(type(event)) != source.topic:
            raise CommandError(f"{path}: event {number} has an unknown type {source.topic!r}", ExitCode.USAGE)
        _check_sequence(path, number, event, versions, volume)
        stored_events.append(app.mapper.to_stored_event(event))
        ids.setdefault(originator, f"{item.get('aggregate', '?')} {originator}")
    existing = [label for aggregate, label in ids.items() if app.recorder.select_events(aggregate, limit=1)]
    if existing:
        raise CommandError(
            f"refusing to import {document['volume']!r}: the target store already has "
            f"{len(existing)} of its aggregates ({', '.join(existing[:3])}{', ...' if len(existing) > 3 else ''})",
            ExitCode.CONFLICT,
        )
    app.recorder.insert_events(stored_events)
    return str(document["volume"]), len(stored_events)


def _check_sequence(path: Path, number: int, event: Any, versions: dict[UUID, int], volume: str) -> None:
    """Each aggregate's events run 1, 2, 3...; each aggregate is created as one of ``volume``'s."""
    originator = event.originator_id
    expected = versions.get(originator, 0) + 1
    if event.originator_version != expected:
        raise CommandError(
            f"{path}: event {number} is version {event.originator_version} of aggregate {originator}, "
            f"expected {expected} (the file is incomplete or reordered)",
            ExitCode.USAGE,
        )
    if expected == 1 and volume_of(event) != volume:
        raise CommandError(f"{path}: event {number} creates an aggregate of another volume", ExitCode.USAGE)
    versions[originator] = expected


def _load(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as src:
            document = json.load(src)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{path}: not a JSON file ({exc.msg} at line {exc.lineno})", ExitCode.USAGE) from exc
    except UnicodeDecodeError as exc:
        raise CommandError(f"{path}: not a text file", ExitCode.USAGE) from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CommandError(f"{path}: not a pronghorn volume history file", ExitCode.USAGE)
    if document.get("format_version") != FORMAT_VERSION:
        raise CommandError(
            f"{path}: unsupported format_version {document.get('format_version')!r} (this pronghorn reads {FORMAT_VERSION})",
            ExitCode.USAGE,
        )
    if not isinstance(document.get("events"), list) or not document["events"] or not document.get("volume"):
        raise CommandError(f"{path}: the file has no volume or no events", ExitCode.USAGE)
    return document
