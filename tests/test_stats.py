"""Volume over time: the same periods and counts on SQLite and PostgreSQL, in the reporter's timezone, without gaps."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from aggregator.search.query import QueryError
from aggregator.search.stats import Volume, label_of, volume
from aggregator.store.database import Database
from tests.digestdata import add_item, add_source, utc

MEXICO = ZoneInfo("America/Mexico_City")  # UTC-6 all year (no daylight saving since 2022)


def fill(session: Session) -> dict[str, int]:
    """Six items over six weeks; two of them close to a midnight, one dated by publication into ISO week 53."""
    for source_id in ("alpha", "beta", "gamma"):
        add_source(session, source_id)
    return {
        # 03:00 UTC is 21:00 the evening before in Mexico City.
        "a": add_item(session, "alpha", "Sinaloa cartel convoy attacked", "Gunmen attacked a convoy.",
                      seen=utc(2026, 11, 24, 3), tags={"cartels": 0.9}),
        "b": add_item(session, "beta", "El Cártel de Jalisco amplía su control", "Nueva Generación.",
                      seen=utc(2026, 11, 25, 19), published=utc(2026, 11, 25, 18), language="es-MX",
                      tags={"cartels": 0.8, "nexus": 0.6}),
        "c": add_item(session, "alpha", "Border wall funding debate", "Congress argued.",
                      seen=utc(2026, 11, 20, 15), tags={"border_security": 0.7}),
        "d": add_item(session, "gamma", "Hezbollah financing and a cartel", "Money flows.",
                      seen=utc(2026, 12, 2, 12), language="", tags={"terrorism": 0.85, "nexus": 0.55}),
        # 06:30 UTC is 00:30 in Mexico City: the same day.
        "e": add_item(session, "beta", "Festival de cine", "Películas.", seen=utc(2026, 11, 26, 6, 30), language="es"),
        # Published on New Year's Eve (ISO week 2026-W53), first seen in 2027: the publication date counts.
        "f": add_item(session, "alpha", "Year-end cartel review", "A review.", seen=utc(2027, 1, 2, 9),
                      published=utc(2026, 12, 31, 23, 30), tags={"cartels": 0.75}),
    }  # fmt: skip


@pytest.fixture
def filled(db: Database) -> Database:
    with db.session() as session:
        fill(session)
    return db


def days(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [date.fromordinal(n).isoformat() for n in range(start.toordinal(), end.toordinal() + 1)]


def test_by_day_in_the_reporters_zone_with_gaps_filled(filled: Database) -> None:
    with filled.session() as session:
        found = volume(session, None, by="day", per=None, zone=MEXICO)
        in_utc = volume(session, None, by="day", per=None, zone=ZoneInfo("UTC"))
    assert found.periods == days("2026-11-20", "2026-12-31")
    counted = {p: n for p, n in zip(found.periods, found.series["all"], strict=True) if n}
    # Item a (03:00 UTC on the 24th) is on the 23rd in Mexico City; item e (00:30 local) stays on the 26th.
    assert counted == {"2026-11-20": 1, "2026-11-23": 1, "2026-11-25": 1, "2026-11-26": 1, "2026-12-02": 1,
                       "2026-12-31": 1}  # fmt: skip
    assert list(found.series) == ["all"]
    utc_counted = {p for p, n in zip(in_utc.periods, in_utc.series["all"], strict=True) if n}
    assert "2026-11-24" in utc_counted and "2026-11-23" not in utc_counted


def test_per_topic_by_week(filled: Database) -> None:
    with filled.session() as session:
        found = volume(session, None, by="week", per="topic", zone=MEXICO)
    assert found == Volume(
        ["2026-W47", "2026-W48", "2026-W49", "2026-W50", "2026-W51", "2026-W52", "2026-W53"],
        {
            "cartels": [0, 2, 0, 0, 0, 0, 1],
            "nexus": [0, 1, 1, 0, 0, 0, 0],
            "border_security": [1, 0, 0, 0, 0, 0, 0],
            "terrorism": [0, 0, 1, 0, 0, 0, 0],
        },
    )
    assert list(found.series) == ["cartels", "nexus", "border_security", "terrorism"]  # largest total first


def test_per_language_and_source_by_month(filled: Database) -> None:
    with filled.session() as session:
        langs = volume(session, None, by="month", per="lang", zone=MEXICO)
        sources = volume(session, None, by="month", per="source", zone=MEXICO)
    # "es-MX" counts as "es"; an item without a language is "unknown".
    assert langs == Volume(["2026-11", "2026-12"], {"en": [2, 1], "es": [2, 0], "unknown": [0, 1]})
    assert sources == Volume(["2026-11", "2026-12"], {"alpha": [2, 1], "beta": [2, 0], "gamma": [0, 1]})


def test_a_query_and_local_day_bounds(filled: Database) -> None:
    with filled.session() as session:
        words = volume(session, "cartel", by="month", per=None, zone=MEXICO)
        nexus = volume(session, "topic:nexus", by="day", per="source", zone=MEXICO, since=date(2026, 11, 24),
                       until=date(2026, 11, 30))  # fmt: skip
        empty = volume(session, None, by="day", per=None, zone=MEXICO, since=date(2027, 3, 1), until=date(2027, 3, 3))
        # The 23rd in Mexico City ends at 06:00 UTC on the 24th: item a is in, the rest of the 24th is not.
        one_day = volume(session, None, by="day", per=None, zone=MEXICO, since=date(2026, 11, 23),
                         until=date(2026, 11, 23))  # fmt: skip
        instants = volume(session, None, by="month", per=None, zone=MEXICO, since=datetime(2026, 11, 25, tzinfo=UTC),
                          until=datetime(2026, 12, 2, 12, tzinfo=UTC))  # fmt: skip
    assert words == Volume(["2026-11", "2026-12"], {"all": [2, 2]})  # "Cártel" too; d has it in its title
    assert nexus == Volume(days("2026-11-24", "2026-11-30"), {"beta": [0, 1, 0, 0, 0, 0, 0]})
    assert empty == Volume(["2027-03-01", "2027-03-02", "2027-03-03"], {"all": [0, 0, 0]})
    assert one_day == Volume(["2026-11-23"], {"all": [1]})
    assert instants == Volume(["2026-11", "2026-12"], {"all": [2, 0]})  # `until` as an instant is exclusive


def test_daylight_saving_quarter_hour_zones_and_dates_before_1970(db: Database) -> None:
    with db.session() as session:
        add_source(session, "alpha")
        for n, when in enumerate(
            [
                utc(2026, 11, 1, 3, 59), utc(2026, 11, 1, 4, 0),  # New York: 23:59 and 00:00 EDT
                utc(2026, 11, 2, 4, 59), utc(2026, 11, 2, 5, 0),  # 23:59 and 00:00 EST, after the change
            ]
        ):  # fmt: skip
            add_item(session, "alpha", f"dst {n}", "x", seen=when)
    with db.session() as session:
        new_york = volume(session, "dst", by="day", per=None, zone=ZoneInfo("America/New_York"))
    assert new_york == Volume(["2026-10-31", "2026-11-01", "2026-11-02"], {"all": [1, 2, 1]})
    with db.session() as session:
        # Kathmandu is UTC+5:45: 18:14 UTC is 23:59 there, 18:15 UTC is midnight.
        add_item(session, "alpha", "nepal one", "x", seen=utc(2026, 11, 10, 18, 14))
        add_item(session, "alpha", "nepal two", "x", seen=utc(2026, 11, 10, 18, 15))
        add_item(session, "alpha", "old one", "x", seen=utc(1969, 12, 31, 23, 50))
        add_item(session, "alpha", "old two", "x", seen=utc(1970, 1, 1, 0, 5))
    with db.session() as session:
        nepal = volume(session, "nepal", by="day", per=None, zone=ZoneInfo("Asia/Kathmandu"))
        old = volume(session, "old", by="day", per=None, zone=ZoneInfo("UTC"))
    assert nepal == Volume(["2026-11-10", "2026-11-11"], {"all": [1, 1]})
    assert old == Volume(["1969-12-31", "1970-01-01"], {"all": [1, 1]})


def test_empty_database_bad_arguments_and_bad_queries(db: Database) -> None:
    with db.session() as session:
        assert volume(session, None, by="week", per=None, zone=MEXICO) == Volume([], {"all": []})
        assert volume(session, None, by="week", per="topic", zone=MEXICO) == Volume([], {})
        with pytest.raises(ValueError, match="by must be"):
            volume(session, None, by="year", per=None, zone=MEXICO)
        with pytest.raises(ValueError, match="per must be"):
            volume(session, None, by="day", per="author", zone=MEXICO)
        with pytest.raises(QueryError, match="unbalanced"):
            volume(session, "cartel (sinaloa", by="day", per=None, zone=MEXICO)
        with pytest.raises(QueryError, match="no topic 'cartelz'"):
            volume(session, "topic:cartelz", by="day", per=None, zone=MEXICO)


def test_period_labels() -> None:
    assert label_of(utc(2027, 1, 1, 3), "week", MEXICO) == "2026-W53"  # still New Year's Eve in Mexico City
    assert label_of(utc(2027, 1, 4, 12), "week", MEXICO) == "2027-W01"
    assert label_of(utc(2026, 12, 1, 5, 59), "month", MEXICO) == "2026-11"
    assert label_of(utc(2026, 12, 1, 6), "month", MEXICO) == "2026-12"
