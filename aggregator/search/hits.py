"""Search stored items with the query language: a page of ranked hits, or every match streamed for export.

- `search` returns one page (SearchPage): hits with their topics and a snippet, the total (exact up to 10,000,
  then a lower bound: show "10,000+"), and, when relevance could only rank the newest matches, how many.
  Relevance counts the tags: an item with a passed topic ranks above an untagged one that matches as well.
  How each query is run, and why, is in search_plan; how it becomes SQL, in search_sql.
- `iter_matches` yields every match newest first or by id, fetching by keyset (never OFFSET), so memory stays
  flat however many items match. Relevance order is not offered there: it needs every match scored first.
- Snippets mark the matched words with "\x02" and "\x03" (see aggregator.search.highlight for how to render them).
- Given the TopicSet, `topic:` also names its cross-topics (`topic:nexus`: passed cartels and terrorism both), and
  hits list a cross-topic an item has among its topics, scored as the digest scores its section: the lowest score
  of the topics it requires.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from aggregator.errors import StorageError
from aggregator.models import Item, ItemTopic, Source
from aggregator.search.entity_filter import resolve_entities
from aggregator.search.highlight import snippet
from aggregator.search.plan import COUNT_CAP, Sort, find, stream_ids
from aggregator.search.query import Field, Query, QueryError, parse, positive_texts, walk
from aggregator.search.sql import (
    FTS_ROWID,
    ITEMS_FTS,
    Compiled,
    CrossTopics,
    compile_query,
    fts5_matches,
    ts_matches,
)
from aggregator.store.entities import item_entity_ids
from aggregator.store.tags import passed_topics

if TYPE_CHECKING:
    from aggregator.classify.topics import TopicSet

__all__ = ["COUNT_CAP", "MAX_LIMIT", "Hit", "QueryError", "SearchPage", "Sort", "iter_matches", "matching", "search"]

MAX_LIMIT = 1000
# Snippets look for matches in the first this-many characters of an item's text.
SNIPPET_SCAN = 20_000


@dataclass(frozen=True)
class Hit:
    """One matching item. `score` is the relevance (higher is better), None when sorted by date: the text's rank
    (BM25 on SQLite, ts_rank on PostgreSQL) times a boost for the item's tags (search.plan.boosted)."""

    item_id: int
    title: str
    url: str
    source_id: str
    language: str | None
    published_at: datetime | None
    first_seen_at: datetime
    story_id: int | None
    topics: dict[str, float]
    score: float | None
    snippet: str
    entities: tuple[str, ...] = ()  # ids of the entities the item names


@dataclass(frozen=True)
class SearchPage:
    """A page of hits. `total` is exact when `total_exact`, else a lower bound (show "10,000+").

    `ranked` is set when relevance was computed over only the newest `ranked` matches.
    """

    total: int
    total_exact: bool
    hits: list[Hit]
    ranked: int | None = None


def search(
    session: Session,
    query_text: str,
    *,
    sort: Sort = "relevance",
    limit: int = 20,
    offset: int = 0,
    topics: TopicSet | None = None,
    zone: tzinfo = UTC,
) -> SearchPage:
    """Run a query; raise QueryError for a malformed one (or one naming an unknown source, topic or language).

    With `topics` (topics.toml), `topic:` may name its cross-topics too, and a topic it defines is known even
    before any item has it; without, only the topics stored in item_topics are.
    """
    if sort not in ("relevance", "date"):
        raise ValueError(f"sort must be 'relevance' or 'date', not {sort!r}")
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise ValueError(f"limit must be 1..{MAX_LIMIT} and offset >= 0 (got {limit}, {offset})")
    query = parse(query_text)
    compiled = prepare(session, query, topics, zone)
    try:
        found = find(session, compiled, sort, limit, offset)
        hits = _hits(session, found.page, query, topics, snippets=True)
    except OperationalError as exc:
        raise StorageError(f"search: the database failed: {exc.orig}") from exc
    return SearchPage(found.total, found.exact, hits, found.ranked)


