"""Trace a text: for each claim, the stored items (English and Spanish) that bear on it, and its named outlets."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, tzinfo
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aggregator.config.sources import SourceConfig
from aggregator.digest.summarize import primary_language
from aggregator.models import Item
from aggregator.search.hits import SNIPPET_SCAN, prepare
from aggregator.search.query import parse
from aggregator.search.sql import Compiled
from aggregator.store.captures import first_page_captures
from aggregator.store.sources import source_names
from aggregator.stories.grouping import stems
from aggregator.trace.claims import listed_sources, split_claims
from aggregator.trace.outlets import Directory, Named, outlet_key
from aggregator.trace.retrieve import Retriever
from aggregator.trace.score import ItemText, support, weights
from aggregator.trace.terms import claim_terms

if TYPE_CHECKING:
    from aggregator.classify.topics import TopicSet

LANGUAGES = ("en", "es")  # every claim gets the best of each, whatever its own language
OWN_LIMIT = 3  # a named outlet's own matching items shown per claim
MAX_TEXT_CHARS = 200_000  # a text longer than this is traced up to here (and says so)
_WORDS = re.compile(r"[^\W\d_]+")
_ENGLISH_WORDS = frozenset("the and of to is that with for are was have has by from".split())
_SPANISH_WORDS = frozenset("el la los las y que del por con para es una se al".split())


@dataclass(frozen=True)
class Match:
    """A stored item that bears on a claim. `published_at` is UTC; `quote` is the item's best sentence, verbatim.

    `captured_at` and `capture_url` say where the page is kept as captured (the WARC half of issue 15); None
    until a capture is recorded.
    """

    item_id: int
    url: str
    source_id: str
    source_name: str
    title: str
    published_at: datetime | None
    language: str | None
    score: float
    quote: str
    captured_at: datetime | None = None
    capture_url: str | None = None


@dataclass(frozen=True)
class Cited:
    """An outlet a claim names. `own` is what its own items say to the claim: None when the outlet is not
    configured (there is nothing of it to look at), [] when none of its items matches."""

    name: str
    source_ids: tuple[str, ...]
    own: list[Match] | None

    @property
    def source_id(self) -> str | None:
        return self.source_ids[0] if self.source_ids else None


@dataclass(frozen=True)
class ClaimTrace:
    text: str
    paragraph: int
    cited: list[Cited]
    matches: list[Match]


@dataclass(frozen=True)
class Trace:
    """Every claim traced, the outlets the whole text names (its sources list included), and what was searched."""

    claims: list[ClaimTrace]
    named: list[Named]
    scope: str
    items: int  # stored items in the collection (before narrowing)
    truncated: bool = False


def trace_text(
    session: Session,
    text: str,
    sources: Iterable[SourceConfig],
    *,
    within: str = "",
    since: date | None = None,
    until: date | None = None,
    limit: int = 5,
    topics: TopicSet | None = None,
    zone: tzinfo = UTC,
    language: str | None = None,
) -> Trace:
    """Trace `text` against the collection, narrowed by the query `within` and the local days `since`/`until`.

    Raises QueryError for a malformed `within` (or one naming an unknown source or topic).
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    truncated = len(text) > MAX_TEXT_CHARS
    text = text[:MAX_TEXT_CHARS]
    directory = Directory.of(sources)
    scope_text = _scope_text(within, since, until)
    scope = prepare(session, parse(scope_text), topics, zone) if scope_text else None
    language = language or _language(text)
    retriever = Retriever(session, scope)
    loader = _Loader(session)
    claims: list[ClaimTrace] = []
    outlet_scopes: dict[tuple[str, ...], Compiled] = {}
    for claim in split_claims(text, language):
        named = directory.named_in(claim.text)
        lookup = _without(claim.text, named)
        terms = claim_terms(lookup)
        claim_stems = stems(lookup)
        found = loader.load(retriever.candidates(terms))
        ranked = _ranked(claim_stems, found, loader.names)
        cited = []
        for outlet in named:
            if not outlet.source_ids:
                cited.append(Cited(outlet.name, (), None))
                continue
            stored = tuple(sid for sid in outlet.source_ids if sid in loader.names)
            if not stored:  # configured, but nothing of it has been crawled yet
                cited.append(Cited(outlet.name, outlet.source_ids, []))
                continue
            if outlet.source_ids not in outlet_scopes:
                filters = " OR ".join(f"source:{sid}" for sid in stored)
                text_of_scope = f"{scope_text} ({filters})".strip()
                outlet_scopes[outlet.source_ids] = prepare(session, parse(text_of_scope), topics, zone)
            own = loader.load(retriever.candidates(terms, outlet_scopes[outlet.source_ids]))
            mine = [i for i in own if i.source_id in outlet.source_ids] or own
            cited.append(Cited(outlet.name, outlet.source_ids, _ranked(claim_stems, mine, loader.names)[:OWN_LIMIT]))
        claims.append(ClaimTrace(claim.text, claim.paragraph, cited, _balanced(ranked, limit)))
    claims = _with_captures(session, claims)
    named = _whole_text_outlets(directory, text)
    total = int(session.scalar(select(func.count()).select_from(Item)) or 0)
    return Trace(claims, named, scope_text, total, truncated)


