"""Five-field cron expressions: parse them, test a minute, find the next fire time.

``parse("*/5 * * * *")`` -> :class:`CronSchedule`; ``next_fire(schedule, after)``
is the first whole minute strictly after ``after`` that the schedule matches (UTC).
Fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 (or jan-dec), day of
week 0-7 (0 and 7 = Sunday, or sun-sat). Each field is ``*`` or a comma list of
``N``, ``A-B``, ``*/S``, ``A-B/S`` or ``A/S`` (A to the field's maximum, step S).
As in classic cron, when both day of month and day of week are restricted (neither
starts with ``*``), a day matches if EITHER matches. Pure; used by
``domain.jobs`` (validation) and ``manager.jobs`` (when to fire).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.errors import InvalidValue

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, low, high, names mapped to numbers)
FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(MONTHS)}),
    ("day of week", 0, 7, {d: i for i, d in enumerate(DAYS)}),
)
# Longest gap between two fire times of a satisfiable schedule: Feb 29 on a given
# weekday recurs within 28 years; search a little further, then call it unsatisfiable.
SEARCH_DAYS = 366 * 29


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday .. 6 = Saturday (7 folded into 0)
    days_restricted: bool
    weekdays_restricted: bool

    def day_matches(self, when: datetime) -> bool:
        if when.month not in self.months:
            return False
        by_day = when.day in self.days
        by_weekday = (when.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return by_day or by_weekday
        return by_day and by_weekday

    def matches(self, when: datetime) -> bool:
        """Whether the minute containing ``when`` is a fire time."""
        return when.minute in self.minutes and when.hour in self.hours and self.day_matches(when)


def parse(expression: str) -> CronSchedule:
    """Parse a 5-field cron expression or raise ``InvalidValue`` naming the bad field."""
    if not isinstance(expression, str):
        raise InvalidValue("cron", expression, "must be a string of 5 fields")
    parts = expression.split()
    if len(parts) != 5:
        raise InvalidValue("cron", expression, "must have 5 fields: minute hour day-of-month month day-of-week")
    values = [_field(expression, text, *spec) for text, spec in zip(parts, FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in values[4])
    schedule = CronSchedule(" ".join(parts), values[0], values[1], values[2], values[3], weekdays,
                            days_restricted=not parts[2].startswith("*"),
                            weekdays_restricted=not parts[4].startswith("*"))
    if not _possible_day(schedule):
        raise InvalidValue("cron", expression, "the day of month never occurs in the given months")
    return schedule


def _field(expression: str, text: str, name: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    def number(token: str) -> int:
        token = token.lower()
        if token in names:
            return names[token]
        if not token.isdigit():
            raise InvalidValue("cron", expression, f"{name}: {token!r} is not a number"
                               + (f" or a name ({', '.join(names)})" if names else ""))
        value = int(token)
        if not low <= value <= high:
            raise InvalidValue("cron", expression, f"{name}: {value} is outside {low}-{high}")
        return value

    out: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise InvalidValue("cron", expression, f"{name}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            start, stop = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, stop = number(first), number(last)
            if start > stop:
                raise InvalidValue("cron", expression, f"{name}: range {base!r} runs backwards")
        else:
            start = number(base)
            stop = high if slash else start
        out.update(range(start, stop + 1, step))
    return frozenset(out)


def _possible_day(schedule: CronSchedule) -> bool:
    """False when only day-of-month restricts days and no listed month has such a day."""
    if schedule.weekdays_restricted and schedule.days_restricted:
        return True  # any weekday in the months matches
    longest = {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}
    return any(day <= longest.get(month, 31) for month in schedule.months for day in schedule.days)


def floor_minute(when: datetime) -> datetime:
    """``when`` in UTC, seconds and microseconds dropped (naive times are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(second=0, microsecond=0)


def next_fire(schedule: CronSchedule, after: datetime) -> datetime:
    """The first fire time strictly after ``after`` (UTC, whole minute)."""
    start = floor_minute(after) + timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    for _ in range(SEARCH_DAYS):
        if schedule.day_matches(day):
            for hour in sorted(schedule.hours):
                for minute in sorted(schedule.minutes):
                    candidate = day.replace(hour=hour, minute=minute)
                    if candidate >= start:
                        return candidate
        day += timedelta(days=1)
    raise InvalidValue("cron", schedule.expression, "never fires")


def previous_fire(schedule: CronSchedule, at: datetime) -> datetime | None:
    """The latest fire time at or before ``at`` (None if there is none in the search span)."""
    limit = floor_minute(at)
    day = limit.replace(hour=0, minute=0)
    for _ in range(SEARCH_DAYS):
        if schedule.day_matches(day):
            for hour in sorted(schedule.hours, reverse=True):
                for minute in sorted(schedule.minutes, reverse=True):
                    candidate = day.replace(hour=hour, minute=minute)
                    if candidate <= limit:
                        return candidate
        day -= timedelta(days=1)
    return None


def last_fire(schedule: CronSchedule, since: datetime, now: datetime) -> datetime | None:
    """The latest fire time in ``(since, now]``, or None: what a runner fires at ``now``
    (missed earlier fire times in that span are folded into this one)."""
    found = previous_fire(schedule, now)
    return found if found is not None and found > floor_minute(since) else None
