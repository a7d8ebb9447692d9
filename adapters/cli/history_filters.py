"""The event filter options of ``pronghorn events`` and the REST events routes, parsed.

``add_filter_options`` adds ``--type T`` (repeatable), ``--aggregate A``, ``--since``,
``--until`` and ``--limit N``; ``filter_from`` turns parsed text (CLI arguments or
REST query parameters) into a ``projections.event_filter.EventFilter``. A time is
ISO 8601 (naive = UTC) or relative to now: ``-5m``, ``-90s``, ``-2h``, ``-1d``.
Bad values raise ``CommandError`` (exit 2 / HTTP 422).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from adapters.cli.errors import CommandError, ExitCode
from projections.event_filter import EventFilter

_RELATIVE = re.compile(r"^-(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
TIME_HELP = "ISO 8601 time (naive = UTC) or relative to now: -5m, -90s, -2h, -1d"


def add_filter_options(parser: argparse.ArgumentParser) -> None:
    # Let "--since -5m" through as a value (argparse takes only plain negative numbers for values).
    parser._negative_number_matcher = re.compile(r"^-\d+(\.\d+|[smhd])?$")  # noqa: SLF001
    parser.add_argument("--type", action="append", default=[], metavar="T",
                        help="only events of this type, e.g. Attached or Replica.Failed (repeatable)")
    parser.add_argument("--aggregate", default="", metavar="A",
                        help="only events of this aggregate kind (Replica) or kind/name (Replica/r2)")
    parser.add_argument("--since", metavar="TIME", help=f"only events at or after TIME ({TIME_HELP})")
    parser.add_argument("--until", metavar="TIME", help="only events at or before TIME")
    parser.add_argument("--limit", metavar="N", help="only the last N matching events")


def parse_time(text: str, now: datetime | None = None) -> datetime:
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        return (now or datetime.now(tz=UTC)) - timedelta(seconds=int(relative[1]) * _UNITS[relative[2]])
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"invalid time {text!r}: expected {TIME_HELP}", ExitCode.USAGE) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def parse_limit(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise CommandError(f"invalid limit {text!r}: expected a whole number of at least 1", ExitCode.USAGE)
    return int(text)


def filter_from(types: Iterable[str] = (), aggregate: str = "", since: str | None = None,
                until: str | None = None, limit: str | None = None) -> EventFilter:
    wanted = EventFilter(
        types=frozenset(t.strip() for t in types if t.strip()),
        aggregate=aggregate.strip(),
        since=parse_time(since) if since else None,
        until=parse_time(until) if until else None,
        limit=parse_limit(limit) if limit is not None else None,
    )
    if wanted.since and wanted.until and wanted.since > wanted.until:
        raise CommandError("--since is after --until: no event can match", ExitCode.USAGE)
    return wanted
