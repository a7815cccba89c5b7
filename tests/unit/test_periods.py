"""Named date periods (``Op.PERIOD``) → the days they cover, and the BETWEEN every
dialect without a native keyword sends: pure functions of the core, no Qt, no network."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from crmdesk.core.errors import Unsupported
from crmdesk.core.query import (
    Condition,
    Op,
    Period,
    and_,
    or_,
    period_between,
    period_range,
    resolve_condition,
    resolve_filter,
)
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef

P = Period
D = date


@pytest.mark.parametrize(
    ("period", "today", "expected"),
    [
        # single days, across month, year and leap-day edges
        (P.TODAY, D(2026, 11, 23), (D(2026, 11, 23), D(2026, 11, 23))),
        (P.YESTERDAY, D(2026, 1, 1), (D(2025, 12, 31), D(2025, 12, 31))),
        (P.TOMORROW, D(2026, 12, 31), (D(2027, 1, 1), D(2027, 1, 1))),
        (P.TOMORROW, D(2024, 2, 28), (D(2024, 2, 29), D(2024, 2, 29))),
        (P.YESTERDAY, D(2024, 3, 1), (D(2024, 2, 29), D(2024, 2, 29))),
        (P.YESTERDAY, D(2023, 3, 1), (D(2023, 2, 28), D(2023, 2, 28))),
        # weeks from Monday (2026-11-23 is a Monday, 2026-11-29 a Sunday)
        (P.THIS_WEEK, D(2026, 11, 23), (D(2026, 11, 23), D(2026, 11, 29))),
        (P.THIS_WEEK, D(2026, 11, 29), (D(2026, 11, 23), D(2026, 11, 29))),
        (P.LAST_WEEK, D(2026, 11, 25), (D(2026, 11, 16), D(2026, 11, 22))),
        (P.NEXT_WEEK, D(2026, 12, 30), (D(2027, 1, 4), D(2027, 1, 10))),
        (P.LAST_WEEK, D(2027, 1, 1), (D(2026, 12, 21), D(2026, 12, 27))),
        # rolling days, today included (as Sugar counts them)
        (P.LAST_7_DAYS, D(2026, 3, 3), (D(2026, 2, 25), D(2026, 3, 3))),
        (P.LAST_7_DAYS, D(2024, 3, 3), (D(2024, 2, 26), D(2024, 3, 3))),
        (P.NEXT_7_DAYS, D(2026, 12, 28), (D(2026, 12, 28), D(2027, 1, 3))),
        (P.LAST_30_DAYS, D(2026, 3, 1), (D(2026, 1, 31), D(2026, 3, 1))),
        (P.NEXT_30_DAYS, D(2024, 2, 1), (D(2024, 2, 1), D(2024, 3, 1))),
        # months: 28, 29, 30 and 31 days, year ends
        (P.THIS_MONTH, D(2024, 2, 10), (D(2024, 2, 1), D(2024, 2, 29))),
        (P.THIS_MONTH, D(2023, 2, 28), (D(2023, 2, 1), D(2023, 2, 28))),
        (P.THIS_MONTH, D(2026, 4, 30), (D(2026, 4, 1), D(2026, 4, 30))),
        (P.LAST_MONTH, D(2026, 3, 31), (D(2026, 2, 1), D(2026, 2, 28))),
        (P.LAST_MONTH, D(2026, 1, 15), (D(2025, 12, 1), D(2025, 12, 31))),
        (P.NEXT_MONTH, D(2026, 12, 31), (D(2027, 1, 1), D(2027, 1, 31))),
        (P.NEXT_MONTH, D(2024, 1, 31), (D(2024, 2, 1), D(2024, 2, 29))),
        (P.NEXT_MONTH, D(2026, 8, 31), (D(2026, 9, 1), D(2026, 9, 30))),
        # quarters
        (P.THIS_QUARTER, D(2026, 1, 1), (D(2026, 1, 1), D(2026, 3, 31))),
        (P.THIS_QUARTER, D(2026, 6, 30), (D(2026, 4, 1), D(2026, 6, 30))),
        (P.THIS_QUARTER, D(2026, 9, 30), (D(2026, 7, 1), D(2026, 9, 30))),
        (P.THIS_QUARTER, D(2026, 12, 31), (D(2026, 10, 1), D(2026, 12, 31))),
        (P.LAST_QUARTER, D(2026, 2, 14), (D(2025, 10, 1), D(2025, 12, 31))),
        (P.NEXT_QUARTER, D(2026, 11, 23), (D(2027, 1, 1), D(2027, 3, 31))),
        (P.NEXT_QUARTER, D(2024, 12, 31), (D(2025, 1, 1), D(2025, 3, 31))),
        # years
        (P.THIS_YEAR, D(2024, 2, 29), (D(2024, 1, 1), D(2024, 12, 31))),
        (P.LAST_YEAR, D(2026, 1, 1), (D(2025, 1, 1), D(2025, 12, 31))),
        (P.NEXT_YEAR, D(2026, 12, 31), (D(2027, 1, 1), D(2027, 12, 31))),
    ],
)
def test_period_range(period: Period, today: date, expected: tuple[date, date]) -> None:
    assert period_range(period, today) == expected
    assert period_range(period.value, today) == expected  # the key as stored in a Condition


@pytest.mark.parametrize(
    ("week_start", "expected"),
    [
        (0, (D(2026, 11, 23), D(2026, 11, 29))),  # Monday
        (6, (D(2026, 11, 22), D(2026, 11, 28))),  # Sunday
        (5, (D(2026, 11, 21), D(2026, 11, 27))),  # Saturday
    ],
)
def test_this_week_follows_week_start(week_start: int, expected: tuple[date, date]) -> None:
    # Wednesday 2026-11-25
    assert period_range(P.THIS_WEEK, D(2026, 11, 25), week_start) == expected


def test_week_start_on_the_first_day_of_the_week() -> None:
    sunday = D(2026, 11, 22)
    assert period_range(P.THIS_WEEK, sunday, 6) == (sunday, D(2026, 11, 28))
    assert period_range(P.LAST_WEEK, sunday, 6) == (D(2026, 11, 15), D(2026, 11, 21))
    assert period_range(P.NEXT_WEEK, sunday, 6) == (D(2026, 11, 29), D(2026, 12, 5))


@given(hs.dates(min_value=D(1901, 1, 1), max_value=D(2998, 12, 31)), hs.sampled_from(list(P)))
def test_every_period_is_a_sane_range(today: date, period: Period) -> None:
    first, last = period_range(period, today)
    assert first <= last
    length = (last - first).days + 1
    if period.value.endswith(("_week",)):
        assert length == 7
        assert first.weekday() == 0
    elif period.value.endswith("_month"):
        assert first.day == 1
        assert (last + timedelta(days=1)).day == 1
    elif period.value.endswith("_quarter"):
        assert first.day == 1
        assert first.month in (1, 4, 7, 10)
        assert 90 <= length <= 92
    elif period.value.endswith("_year"):
        assert (first.month, first.day, last.month, last.day) == (1, 1, 12, 31)
    if period.value.startswith("this_") or period is P.TODAY:
        assert first <= today <= last
    if period.value.startswith("last_") and not period.value.endswith("days"):
        assert last < today
    if period.value.startswith("next_") and not period.value.endswith("days"):
        assert first > today


def test_unknown_period_is_refused_by_the_condition() -> None:
    with pytest.raises(ValueError, match="unknown period"):
        Condition("date_closed", Op.PERIOD, "fortnight")
    with pytest.raises(ValueError, match="takes no value"):
        Condition("", Op.FAVORITE, True)
    assert Condition("date_closed", Op.PERIOD, P.THIS_MONTH) == Condition(
        "date_closed", Op.PERIOD, "this_month"
    )


CLOSE = FieldDef("date_closed", "Close date", FieldType.DATE)
ENTERED = FieldDef("date_entered", "Created", FieldType.DATETIME)
MDEF = ModuleDef("Opportunities", "Opportunities", (CLOSE, ENTERED))


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The user's time zone is Tokyo (UTC+9, no daylight saving)."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_period_between_dates_and_local_datetimes(tokyo: None) -> None:
    today = D(2026, 12, 1)
    cond = Condition("date_closed", Op.PERIOD, "last_month")
    assert period_between(cond, CLOSE, today=today) == Condition(
        "date_closed", Op.BETWEEN, (D(2026, 11, 1), D(2026, 11, 30))
    )
    # A datetime field: the first day 00:00 to the last day 23:59:59 in Tokyo.
    dt = period_between(Condition("date_entered", Op.PERIOD, "today"), ENTERED, today=today)
    assert dt.op is Op.BETWEEN
    low, high = dt.values
    assert isinstance(low, datetime)
    assert isinstance(high, datetime)
    assert low.astimezone(UTC) == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    assert high.astimezone(UTC) == datetime(2026, 12, 1, 14, 59, 59, tzinfo=UTC)
    # An unknown field type: dates.
    assert period_between(Condition("x", Op.PERIOD, "today"), None, today=today).values == (
        today,
        today,
    )


def test_resolve_keeps_native_periods_and_refuses_favorites_without_them() -> None:
    period = Condition("date_closed", Op.PERIOD, "this_week")
    today = D(2026, 11, 25)
    resolved = resolve_condition(period, CLOSE, today=today)
    assert resolved == Condition("date_closed", Op.BETWEEN, (D(2026, 11, 23), D(2026, 11, 29)))
    assert resolve_condition(period, CLOSE, native_periods={"this_week"}) is period
    fav = Condition("", Op.FAVORITE)
    with pytest.raises(Unsupported, match="favorites"):
        resolve_condition(fav, None)
    assert resolve_condition(fav, None, favorites=True) is fav
    other = Condition("date_closed", Op.GT, today)
    assert resolve_condition(other, CLOSE) is other


def test_resolve_filter_walks_the_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    # "today" is read when the filter is sent, not when it was made.
    monkeypatch.setattr("crmdesk.core.query.local_today", lambda: D(2024, 2, 29))
    flt = and_(
        Condition("name", Op.CONTAINS, "a"),
        or_(Condition("date_closed", Op.PERIOD, "tomorrow"), Condition("name", Op.EQ, "b")),
    )
    assert resolve_filter(flt, MDEF) == and_(
        Condition("name", Op.CONTAINS, "a"),
        or_(
            Condition("date_closed", Op.BETWEEN, (D(2024, 3, 1), D(2024, 3, 1))),
            Condition("name", Op.EQ, "b"),
        ),
    )
    monkeypatch.setattr("crmdesk.core.query.local_today", lambda: D(2024, 3, 1))
    assert resolve_filter(Condition("date_closed", Op.PERIOD, "tomorrow"), MDEF) == Condition(
        "date_closed", Op.BETWEEN, (D(2024, 3, 2), D(2024, 3, 2))
    )
    assert resolve_filter(None, MDEF) is None
