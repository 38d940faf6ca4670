"""The search form: its fields become query-language filters, so the page and the query box search alike."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Literal

from aggregator.classify.topics import TopicSet
from aggregator.search.query import QueryError, parse

PER_PAGE = 20
MAX_PAGE = 500  # 10,000 hits deep: beyond that a researcher narrows the query or uses `aggregator export`
FILTERS = ("topic", "lang", "source", "tier", "since", "until")
# Ids, codes and dates only: a field value can never smuggle query syntax (spaces, quotes, parentheses) in.
_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

Sort = Literal["relevance", "date"]


def topic_choices(topics: TopicSet) -> list[tuple[str, str]]:
    """The topic field's options as (id, label): every topic, then every cross-topic (such as the nexus)."""
    return [(t.id, t.label) for t in topics.topics] + [(c.id, c.label) for c in topics.cross_topics]


@dataclass(frozen=True)
class SearchForm:
    """What the search page and /api/search were asked: the query box, the filter fields and the sort."""

    q: str = ""
    topic: str = ""
    lang: str = ""
    source: str = ""
    tier: str = ""
    since: str = ""
    until: str = ""
    sort: Sort = "relevance"

    def filters(self) -> list[tuple[str, str]]:
        return [(name, value.strip()) for name in FILTERS if (value := getattr(self, name).strip())]

    @property
    def empty(self) -> bool:
        return not self.q.strip() and not self.filters()

    def query_text(self) -> str:
        """The query the form asks for; a QueryError points into the query box's own text when that is wrong."""
        q = self.q.strip()
        if q:
            parse(q)  # errors are reported against what the researcher typed, not the combined text
        filters = self.filters()
        for name, value in filters:
            if not _VALUE.fullmatch(value):
                shown = f"{name}:{value}"
                raise QueryError(f"the {name} field holds '{value}', not an id or a date", shown, len(name) + 2)
        parts = [f"({q})" if q and filters else q] + [f"{name}:{value}" for name, value in filters]
        text = " ".join(p for p in parts if p)
        parse(text)  # a bad date or tier in a field: the message names the field's filter
        return text

    def params(self, **changes: str) -> dict[str, str]:
        """The form as URL parameters (non-empty ones), e.g. for the links to other pages of results."""
        values = {f.name: str(getattr(self, f.name)) for f in fields(self)} | changes
        return {k: v for k, v in values.items() if v and not (k == "sort" and v == "relevance")}
