"""How a compiled query runs: what drives it, how far it is counted, and which items make the page.

SQLite's planner cannot know how common a word is (FTS5 reports one cost for every MATCH), so the plan is chosen
here, from counts that stop early (LIMIT), on SQLite; PostgreSQL's planner has statistics and gets plain SQL.

On SQLite (times measured on a generated collection of 1,000,000 items, warm cache):

1. Each indexed filter (topic, source, tier, lang, story, the date range) and the words are counted, each up to
   ESTIMATE_CAP, from their own index. The smallest filter drives when it is smaller than the words' match set.
2. The probe reads the newest matches (by id, which grows with time) up to max(COUNT_CAP, offset + limit) + 1:
   through FTS5 in rowid order, or through the driving filter's ids. Getting fewer than that means the probe has
   every match: the total is exact and the page is sorted from it. Otherwise the total is "COUNT_CAP+", and
   - relevance ranks the newest matches only (BM25 is computed for those and no others; scoring all 500,000 items
     holding a common word would take most of a second), which the page reports as `ranked`;
   - date order takes the page from the probe too, then checks with one query on the date index that no older
     item (lower id) carries a later date and matches; only then does it walk the date index instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, func, literal, literal_column, or_, select
from sqlalchemy.orm import Session

from aggregator.models import Item, ItemTopic
from aggregator.search.sql import (
    BM25,
    FTS_ROWID,
    ITEM_DATE,
    ITEMS_FTS,
    Compiled,
    Component,
    fts5_ids,
    fts5_matches,
    plain,
    ts_matches,
    ts_rank,
)

COUNT_CAP = 10_000
ESTIMATE_CAP = 100_000
# Relevance = text rank x (1 + TAGGED + SCORED x best passed topic score): a tagged item counts half as relevant
# again, a sure tag (score 1) twice. A reporter's yes is stored with score 0.0, so being tagged counts on its own.
TAGGED, SCORED = 0.5, 0.5

Sort = Literal["relevance", "date"]
Row = tuple[int, datetime, float | None]  # id, date, rank (SQLite: bm25, lower is better; PostgreSQL: ts_rank)


@dataclass(frozen=True)
class Found:
    """The page as (item id, score) pairs, the total (exact or a lower bound) and the size of a ranked window."""

    page: list[tuple[int, float | None]]
    total: int
    exact: bool
    ranked: int | None


def boosted(rank: float | None, best: float | None) -> float | None:
    """The text rank (BM25 or ts_rank) scaled by the item's best passed topic score (None: the item is untagged).

    The factor is positive, so it keeps the sign SQLite's bm25 uses (lower is better) as well as ts_rank's.
    """
    if rank is None or best is None:
        return rank
    return rank * (1.0 + TAGGED + SCORED * min(max(float(best), 0.0), 1.0))


def _best_topic() -> Any:
    """The item's best passed topic score, NULL when it has none (correlated on items.id: a primary key range)."""
    best = select(func.max(ItemTopic.score)).where(ItemTopic.item_id == Item.id, ItemTopic.passed.is_(True))
    return best.correlate(Item).scalar_subquery()


def find(session: Session, compiled: Compiled, sort: Sort, limit: int, offset: int) -> Found:
    """The page of hits for a compiled query."""
    wanted = max(COUNT_CAP, offset + limit)
    rank = sort == "relevance" and compiled.text is not None
    if compiled.dialect != "sqlite":
        return _postgres(session, compiled, rank, wanted, limit, offset)
    driver, size = _driver(session, compiled)
    if compiled.text is None and (driver is None or size > COUNT_CAP):
        return _without_words(session, compiled, driver, wanted, limit, offset)
    rows = _probe(session, compiled, driver, wanted + 1, rank)
    complete = len(rows) <= wanted
    rows = rows[:wanted]
    if rank:
        rows.sort(key=lambda r: (r[2], -r[0]))
        page: list[tuple[int, float | None]] = [(r[0], -(r[2] or 0.0)) for r in rows[offset : offset + limit]]
        return Found(page, len(rows), complete, None if complete else wanted)
    rows.sort(key=lambda r: (r[1], r[0]), reverse=True)
    chosen = rows[offset : offset + limit]
    if not complete and chosen and _beaten(session, compiled, min(r[0] for r in rows), chosen[-1]):
        ids = _date_walk(session, compiled, limit, offset)
    else:
        ids = [r[0] for r in chosen]
    return Found([(i, None) for i in ids], len(rows), complete, None)