def iter_matches(
    session: Session,
    query_text: str,
    *,
    sort: Literal["date", "id"] = "date",
    batch: int = 5000,
    topics: TopicSet | None = None,
    zone: tzinfo = UTC,
) -> Iterator[Hit]:
    """Every match, newest first (`date`) or in storage order (`id`), as hits without snippets or scores."""
    if sort not in ("date", "id"):
        raise ValueError(f"iter_matches sorts by 'date' or 'id', not {sort!r}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    query = parse(query_text)
    compiled = prepare(session, query, topics, zone)
    try:
        for ids in stream_ids(session, compiled, sort, batch):
            yield from _hits(session, [(i, None) for i in ids], query, topics, snippets=False)
    except OperationalError as exc:
        raise StorageError(f"search: the database failed: {exc.orig}") from exc


# --- checks before running ------------------------------------------------------------------------------------


def prepare(session: Session, query: Query, topics: TopicSet | None = None, zone: tzinfo = UTC) -> Compiled:
    """The query compiled for the session's database, after checking the sources, topics and languages it names;
    `since:`/`until:` days are days in `zone` (the reporter's)."""
    _check_names(session, query, topics)
    query = resolve_entities(session, query)
    return compile_query(query, session.get_bind().dialect.name, cross_topics(topics), zone)


def cross_topics(topics: TopicSet | None) -> CrossTopics:
    """Each cross-topic of `topics` and the topics it requires."""
    return {c.id: c.requires_all for c in topics.cross_topics} if topics is not None else {}


def matching(compiled: Compiled, *columns: Any) -> Select[Any]:
    """SELECT `columns` FROM every item the query matches, for counting and grouping (as stats does)."""
    if compiled.text is None:
        return select(*columns).select_from(Item).where(*compiled.where)
    if compiled.dialect == "sqlite":
        joined = select(*columns).select_from(ITEMS_FTS).join(Item, Item.id == FTS_ROWID)
        return joined.where(fts5_matches(compiled), *compiled.where)
    return select(*columns).select_from(Item).where(ts_matches(compiled), *compiled.where)


def _check_names(session: Session, query: Query, topics: TopicSet | None) -> None:
    """A misspelt source, topic or language would silently find nothing; say so instead, with the nearest names."""
    fields = [n for n in walk(query.root) if isinstance(n, Field) and n.name in ("source", "topic", "lang")]
    for node in fields:
        if node.name == "source":
            if session.get(Source, node.value) is not None:
                continue
            known = list(session.scalars(select(Source.id)))
            what = "unknown source"
        elif node.name == "topic":
            defined = topics.all_ids if topics is not None else ()
            if node.value in defined or _stored(session, ItemTopic.topic, node.value):
                continue
            # Topics stored under an older topics.toml stay searchable, so they are known too.
            known = sorted(set(defined) | set(session.scalars(select(ItemTopic.topic).distinct())))
            what = "no topic"
        else:
            if _stored(session, Item.language, node.value):
                continue
            known = sorted(lang for lang in session.scalars(select(Item.language).distinct()) if lang)
            what = "no item has the language"
        close = sorted(difflib.get_close_matches(node.value, known, n=5, cutoff=0.5))
        guess = f"did you mean: {', '.join(close)}?" if close else ""
        if node.name == "source":  # an outlet list runs to hundreds: only the nearest ones are named
            hint = guess or f"{len(known)} known"
        else:  # topics and languages are a handful
            hint = "; ".join(part for part in (f"known: {', '.join(known) or 'none'}", guess) if part)
        raise QueryError(f"{what} '{node.value}'", query.text, node.column, hint)


def _stored(session: Session, column: Any, value: str) -> bool:
    """Whether some row holds `value` in `column` (an indexed column: one index lookup)."""
    return session.scalar(select(column).where(column == value).limit(1)) is not None


# --- from ids to hits -----------------------------------------------------------------------------------------


def with_cross_topics(tags: dict[int, dict[str, float]], topics: TopicSet | None) -> dict[int, dict[str, float]]:
    """Passed topics per item (store.tags.passed_topics) plus the cross-topics they make, by id.

    A cross-topic scores the lowest of the scores of the topics it requires, as in the digest; a row stored under
    a cross-topic's id is replaced by what the topics say.
    """
    cross = cross_topics(topics)
    if not cross:
        return tags
    out: dict[int, dict[str, float]] = {}
    for item_id, scores in tags.items():
        mine = {t: s for t, s in scores.items() if t not in cross}
        for cross_id, needed in cross.items():
            if all(t in mine for t in needed):
                mine[cross_id] = min(mine[t] for t in needed)
        out[item_id] = dict(sorted(mine.items()))
    return out


def _hits(
    session: Session, rows: list[tuple[int, float | None]], query: Query, topics: TopicSet | None, *, snippets: bool
) -> list[Hit]:
    if not rows:
        return []
    ids = [item_id for item_id, _ in rows]
    columns: list[Any] = [
        Item.id, Item.title, Item.url, Item.source_id, Item.language, Item.published_at, Item.first_seen_at,
        Item.story_id,
    ]  # fmt: skip
    if snippets:
        columns += [Item.summary_text, func.substr(Item.text, 1, SNIPPET_SCAN)]
    found = {row[0]: row for row in session.execute(select(*columns).where(Item.id.in_(ids)))}
    tags = with_cross_topics(passed_topics(session, ids), topics)
    named = item_entity_ids(session, ids)
    terms = positive_texts(query.root)
    hits = []
    for item_id, score in rows:
        row = found.get(item_id)
        if row is None:  # deleted between the two queries
            continue
        hits.append(
            Hit(
                item_id=item_id, title=row[1], url=row[2], source_id=row[3], language=row[4], published_at=row[5],
                first_seen_at=row[6], story_id=row[7], topics=tags.get(item_id, {}), score=score,
                snippet=snippet([row[8] or "", row[9] or ""], terms) if snippets else "",
                entities=tuple(named.get(item_id, ())),
            )
        )  # fmt: skip
    return hits
