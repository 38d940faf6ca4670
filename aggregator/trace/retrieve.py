"""Candidate items for a claim from the full-text index (FTS5 on SQLite, tsvector on PostgreSQL), never a scan.

On SQLite, BM25 costs microseconds per matching row (a word in half of 1,000,000 items would cost most of a
second), so the claim's words are split by how many items hold them, each counted up to RARE (a LIMIT, from
the index): the rarer words, while their items add up to no more than BUDGET, are ranked by BM25 (they say
what the claim is about); the common ones find the newest items holding three of them together, intersected in
Python from each word's newest RARE + 1 ids (read for its count anyway; FTS5 itself would walk the words' whole
lists when they seldom meet). PostgreSQL's planner has statistics: it gets one ranked query.
Either way the candidates are few, and trace.score rescores them in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, literal_column, select
from sqlalchemy.orm import Session

from aggregator.models import Item
from aggregator.search.query import Node, Or
from aggregator.search.sql import (
    BM25,
    FTS_ROWID,
    FTS_TABLE,
    ITEMS_FTS,
    SEARCH_VECTOR,
    TS_WEIGHTS,
    Compiled,
    fts5_expression,
    ts_query,
)
from aggregator.trace.terms import Term

RARE = 1000  # a word in more items than this is common: it narrows, it does not rank
BUDGET = 2000  # rows BM25 may score per claim
COMMON_AND = 3  # common words intersected for the newest-items lookup
PER_QUERY = 20  # candidates the ranked lookup brings; the others bring half as many


class Retriever:
    """Looks claims up in one session, within an optional narrowing query; word counts are kept between claims."""

    def __init__(self, session: Session, scope: Compiled | None) -> None:
        self.session = session
        self.scope = scope
        self.dialect = session.get_bind().dialect.name
        self._ids: dict[str, list[int]] = {}

    def candidates(self, terms: Sequence[Term], scope: Compiled | None = None) -> list[int]:
        """Item ids worth rescoring for a claim's terms, best guesses first, each once."""
        scope = scope if scope is not None else self.scope
        if not terms:
            return []
        if self.dialect != "sqlite":
            return self._postgres(terms, scope)
        exact = {t.key: t for t in terms if not t.text.prefix}
        usable = [t for t in terms if t.word is None or (t.word in exact and self._count(exact[t.word]) <= RARE)]
        counted = sorted(((self._count(t), i, t) for i, t in enumerate(usable)), key=lambda c: (c[0], c[1]))
        present = [(n, t) for n, _, t in counted if n > 0]
        rare, common, used = [], [], 0
        for n, term in present:
            if n <= RARE and used + n <= BUDGET:
                rare.append(term)
                used += n
            elif n > RARE and not term.text.prefix:  # a common stem would be merged in full at every lookup
                common.append(term)
        found: list[int] = []
        if rare:
            found += self._ranked(_either(rare), scope)
        # The other language's words ranked on their own too: the claim's own words would outrank them otherwise.
        other = [t for t in rare if t.other]
        if other and len(other) < len(rare):
            found += self._ranked(_either(other), scope, PER_QUERY // 2)
        own = [t for t in common if not t.other or t.name]
        for words in (own, [t for t in common if t.other]):
            if len(words) >= 2:
                found += self._newest(words[:COMMON_AND], scope)
        if not found and common:
            found += self._newest(common[:1], scope)
        return list(dict.fromkeys(found))

    def _count(self, term: Term) -> int:
        """Items holding the term, up to RARE + 1 (from the index; cached for the other claims)."""
        return len(self._newest_ids(term))

    def _newest_ids(self, term: Term) -> list[int]:
        """The newest RARE + 1 items holding the term, newest first: its count, and its part in an intersection."""
        if term.key not in self._ids:
            query = select(FTS_ROWID).select_from(ITEMS_FTS).where(_match(fts5_expression(term.text)))
            self._ids[term.key] = list(self.session.scalars(query.order_by(FTS_ROWID.desc()).limit(RARE + 1)))
        return self._ids[term.key]

    def _newest(self, words: Sequence[Term], scope: Compiled | None) -> list[int]:
        """The newest items holding all of `words` (common words) among each one's newest ids, intersected here:
        FTS5 would walk the words' whole lists to find that two of them seldom meet."""
        held = [set(self._newest_ids(t)) for t in words]
        ids = sorted(set.intersection(*held), reverse=True)
        return self._in_scope(ids, scope)[: PER_QUERY // 2]

    def _in_scope(self, ids: list[int], scope: Compiled | None) -> list[int]:
        if scope is None or not ids:
            return ids
        if scope.text is not None:
            query = self._fts(None, scope, FTS_ROWID).where(FTS_ROWID.in_(ids))
        else:
            query = select(Item.id).where(Item.id.in_(ids), *scope.where)
        kept = set(self.session.scalars(query))
        return [i for i in ids if i in kept]

    def _fts(self, words: Node | None, scope: Compiled | None, *columns: Any) -> Select[Any]:
        expression = fts5_expression(words) if words is not None else None
        if scope is not None and scope.text is not None:
            expression = f"({scope.match()}) AND {expression}" if expression else scope.match()
        assert expression is not None
        query = select(*columns).select_from(ITEMS_FTS)
        if scope is not None and scope.where:
            query = query.join(Item, Item.id == FTS_ROWID).where(*scope.where)
        return query.where(_match(expression))

    def _ranked(self, words: Node, scope: Compiled | None, limit: int = PER_QUERY) -> list[int]:
        rank: ColumnElement[float] = literal_column(BM25)
        query = self._fts(words, scope, FTS_ROWID, rank).order_by(rank).limit(limit)
        return [row[0] for row in self.session.execute(query)]

    def _postgres(self, terms: Sequence[Term], scope: Compiled | None) -> list[int]:
        found: list[int] = []
        other = [t for t in terms if t.other]
        for words in (terms, other if len(other) < len(terms) else []):
            if not words:
                continue
            tsquery = ts_query(_either(words))
            where: list[ColumnElement[bool]] = [SEARCH_VECTOR.op("@@")(tsquery)]
            if scope is not None:
                where += ([SEARCH_VECTOR.op("@@")(scope.tsquery())] if scope.text is not None else []) + scope.where
            rank = func.ts_rank(TS_WEIGHTS, SEARCH_VECTOR, tsquery)
            query = select(Item.id).where(*where).order_by(rank.desc(), Item.id.desc()).limit(PER_QUERY)
            found += self.session.scalars(query)
        return list(dict.fromkeys(found))


def _either(terms: Sequence[Term]) -> Node:
    return terms[0].text if len(terms) == 1 else Or(tuple(t.text for t in terms))


def _match(expression: str | None) -> ColumnElement[bool]:
    """`items_fts MATCH` an FTS5 expression, bound as a parameter (its words are quoted FTS5 strings)."""
    return FTS_TABLE.op("MATCH")(bindparam(None, expression))