# --- SQLite ----------------------------------------------------------------------------------------------------


def _estimate(session: Session, ids: Select[Any], cap: int = ESTIMATE_CAP) -> int:
    limited = ids.limit(cap + 1).subquery()
    return int(session.scalar(select(func.count()).select_from(limited)) or 0)


def _driver(session: Session, compiled: Compiled) -> tuple[Component | None, int]:
    """The indexed filter with the fewest items (and how many, up to ESTIMATE_CAP + 1), if fewer than the words'."""
    if not compiled.components:
        return None, 0
    size, best = min((_estimate(session, c.ids), i) for i, c in enumerate(compiled.components))
    if compiled.text is not None and size >= _estimate(session, fts5_ids(compiled.match())):
        return None, 0
    return compiled.components[best], size


def _others(compiled: Compiled, driver: Component | None) -> list[ColumnElement[bool]]:
    return [c.row for c in compiled.components if c is not driver] + compiled.rest


def _probe(session: Session, compiled: Compiled, driver: Component | None, cap: int, rank: bool) -> list[Row]:
    """Up to `cap` matches, newest (highest id) first, with their dates and, if asked, their boosted BM25 rank."""
    if compiled.text is None:
        assert driver is not None
        ids = select(Item.id, ITEM_DATE).where(Item.id.in_(driver.ids), *_others(compiled, driver))
        return [(r[0], r[1], None) for r in session.execute(ids.order_by(Item.id.desc()).limit(cap))]
    score = literal_column(BM25) if rank else literal(None)
    best = _best_topic() if rank else literal(None)
    query = select(FTS_ROWID, ITEM_DATE, score, best).select_from(ITEMS_FTS).join(Item, Item.id == FTS_ROWID)
    if driver is None:
        query = query.where(fts5_matches(compiled), *compiled.where)
    else:
        # FTS5 walks its own match list and keeps the candidates: asking it item by item would cost a full
        # FTS5 query (and, for BM25, the word statistics) per item.
        candidates = select(Item.id).where(Item.id.in_(driver.ids), *_others(compiled, driver))
        query = query.where(fts5_matches(compiled), plain(FTS_ROWID, "sqlite").in_(candidates))
    query = query.order_by(FTS_ROWID.desc())
    return [(r[0], r[1], boosted(r[2], r[3])) for r in session.execute(query.limit(cap))]


def _word_check(compiled: Compiled) -> list[ColumnElement[bool]]:
    """The words as a check on a few items, one FTS5 lookup each."""
    if compiled.text is None:
        return []
    one = select(literal(1)).select_from(ITEMS_FTS).where(fts5_matches(compiled), FTS_ROWID == Item.id)
    return [exists(one)]


def _beaten(session: Session, compiled: Compiled, lowest_id: int, last: Row) -> bool:
    """Whether a match older than the probe (id < lowest_id) is dated after the page's last hit."""
    query = select(Item.id).where(
        _beyond(last[1], last[0], later=True),
        plain(Item.id, "sqlite") < lowest_id,
        *compiled.where,
        *_word_check(compiled),
    )
    return session.scalar(query.limit(1)) is not None


def _beyond(when: datetime, item_id: int, *, later: bool) -> ColumnElement[bool]:
    """(date, id) after (or before) the given pair, written so that SQLite ranges over the date index with it
    (it does not use an index on an expression for a row-value comparison)."""
    at = bindparam(None, when, type_=Item.published_at.type)
    if later:
        return and_(ITEM_DATE >= at, or_(ITEM_DATE > at, Item.id > item_id))
    return and_(ITEM_DATE <= at, or_(ITEM_DATE < at, Item.id < item_id))


