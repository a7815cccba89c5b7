"""``Op.PERIOD`` and ``Op.FAVORITE`` in each dialect's filter translation: Sugar sends its
own ``$dateRange`` / ``$favorite``; every other dialect (and Sugar for the periods it has
no keyword for) sends the BETWEEN the core works out when the query is sent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date

import pytest

from crmdesk.backends.espocrm import wire as espo
from crmdesk.backends.espocrm.backend import EspoCrmBackend
from crmdesk.backends.sugarcrm import wire as sugar
from crmdesk.backends.sugarcrm.backend import SugarCrmBackend
from crmdesk.backends.suitecrm import params as suite
from crmdesk.backends.suitecrm.backend import SuiteCrmBackend
from crmdesk.backends.vtiger import vtql
from crmdesk.backends.vtiger.backend import VtigerBackend
from crmdesk.core.backend import Backend
from crmdesk.core.errors import Unsupported
from crmdesk.core.query import Condition, Op, and_
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef

TODAY = date(2026, 11, 25)  # a Wednesday
MDEF = ModuleDef(
    "Opportunities",
    "Opportunities",
    (
        FieldDef("name", "Name", FieldType.TEXT),
        FieldDef("date_closed", "Close date", FieldType.DATE),
        FieldDef("date_entered", "Created", FieldType.DATETIME),
    ),
)
THIS_MONTH = Condition("date_closed", Op.PERIOD, "this_month")
THIS_WEEK = Condition("date_closed", Op.PERIOD, "this_week")
ENTERED_TODAY = Condition("date_entered", Op.PERIOD, "today")
FAVORITE = Condition("", Op.FAVORITE)


@pytest.fixture(autouse=True)
def fixed_today_in_tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Today is 2026-11-25 for the user, who is in Tokyo (UTC+9)."""
    monkeypatch.setattr("crmdesk.core.query.local_today", lambda: TODAY)
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# -- SugarCRM ------------------------------------------------------------------------


def test_sugar_sends_date_range_where_it_has_the_keyword() -> None:
    assert sugar.encode_filter(THIS_MONTH, MDEF) == [{"date_closed": {"$dateRange": "this_month"}}]
    assert sugar.encode_filter(Condition("date_entered", Op.PERIOD, "last_7_days"), MDEF) == [
        {"date_entered": {"$dateRange": "last_7_days"}}
    ]


def test_sugar_falls_back_to_date_between_for_weeks_and_quarters() -> None:
    assert "this_week" not in sugar.DATE_RANGES
    assert sugar.encode_filter(THIS_WEEK, MDEF) == [
        {"date_closed": {"$dateBetween": ["2026-11-23", "2026-11-29"]}}
    ]
    entered = Condition("date_entered", Op.PERIOD, "this_quarter")
    assert sugar.encode_filter(entered, MDEF) == [
        {
            "date_entered": {
                "$dateBetween": ["2026-10-01T00:00:00+09:00", "2026-12-31T23:59:59+09:00"]
            }
        }
    ]


def test_sugar_favorites_only_is_its_favorite_filter() -> None:
    flt = and_(Condition("name", Op.STARTS, "A"), THIS_WEEK, FAVORITE)
    assert sugar.encode_filter(flt, MDEF) == [
        {"name": {"$starts": "A"}},
        {"date_closed": {"$dateBetween": ["2026-11-23", "2026-11-29"]}},
        {"$favorite": ""},
    ]
    # GET /count carries it in PHP brackets; the demo (like PHP) reads it back.
    params = sugar.php_params("filter", sugar.encode_filter(FAVORITE, MDEF))
    assert params == [("filter[0][$favorite]", "")]
    assert sugar.parse_php_params(params) == {"filter": [{"$favorite": ""}]}


# -- SuiteCRM ------------------------------------------------------------------------


def test_suitecrm_sends_gte_and_lte() -> None:
    assert suite.filter_params(THIS_MONTH, MDEF) == [
        ("filter[operator]", "and"),
        ("filter[date_closed][gte]", "2026-11-01"),
        ("filter[date_closed][lte]", "2026-11-30"),
    ]
    # datetimes in the database format, UTC: Tokyo's day starts at 15:00 the day before
    assert suite.filter_params(ENTERED_TODAY, MDEF) == [
        ("filter[operator]", "and"),
        ("filter[date_entered][gte]", "2026-11-24 15:00:00"),
        ("filter[date_entered][lte]", "2026-11-25 14:59:59"),
    ]


# -- EspoCRM -------------------------------------------------------------------------


def test_espocrm_sends_between() -> None:
    assert espo.where_items(THIS_WEEK, MDEF) == [
        {"type": "between", "attribute": "date_closed", "value": ["2026-11-23", "2026-11-29"]}
    ]
    (item,) = espo.where_items(ENTERED_TODAY, MDEF)
    assert item == {
        "type": "between",
        "attribute": "date_entered",
        "value": ["2026-11-24 15:00:00", "2026-11-25 14:59:59"],
    }


# -- Vtiger (both flavours send the same VTQL) -----------------------------------------


def test_vtiger_sends_two_comparisons() -> None:
    assert vtql.where_sql(THIS_MONTH, MDEF) == (
        "date_closed >= '2026-11-01' and date_closed <= '2026-11-30'"
    )
    assert vtql.build_count("Potentials", ENTERED_TODAY, MDEF) == (
        "select count(*) from Potentials where date_entered >= '2026-11-24 15:00:00' "
        "and date_entered <= '2026-11-25 14:59:59';"
    )


# -- favorites elsewhere, and the capabilities -----------------------------------------


def test_favorites_are_refused_where_not_offered() -> None:
    with pytest.raises(Unsupported):
        suite.filter_params(and_(THIS_MONTH, FAVORITE), MDEF)
    with pytest.raises(Unsupported):
        espo.where_items(FAVORITE, MDEF)
    with pytest.raises(Unsupported):
        vtql.where_sql(FAVORITE, MDEF)


@pytest.mark.parametrize(
    ("backend", "favorites"),
    [
        (SugarCrmBackend, True),
        (SuiteCrmBackend, False),
        (EspoCrmBackend, False),
        (VtigerBackend, False),
    ],
)
def test_capabilities_claim_periods_everywhere_and_favorites_only_on_sugar(
    backend: type[Backend], favorites: bool
) -> None:
    caps = backend.capabilities
    assert Op.PERIOD in caps.operators
    assert (Op.FAVORITE in caps.operators) is favorites
    assert caps.favorites is favorites
