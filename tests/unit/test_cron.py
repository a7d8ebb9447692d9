"""domain.cron: parsing (names, steps, lists, errors) and fire times of known schedules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.cron import last_fire, next_fire, parse
from domain.errors import InvalidValue


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_fields_with_names_ranges_steps_and_lists() -> None:
    schedule = parse("0,30 9-17/4 * jan-mar MON-fri")
    assert schedule.minutes == {0, 30}
    assert schedule.hours == {9, 13, 17}
    assert schedule.months == {1, 2, 3}
    assert schedule.weekdays == {1, 2, 3, 4, 5}
    assert parse("0 0 * * 7").weekdays == {0}
    assert parse("5/20 * * * *").minutes == {5, 25, 45}


@pytest.mark.parametrize("expression", [
    "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "*/0 * * * *",
    "5-1 * * * *", "* * * foo *", "x * * * *", "0 0 31 2,4 *",
])
def test_invalid_expressions_name_the_problem(expression: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        parse(expression)
    assert "cron" in str(raised.value)


def test_day_of_month_or_day_of_week_when_both_restricted() -> None:
    schedule = parse("0 12 1 * fri")  # the 1st of a month OR a Friday
    assert next_fire(schedule, at(2026, 11, 25)) == at(2026, 11, 27, 12, 0)  # a Friday
    assert next_fire(schedule, at(2026, 11, 28)) == at(2026, 12, 1, 12, 0)  # the 1st


def test_leap_day_and_last_fire() -> None:
    assert next_fire(parse("0 0 29 2 *"), at(2026, 3, 1)) == at(2028, 2, 29)
    every5 = parse("*/5 * * * *")
    assert last_fire(every5, at(2026, 1, 1, 0, 3), at(2026, 1, 1, 0, 17, 59)) == at(2026, 1, 1, 0, 15)
    assert last_fire(every5, at(2026, 1, 1, 0, 15), at(2026, 1, 1, 0, 19)) is None