def _date_walk(session: Session, compiled: Compiled, limit: int, offset: int) -> list[int]:
    """Newest first along the date index, every condition checked per item (the words gathered once)."""
    words = [] if compiled.text is None else [plain(Item.id, "sqlite").in_(fts5_ids(compiled.match()))]
    query = select(Item.id).where(*words, *compiled.where)
    query = query.order_by(ITEM_DATE.desc(), Item.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def _without_words(
    session: Session, compiled: Compiled, driver: Component | None, wanted: int, limit: int, offset: int
) -> Found:
    """Only filters, many items: count the newest up to the cap, page along the date index."""
    if driver is not None and len(compiled.components) == 1 and not compiled.rest:
        total = _estimate(session, driver.ids, wanted)
    else:
        total = _estimate(session, select(Item.id).where(*compiled.where).order_by(Item.id.desc()), wanted)
    ids = _date_walk(session, compiled, limit, offset)
    return Found([(i, None) for i in ids], min(total, wanted), total <= wanted, None)


# --- PostgreSQL ------------------------------------------------------------------------------------------------


def _postgres(session: Session, compiled: Compiled, rank: bool, wanted: int, limit: int, offset: int) -> Found:
    where = ([ts_matches(compiled)] if compiled.text is not None else []) + compiled.where
    if rank:
        # The same window as on SQLite: the newest `wanted` matches, ranked and boosted by their tags the same way.
        newest = select(Item.id, ts_rank(compiled), _best_topic()).where(*where).order_by(Item.id.desc())
        rows = [(r[0], float(boosted(r[1], r[2]) or 0.0)) for r in session.execute(newest.limit(wanted + 1))]
        complete = len(rows) <= wanted
        rows = sorted(rows[:wanted], key=lambda r: (-r[1], -r[0]))
        ranked: list[tuple[int, float | None]] = [(i, r) for i, r in rows[offset : offset + limit]]
        return Found(ranked, len(rows), complete, None if complete else wanted)
    # Up to `wanted` + 1 matches in whatever order is quickest: when that is all of them, they are sorted here.
    # (ORDER BY date LIMIT on a rare match set makes PostgreSQL walk the whole date index looking for it.)
    dated = session.execute(select(Item.id, ITEM_DATE).where(*where).limit(wanted + 1)).all()
    if len(dated) <= wanted:
        dated = sorted(dated, key=lambda r: (r[1], r[0]), reverse=True)
        return Found([(r[0], None) for r in dated[offset : offset + limit]], len(dated), True, None)
    query = select(Item.id).where(*where).order_by(ITEM_DATE.desc(), Item.id.desc()).limit(limit).offset(offset)
    return Found([(i, None) for i in session.scalars(query)], wanted, False, None)


# --- streaming -------------------------------------------------------------------------------------------------


def stream_ids(session: Session, compiled: Compiled, sort: Literal["date", "id"], batch: int) -> Iterator[list[int]]:
    """Batches of matching ids, newest first (`date`) or by id, each fetched by keyset."""
    sqlite = compiled.dialect == "sqlite"
    words: list[ColumnElement[bool]] = []
    if compiled.text is not None:
        words.append(plain(Item.id, "sqlite").in_(fts5_ids(compiled.match())) if sqlite else ts_matches(compiled))
    after: tuple[Any, ...] | None = None
    query: Any
    while True:
        if sort == "id" and sqlite and compiled.text is not None:
            # FTS5 resumes its own match list after the last id: one pass over the matches in all.
            query = (
                select(FTS_ROWID, literal(None))
                .select_from(ITEMS_FTS)
                .join(Item, Item.id == FTS_ROWID)
                .where(fts5_matches(compiled), *compiled.where)
            )
            if after is not None:
                query = query.where(FTS_ROWID > after[0])
            query = query.order_by(FTS_ROWID)
        elif sort == "id":
            query = select(Item.id, literal(None)).where(*words, *compiled.where)
            if after is not None:
                query = query.where(Item.id > after[0])
            query = query.order_by(Item.id)
        else:
            query = select(Item.id, ITEM_DATE).where(*words, *compiled.where)
            if after is not None:
                query = query.where(_beyond(after[1], after[0], later=False))
            query = query.order_by(ITEM_DATE.desc(), Item.id.desc())
        rows = session.execute(query.limit(batch)).all()
        if rows:
            yield [r[0] for r in rows]
        if len(rows) < batch:
            return
        after = (rows[-1][0], rows[-1][1])
