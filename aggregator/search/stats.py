"""Volume over time: how many items (all, or matching a query) per day, week or month, per topic, source or language.

The database groups the items by UTC quarter-hour and by key, and Python turns each quarter-hour into the
reporter's local day, week or month. Quarter-hours, not local dates in SQL, because SQLite knows no time zones:
this way both backends run the same grouping and give the same counts, and a million items collapse into at most
96 rows per day and key before Python sees them. Every time zone in use today is a whole number of quarter-hours
from UTC, so a quarter-hour never straddles local midnight.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, Integer, Select, bindparam, case, cast, func, literal_column, true
from sqlalchemy.orm import Session

from aggregator.models import Item, ItemTopic
from aggregator.parse.dates import AHEAD, EARLIEST, SAFE_MAX, SAFE_MIN, bounded
from aggregator.search.hits import cross_topics, matching, prepare
from aggregator.search.query import parse
from aggregator.search.sql import Compiled, tagged_ids
from aggregator.store.entities import pairs

if TYPE_CHECKING:
    from aggregator.classify.topics import TopicSet

BY = ("day", "week", "month")
PER = ("topic", "source", "lang", "entity")
SLOT = 900  # seconds in a quarter-hour
# SQLite's integer division truncates towards zero; shifting every epoch (from year 1 on) above zero makes it floor.
_SHIFT = 62_135_596_800  # seconds from 0001-01-01 to 1970-01-01, a whole number of quarter-hours
UNKNOWN_LANGUAGE = "unknown"


@dataclass(frozen=True)
class Volume:
    """Counts per period: `periods` in order without gaps, and one list of counts per series, aligned with them.

    `series` has one entry per topic, source or language (largest total first), or {"all": [...]} when not split.
    """

    periods: list[str]
    series: dict[str, list[int]]


def volume(
    session: Session,
    query_text: str | None,
    *,
    by: str,
    per: str | None,
    zone: ZoneInfo,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    topics: TopicSet | None = None,
) -> Volume:
    """Count the items matching `query_text` (every item when None) by local `by` period, split `per` key.

    Items are dated by their publication time when plausible, or else when first seen, and bucketed in `zone`. Per
    topic, an item counts once under each topic it passed; per source, under the outlet that stored it first. `since`
    and `until` are local days, both included (a datetime is an instant: from it, or up to it exclusive); the periods
    run from `since` (or the first item) to `until` (or the last item), empty ones filled with zeros.
    With `topics` (topics.toml), the query may name cross-topics, and per topic each cross-topic is a series too: the
    items that passed every topic it requires. Raises QueryError for a malformed query or one naming an unknown
    source, topic or language.
    """
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}, not {by!r}")
    if per is not None and per not in PER:
        raise ValueError(f"per must be one of {', '.join(PER)} or None, not {per!r}")
    start, end = _instant(since, zone, end=False), _instant(until, zone, end=True)
    label = _labeller(by, zone)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for slot, key, count in _grouped(session, query_text, per, start, end, topics, zone):
        counts[_key(per, key)][label(slot)] += count
    first = label_of(start, by, zone) if start is not None else None
    last = label_of(end - timedelta(microseconds=1), by, zone) if end is not None else None
    seen = sorted({period for by_period in counts.values() for period in by_period})
    periods = list(_periods(first or (seen[0] if seen else last), last or (seen[-1] if seen else first), by))
    if per is None:
        counts.setdefault("all", defaultdict(int))
    order = sorted(counts, key=lambda k: (-sum(counts[k].values()), k))
    return Volume(periods, {key: [counts[key].get(p, 0) for p in periods] for key in order})


def label_of(moment: datetime, by: str, zone: ZoneInfo) -> str:
    """The period `moment` falls in, in `zone`: "2026-11-24", "2026-W48" (ISO week) or "2026-11"."""
    return _label(bounded(moment).astimezone(zone).date(), by)


def _label(day: date, by: str) -> str:
    if by == "day":
        return day.isoformat()
    if by == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def _labeller(by: str, zone: ZoneInfo) -> Callable[[int], str]:
    cache: dict[int, str] = {}  # the same quarter-hour comes back once per key

    def label(slot: int) -> str:
        found = cache.get(slot)
        if found is None:
            found = cache[slot] = label_of(datetime.fromtimestamp(slot * SLOT, UTC), by, zone)
        return found

    return label


def _instant(value: date | datetime | None, zone: ZoneInfo, *, end: bool) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return bounded(value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)
    day = min(max(value, SAFE_MIN.date()), SAFE_MAX.date())  # since=0001-01-01 must not overflow
    day = day + timedelta(days=1) if end else day  # `until` includes its day
    return datetime.combine(day, time(), zone).astimezone(UTC)


def _key(per: str | None, key: Any) -> str:
    if per is None:
        return "all"
    if per == "lang":
        # The primary subtag, as the query's lang: does: "es-MX" and "es" are one language.
        primary = str(key or "").lower().replace("_", "-").split("-")[0]
        return primary or UNKNOWN_LANGUAGE
    return str(key)


def _grouped(
    session: Session,
    query_text: str | None,
    per: str | None,
    start: datetime | None,
    end: datetime | None,
    topics: TopicSet | None,
    zone: tzinfo,
) -> Iterator[tuple[int, Any, int]]:
    dialect = session.get_bind().dialect.name
    slot = _slot(dialect).label("slot")
    keys: list[Any] = []
    named = None
    if per is not None:
        named = pairs().subquery("named") if per == "entity" else None
        keys.append(named.c.entity_id if named is not None else
                    {"topic": ItemTopic.topic, "source": Item.source_id, "lang": Item.language}[per])  # fmt: skip
    # The same matching as search() and export (FTS5 or tsvector for words, SQL for filters), and the same errors.
    compiled = prepare(session, parse(query_text), topics, zone) if query_text is not None else Compiled(dialect)
    # Filter on the date each item is counted under, so no item is left out of a period it is counted in.
    counted = _counted_date(dialect)
    dated: list[ColumnElement[bool]] = []
    if start is not None:
        dated.append(counted >= bindparam(None, start, type_=Item.first_seen_at.type))
    if end is not None:
        dated.append(counted < bindparam(None, end, type_=Item.first_seen_at.type))
    query: Select[Any] = matching(compiled, slot, func.count(), *keys).where(*dated)
    cross = cross_topics(topics) if per == "topic" else {}
    if per == "topic":
        tagged = (ItemTopic.item_id == Item.id) & (ItemTopic.passed == true())
        if cross:  # a row stored under a cross-topic's id would be counted twice
            tagged &= ItemTopic.topic.not_in(list(cross))
        query = query.join(ItemTopic, tagged)
    if named is not None:  # an item counts once under each entity it names, however often it names it
        query = query.join(named, named.c.item_id == Item.id)
    for row in session.execute(query.group_by(slot, *keys)):
        yield int(row[0]), row[2] if keys else None, int(row[1])
    # A cross-topic has no rows of its own: its series counts the matches that passed every topic it requires.
    for cross_id in cross:
        both = matching(compiled, slot, func.count()).where(*dated, Item.id.in_(tagged_ids(cross_id, cross=cross)))
        for row in session.execute(both.group_by(slot)):
            yield int(row[0]), cross_id, int(row[1])


def _counted_date(dialect: str) -> ColumnElement[datetime]:
    """The date an item is counted under: its publication date when plausible (parse.dates' window, from the
    item's first sighting), else when it was first seen.

    A year-1 or year-9999 date stored before dates were checked would otherwise stretch the periods over millennia:
    millions of days to fill with zeros.
    """
    ahead = int(AHEAD.total_seconds())
    if dialect == "sqlite":
        latest: ColumnElement[Any] = func.datetime(Item.first_seen_at, f"+{ahead} seconds")
    else:
        latest = Item.first_seen_at + literal_column(f"INTERVAL '{ahead} seconds'")
    earliest = bindparam(None, EARLIEST, type_=Item.first_seen_at.type)
    plausible = (Item.published_at >= earliest) & (Item.published_at <= latest)
    return case((plausible, Item.published_at), else_=Item.first_seen_at)


def _slot(dialect: str) -> ColumnElement[int]:
    """The item's counted date as a quarter-hour number since the Unix epoch (floored, also before 1970)."""
    dated = _counted_date(dialect)
    if dialect == "sqlite":
        # Dates are stored as "YYYY-MM-DD HH:MM:SS.ffffff" in UTC; strftime('%s') reads that as seconds.
        seconds = cast(func.strftime("%s", dated), Integer)
        return (seconds + _SHIFT) // SLOT - _SHIFT // SLOT
    return cast(func.floor(func.extract("epoch", dated) / SLOT), BigInteger)


def _periods(first: str | None, last: str | None, by: str) -> Iterator[str]:
    """Every period label from `first` to `last` included (none when either is None)."""
    if first is None or last is None:
        return
    day, stop = _start_of(first, by), _start_of(last, by)
    while day <= stop:
        yield _label(day, by)
        try:
            if by == "day":
                day += timedelta(days=1)
            elif by == "week":
                day += timedelta(weeks=1)
            else:
                day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        except (OverflowError, ValueError):  # the next period would begin after year 9999
            return


def _start_of(label: str, by: str) -> date:
    if by == "day":
        return date.fromisoformat(label)
    if by == "week":
        year, week = label.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    year, month = label.split("-")
    return date(int(year), int(month), 1)