def _scope_text(within: str, since: date | None, until: date | None) -> str:
    parts = [f"({within.strip()})"] if within.strip() else []
    if since is not None:
        parts.append(f"since:{since.isoformat()}")
    if until is not None:
        parts.append(f"until:{until.isoformat()}")
    return " ".join(parts)


def _language(text: str) -> str:
    """English or Spanish, by their commonest function words (only the sentence splitter's rules depend on it)."""
    words = _WORDS.findall(text[:5000].lower())
    spanish = sum(w in _SPANISH_WORDS for w in words)
    english = sum(w in _ENGLISH_WORDS for w in words)
    return "es" if spanish > english else "en"


def _without(text: str, named: Sequence[Named]) -> str:
    """The claim without the outlets' names: "InSight Crime" says who, not what, and would find the outlet's
    every item."""
    for outlet in named:
        text = text.replace(outlet.name, " ")
    return text


def _ranked(claim_stems: list[str], items: Sequence[ItemText], names: dict[str, str]) -> list[Match]:
    weight = weights(claim_stems, items)
    matches = []
    for item in items:
        found = support(weight, item)
        if found is None:
            continue
        matches.append(
            Match(item.item_id, item.url, item.source_id, names.get(item.source_id, item.source_id), item.title,
                  item.published_at, item.language, found.score, found.quote)
        )  # fmt: skip
    oldest = datetime.min.replace(tzinfo=UTC)
    matches.sort(key=lambda m: (-m.score, -(m.published_at or oldest).timestamp() if m.published_at else 0))
    return matches


def _with_captures(session: Session, claims: list[ClaimTrace]) -> list[ClaimTrace]:
    """Each match with the first capture of its page, so the reporter can read what the outlet said then."""
    shown = [m for c in claims for m in c.matches] + [m for c in claims for o in c.cited for m in o.own or []]
    first = first_page_captures(session, {m.item_id for m in shown})
    if not first:
        return claims

    def dated(match: Match) -> Match:
        capture = first.get(match.item_id)
        if capture is None:
            return match
        return replace(match, captured_at=capture.captured_at, capture_url=f"/captures/{capture.id}")

    return [
        replace(
            c,
            matches=[dated(m) for m in c.matches],
            cited=[replace(o, own=None if o.own is None else [dated(m) for m in o.own]) for o in c.cited],
        )
        for c in claims
    ]


def _balanced(ranked: list[Match], limit: int) -> list[Match]:
    """The best `limit` matches, with the best of each language among them when one has any (a Spanish report of
    the claim counts even when English ones score higher)."""
    chosen = ranked[:limit]
    for lang in LANGUAGES:
        if any(primary_language(m.language) == lang for m in chosen):
            continue
        best = next((m for m in ranked if primary_language(m.language) == lang), None)
        if best is None:
            continue
        if len(chosen) < limit:
            chosen.append(best)
        else:
            # Replace the weakest match of a language that has more than one.
            counts = {code: sum(primary_language(m.language) == code for m in chosen) for code in LANGUAGES}
            for k in range(len(chosen) - 1, -1, -1):
                if (
                    counts.get(primary_language(chosen[k].language), 0) > 1
                    or primary_language(chosen[k].language) not in LANGUAGES
                ):
                    chosen[k] = best
                    break
    return sorted(chosen, key=lambda m: -m.score)


def _whole_text_outlets(directory: Directory, text: str) -> list[Named]:
    named = directory.named_in(text)
    keys = {outlet_key(n.name) for n in named}
    for entry in listed_sources(text):
        key = outlet_key(entry)
        if key and key not in keys:
            keys.add(key)
            listed = directory.named_in(entry)
            named.append(listed[0] if listed else Named(entry, directory.by_key.get(key, ())))
    return named


class _Loader:
    """Items by id, read and split into sentences once per trace."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.names = source_names(session)
        self._items: dict[int, ItemText] = {}

    def load(self, ids: Sequence[int]) -> list[ItemText]:
        missing = [i for i in ids if i not in self._items]
        if missing:
            columns = (
                Item.id, Item.url, Item.source_id, Item.title, Item.language, Item.published_at, Item.first_seen_at,
                Item.summary_text, func.substr(Item.text, 1, SNIPPET_SCAN),
            )  # fmt: skip
            for row in self.session.execute(select(*columns).where(Item.id.in_(missing))):
                self._items[row[0]] = ItemText(
                    row[0], row[1], row[2], row[3] or "", row[4], row[5] or row[6], row[7] or "", row[8] or ""
                )
        return [self._items[i] for i in ids if i in self._items]
