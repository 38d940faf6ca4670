"""Compile a parsed query to SQL conditions on `items`, for SQLite (FTS5) and PostgreSQL (tsvector).

Every piece of user text reaches the database as a bound parameter. On SQLite the words go inside an FTS5
expression that is itself a parameter, each word quoted as an FTS5 string, so FTS5 syntax typed by a user
(`NEAR(`, `^`, `:`, column filters) is only ever a word. On PostgreSQL each word is bound on its own, folded by
the same SQL function that built the index (`search_fold`, migration 0005) and made a tsquery operand by
quote_literal().

Both backends find the same items: PostgreSQL's `items.search` holds the 'simple' configuration (no stemming,
no stop words) over text folded like FTS5's `unicode61 remove_diacritics 2`, and phrases stay inside one field
(title, summary or text) on both, as FTS5 phrases do.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import reduce
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    not_,
    or_,
    select,
    table,
    true,
    union_all,
)
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from aggregator.models import EntityMention, Item, ItemTopic, Sighting, Source
from aggregator.search.query import And, Field, Node, Not, Or, Query, ScoreBound, Since, Story, Text, Until, walk

ITEMS_FTS = table("items_fts")
FTS_ROWID: ColumnElement[int] = literal_column("items_fts.rowid")
FTS_TABLE: ColumnElement[str] = literal_column("items_fts")
SEARCH_VECTOR: ColumnElement[Any] = literal_column("items.search")
SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")
# bm25 weights for FTS5's columns (title, summary_text, text): a word in the title counts most.
BM25 = "bm25(items_fts, 10.0, 3.0, 1.0)"
# ts_rank weights for {D, C, B, A}; migration 0005 labels the title A, the summary B and the text C.
TS_WEIGHTS: ColumnElement[Any] = literal_column("'{0.0, 0.1, 0.3, 1.0}'::float4[]")
FIELD_WEIGHTS = ("A", "B", "C")
ITEM_DATE = func.coalesce(Item.published_at, Item.first_seen_at)

# A cross-topic id and the topics an item must have passed, every one of them, to have it (topics.toml's
# [[cross_topic]] requires_all).
CrossTopics = Mapping[str, Sequence[str]]

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


@dataclass
class Component:
    """A top-level filter with an index: its item ids can be counted cheaply and can drive a query."""

    ids: Select[Any]
    row: ColumnElement[bool]


@dataclass
class Compiled:
    """A query as SQL: the top-level words (they find and rank hits), the indexed filters, the other conditions.

    Every condition in `components` and `rest` is written to be checked row by row (on SQLite with `+`, which
    keeps the planner from driving from the wrong index): search_plan decides what drives.
    """

    dialect: str
    text: Node | None = None
    components: list[Component] = field(default_factory=list)
    rest: list[ColumnElement[bool]] = field(default_factory=list)

    @property
    def where(self) -> list[ColumnElement[bool]]:
        """Every condition but the words, row by row."""
        return [c.row for c in self.components] + self.rest

    def match(self) -> str:
        """SQLite: the FTS5 expression of the words (bind it; never paste it into SQL)."""
        assert self.text is not None
        expression = fts5_expression(self.text)
        assert expression is not None
        return expression

    def tsquery(self) -> ColumnElement[Any]:
        """PostgreSQL: the tsquery of the words."""
        assert self.text is not None
        return ts_query(self.text)


def compile_query(query: Query, dialect: str, cross: CrossTopics | None = None, zone: tzinfo = UTC) -> Compiled:
    """Split the query into its words, indexed filters and other conditions, for `dialect` (sqlite | postgresql).

    `topic:` names a topic, or one of the `cross` topics: the items that passed every topic it requires.
    `since:` and `until:` name days (months, years) in `zone`, the reporter's: they start at its midnight.
    """
    compiled = Compiled(dialect)
    bounds = query.score_bounds
    cross = cross or {}
    if bounds and not query.topics:
        compiled.rest.append(_has_tag(None, bounds, cross))
    if query.root is None:
        return compiled
    conjuncts: list[Node] = list(query.root.children) if isinstance(query.root, And) else [query.root]
    words, conjuncts = _words_and_rest(conjuncts)
    compiled.text = words
    since = [_midnight_in(c.at, zone) for c in conjuncts if isinstance(c, Since)]
    until = [_midnight_in(c.before, zone) for c in conjuncts if isinstance(c, Until)]
    if since or until:
        compiled.components.append(_dates(max(since) if since else None, min(until) if until else None, dialect))
    for node in conjuncts:
        if isinstance(node, Since | Until):
            continue
        component = _component(node, bounds, dialect, cross)
        if component is not None:
            compiled.components.append(component)
        else:
            compiled.rest.append(_row(node, dialect, bounds, cross))
    return compiled


def _words_and_rest(conjuncts: list[Node]) -> tuple[Node | None, list[Node]]:
    """The AND-ed word conditions as one node when FTS5 can say them (they include something to find)."""
    words = [c for c in conjuncts if _is_text(c)]
    if not any(not isinstance(c, Not) for c in words):
        return None, conjuncts
    merged = words[0] if len(words) == 1 else And(tuple(words))
    if fts5_expression(merged) is None:
        return None, conjuncts
    return merged, [c for c in conjuncts if not _is_text(c)]


def _is_text(node: Node) -> bool:
    return all(isinstance(n, Text | Not | And | Or) for n in walk(node))


def plain(column: Any, dialect: str) -> ColumnElement[Any]:
    """On SQLite, `+column`: the same value, but no index is used for it (another part of the query drives)."""
    if dialect != "sqlite":
        return column  # type: ignore[no-any-return]
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


def _midnight_in(utc_midnight: datetime, zone: tzinfo) -> datetime:
    """The parser's UTC midnight of a day, moved to that day's midnight in `zone` (as UTC)."""
    try:
        day = utc_midnight.astimezone(UTC)
        return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    except (OverflowError, ValueError):  # year 1 or 9999 in a zone that would move it out of range
        return utc_midnight


def _dates(since: datetime | None, until: datetime | None, dialect: str) -> Component:
    ranges = []
    if since is not None:
        ranges.append(lambda d: d >= bindparam(None, since, type_=Item.published_at.type))
    if until is not None:
        ranges.append(lambda d: d < bindparam(None, until, type_=Item.published_at.type))
    ids = select(Item.id).where(*(r(ITEM_DATE) for r in ranges))
    return Component(ids, and_(*(r(plain(ITEM_DATE, dialect)) for r in ranges)))


def _component(node: Node, bounds: tuple[ScoreBound, ...], dialect: str, cross: CrossTopics) -> Component | None:
    if isinstance(node, Story):
        story: ColumnElement[int] = bindparam(None, node.story_id)
        return Component(select(Item.id).where(Item.story_id == story), _row(node, dialect, bounds, cross))
    if not isinstance(node, Field):
        return None
    row = _row(node, dialect, bounds, cross)
    value: ColumnElement[str] = bindparam(None, node.value)
    if node.name == "topic":
        return Component(tagged_ids(node.value, bounds, cross), row)
    if node.name == "lang":
        return Component(select(Item.id).where(Item.language == value), row)
    if node.name == "entity":
        return Component(select(EntityMention.item_id).where(EntityMention.entity_id == value), row)
    if node.name == "source":
        sources: Any = value
    else:
        sources = select(Source.id).where(Source.tier == value).scalar_subquery()
    own = select(Item.id).where(Item.source_id.in_(sources) if node.name == "tier" else Item.source_id == sources)
    carried = select(Sighting.item_id).where(
        Sighting.source_id.in_(sources) if node.name == "tier" else Sighting.source_id == sources
    )
    # UNION ALL: a count over it is an upper bound, and IN (...) does not mind duplicates.
    return Component(union_all(own, carried), row)  # type: ignore[arg-type]


def _row(node: Node, dialect: str, bounds: tuple[ScoreBound, ...], cross: CrossTopics) -> ColumnElement[bool]:
    """`node` as a condition checked on each item row (never NULL, so that NOT keeps what it does not describe)."""
    if _is_text(node):
        if dialect == "postgresql":
            return SEARCH_VECTOR.op("@@")(ts_query(node))
        expression = fts5_expression(node)
        if expression is not None:
            # The matching ids are gathered once (FTS5 checks item by item cost a prefix search each time).
            return plain(Item.id, dialect).in_(fts5_ids(expression))
    if isinstance(node, Not):
        return not_(_row(node.child, dialect, bounds, cross))
    if isinstance(node, Or):
        return or_(*(_row(c, dialect, bounds, cross) for c in node.children))
    if isinstance(node, And):
        words, rest = _words_and_rest(list(node.children))
        parts = [_row(c, dialect, bounds, cross) for c in ([words] if words is not None else []) + rest]
        return and_(*parts)
    if isinstance(node, Story):
        story = plain(Item.story_id, dialect)
        return and_(story.is_not(None), story == bindparam(None, node.story_id))
    if isinstance(node, Since):
        return plain(ITEM_DATE, dialect) >= bindparam(None, node.at, type_=Item.published_at.type)
    if isinstance(node, Until):
        return plain(ITEM_DATE, dialect) < bindparam(None, node.before, type_=Item.published_at.type)
    assert isinstance(node, Field), node
    value: ColumnElement[str] = bindparam(None, node.value)
    if node.name == "topic":
        return _has_tag(node.value, bounds, cross)
    if node.name == "entity":
        named = select(EntityMention.id).where(EntityMention.item_id == Item.id, EntityMention.entity_id == value)
        return exists(named)
    if node.name == "lang":
        # Stored as the primary subtag ("es"), lower-cased, by ingest.
        language = plain(Item.language, dialect)
        return and_(language.is_not(None), language == value)
    source_id = plain(Item.source_id, dialect)
    if node.name == "source":
        carried = select(Sighting.id).where(Sighting.item_id == Item.id, Sighting.source_id == value)
        return or_(source_id == value, exists(carried))
    # tier: of any outlet that carried the item, as for source:.
    of_tier = select(Source.id).where(Source.tier == value)
    carried = (
        select(Sighting.id)
        .join(Source, Source.id == Sighting.source_id)
        .where(Sighting.item_id == Item.id, Source.tier == value)
    )
    return or_(source_id.in_(of_tier), exists(carried))


def tagged_ids(topic: str | None, bounds: Sequence[ScoreBound] = (), cross: CrossTopics | None = None) -> Select[Any]:
    """The ids of the items that passed `topic` (any topic when None) with a score within `bounds`.

    A cross-topic is passed when every topic it requires is, with the lowest of their scores: the score the
    digest ranks its section by. With a `topic`, each id comes once.
    """
    needed = sorted(set((cross or {}).get(topic, ()))) if topic is not None else []
    tagged = select(ItemTopic.item_id).where(ItemTopic.passed == true())
    if needed:
        lowest = func.min(ItemTopic.score)
        return (
            tagged.where(ItemTopic.topic.in_(needed))
            .group_by(ItemTopic.item_id)
            .having(func.count() == len(needed), *(_COMPARE[b.op](lowest, bindparam(None, b.value)) for b in bounds))
        )
    if topic is not None:
        tagged = tagged.where(ItemTopic.topic == bindparam(None, topic))
    for bound in bounds:
        tagged = tagged.where(_COMPARE[bound.op](ItemTopic.score, bindparam(None, bound.value)))
    return tagged


def _has_tag(topic: str | None, bounds: Sequence[ScoreBound], cross: CrossTopics) -> ColumnElement[bool]:
    """The item row passed `topic` (as tagged_ids says it)."""
    # Correlated to `items` only: stats --per topic joins item_topics to the same query, and the subquery must
    # keep its own item_topics rather than test the joined row.
    tagged = tagged_ids(topic, bounds, cross).where(ItemTopic.item_id == Item.id).correlate(Item)
    return exists(tagged)


# --- SQLite: FTS5 expressions ----------------------------------------------------------------------------------


def fts5_string(text: Text) -> str:
    """One FTS5 string, split and folded by FTS5 as the documents were; a trailing `*` makes the last word a prefix."""
    inner = " ".join(text.words).replace('"', '""')
    return f'"{inner}"' + ("*" if text.prefix else "")


def fts5_expression(node: Node) -> str | None:
    """The FTS5 expression for a tree of words, or None when FTS5 cannot say it (a NOT with nothing to keep)."""
    if isinstance(node, Text):
        return fts5_string(node)
    if isinstance(node, Or):
        parts = [None if isinstance(c, Not) else fts5_expression(c) for c in node.children]
        return None if None in parts else "(" + " OR ".join(p for p in parts if p) + ")"
    if isinstance(node, And):
        keep = [fts5_expression(c) for c in node.children if not isinstance(c, Not)]
        drop = [fts5_expression(c.child) for c in node.children if isinstance(c, Not)]
        if not keep or None in keep or None in drop:
            return None
        expression = "(" + " AND ".join(p for p in keep if p) + ")"
        return expression + (" NOT (" + " OR ".join(p for p in drop if p) + ")" if drop else "")
    return None


def fts5_ids(expression: str) -> Select[Any]:
    return select(FTS_ROWID).select_from(ITEMS_FTS).where(FTS_TABLE.op("MATCH")(bindparam(None, expression)))


def fts5_matches(compiled: Compiled) -> ColumnElement[bool]:
    """`items_fts MATCH` the driving words (use with items_fts in the FROM clause)."""
    return FTS_TABLE.op("MATCH")(bindparam("match", compiled.match()))


# --- PostgreSQL: tsquery ---------------------------------------------------------------------------------------


def _ts_word(word: str, suffix: str) -> ColumnElement[Any]:
    # Folded by the index's own function; quote_literal() makes whatever that returns one tsquery operand, and
    # the leading space keeps it from being empty (an empty operand is a tsquery syntax error, a blank one is not).
    operand = func.quote_literal(func.concat(" ", func.search_fold(bindparam(None, word))))
    return func.to_tsquery(SIMPLE, func.concat(operand, suffix))


def _ts_phrase(text: Text, weight: str) -> ColumnElement[Any]:
    last = len(text.words) - 1
    pieces = []
    for i, word in enumerate(text.words):
        star = "*" if text.prefix and i == last else ""
        pieces.append(_ts_word(word, f":{star}{weight}" if star or weight else ""))
    return reduce(func.tsquery_phrase, pieces)


def ts_text(text: Text) -> ColumnElement[Any]:
    """The tsquery of one Text: a word, a prefix, or a phrase kept inside one field (title, summary or text)."""
    if len(text.words) == 1:
        return _ts_phrase(text, "")
    # The fields are concatenated into one tsvector, so a bare phrase could run from the end of the title into
    # the summary. Each field carries its own weight, and the phrase must match within one of them.
    return reduce(func.tsquery_or, [_ts_phrase(text, weight) for weight in FIELD_WEIGHTS])


def ts_query(node: Node) -> ColumnElement[Any]:
    """The tsquery of a tree of words (tsquery has AND, OR and NOT)."""
    if isinstance(node, Text):
        return ts_text(node)
    if isinstance(node, Not):
        return func.tsquery_not(ts_query(node.child))
    assert isinstance(node, And | Or), node
    combine = func.tsquery_and if isinstance(node, And) else func.tsquery_or
    return reduce(combine, [ts_query(c) for c in node.children])


def ts_matches(compiled: Compiled) -> ColumnElement[bool]:
    """`items.search @@` the driving words."""
    return SEARCH_VECTOR.op("@@")(compiled.tsquery())


def ts_rank(compiled: Compiled) -> ColumnElement[float]:
    return func.ts_rank(TS_WEIGHTS, SEARCH_VECTOR, compiled.tsquery())
