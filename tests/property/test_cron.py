"""domain.cron: next_fire / previous_fire agree with a brute-force minute-by-minute scan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.cron import CronSchedule, floor_minute, next_fire, parse, previous_fire

SCAN = timedelta(days=3)


def field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    item = st.one_of(
        number.map(str),
        st.tuples(number, number).map(lambda ab: f"{min(ab)}-{max(ab)}"),
        st.tuples(number, number, st.integers(1, 7)).map(lambda abs_: f"{min(abs_[:2])}-{max(abs_[:2])}/{abs_[2]}"),
        st.integers(1, 20).map(lambda step: f"*/{step}"),
        st.tuples(number, st.integers(1, 9)).map(lambda a_s: f"{a_s[0]}/{a_s[1]}"),
    )
    return st.one_of(st.just("*"), st.lists(item, min_size=1, max_size=3).map(",".join))


expressions = st.tuples(field(0, 59), field(0, 23), st.one_of(st.just("*"), field(1, 31)),
                        st.just("*"), st.one_of(st.just("*"), field(0, 7))).map(" ".join)
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31),
                       timezones=st.just(UTC))


def scan_forward(schedule: CronSchedule, after: datetime) -> datetime | None:
    minute = floor_minute(after) + timedelta(minutes=1)
    end = minute + SCAN
    while minute < end:
        if schedule.matches(minute):
            return minute
        minute += timedelta(minutes=1)
    return None


@settings(max_examples=60, deadline=None)
@given(expressions, moments)
def test_next_fire_is_the_first_matching_minute(expression: str, after: datetime) -> None:
    schedule = parse(expression)
    expected = scan_forward(schedule, after)
    found = next_fire(schedule, after)
    assert schedule.matches(found) and found > after
    if expected is not None:
        assert found == expected
    else:
        assert found >= floor_minute(after) + SCAN


@settings(max_examples=40, deadline=None)
@given(expressions, moments)
def test_previous_fire_is_the_last_matching_minute(expression: str, at: datetime) -> None:
    schedule = parse(expression)
    found = previous_fire(schedule, at)
    assert found is not None and schedule.matches(found) and found <= at
    assert next_fire(schedule, found) > floor_minute(at)  # nothing matches in between
