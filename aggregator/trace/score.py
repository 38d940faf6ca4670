"""How well a stored item supports a claim, and the item's sentence that says it best (quoted verbatim).

Claim and item are compared as story-grouping stems (aggregator.stories.grouping.stems), which map the beat's
Spanish words to their English counterparts and let cognates, names and numbers meet as they are: "alianzas
entre cárteles" and "alliances between cartels" share their stems. A sentence scores by the share of the claim's
weighted stems it holds (rarer stems weigh more); the item by its best sentence, plus a little for the claim's
stems anywhere in it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aggregator.digest.summarize import primary_language, split_sentences
from aggregator.stories.grouping import stems

MIN_SCORE = 0.2  # below this an item shares too little of the claim to be said to bear on it
# Stems a quoted sentence must share with the claim: two of a short claim's, three of a longer one's.
MIN_SHARED, MIN_SHARED_LONG, LONG_CLAIM = 2, 3, 6
SENTENCE_SHARE, ITEM_SHARE = 0.8, 0.2
MAX_SENTENCES = 60  # of an item's text: news puts what it reports first
MAX_SENTENCE_WORDS = 80
TITLE_QUOTE = 0.85


@dataclass(frozen=True)
class Support:
    """An item's score for a claim (0..1) and its best sentence."""

    score: float
    quote: str


class ItemText:
    """A candidate item as the scorer needs it: its stems at once, its sentences (split and stemmed once per
    trace, whatever the number of claims) only when some claim shares enough of the item to need a quote."""

    def __init__(
        self, item_id: int, url: str, source_id: str, title: str, language: str | None,
        published_at: datetime | None, summary: str, body: str,
    ) -> None:  # fmt: skip
        self.item_id, self.url, self.source_id, self.title = item_id, url, source_id, title
        self.language, self.published_at = language, published_at
        text = body.strip() or summary.strip()  # the item's text, else its summary
        if title and text.startswith(title.strip()):  # extracted text often opens with the headline
            text = text[len(title.strip()) :]
        self._text = text
        self.stems = frozenset(stems(f"{title}\n{text}"))
        self._sentences: list[tuple[str, frozenset[str]]] | None = None

    @property
    def sentences(self) -> list[tuple[str, frozenset[str]]]:
        """The item's sentences with their stems, the title last (a quote of last resort)."""
        if self._sentences is None:
            lang = primary_language(self.language) or "en"
            split = split_sentences(self._text, lang)[:MAX_SENTENCES]
            chosen = [s for s in split if len(s.split()) <= MAX_SENTENCE_WORDS]
            self._sentences = [(s, frozenset(stems(s))) for s in chosen]
            if self.title.strip():
                self._sentences.append((self.title.strip(), frozenset(stems(self.title))))
        return self._sentences


def weights(claim: Sequence[str], items: Sequence[ItemText]) -> dict[str, float]:
    """Each claim stem's weight: rarer among the candidate items, heavier (every stem counts at least 1)."""
    df: Counter[str] = Counter()
    for item in items:
        df.update(s for s in set(claim) if s in item.stems)
    n = len(items)
    return {s: 1.0 + math.log((1 + n) / (1 + df[s])) for s in set(claim)}


def support(weight: dict[str, float], item: ItemText) -> Support | None:
    """The item's support for the claim whose stems are weighted by `weight`, or None below MIN_SCORE."""
    total = sum(weight.values())
    needed = MIN_SHARED_LONG if len(weight) >= LONG_CLAIM else MIN_SHARED
    anywhere = [s for s in weight if s in item.stems]
    coverage = sum(weight[s] for s in anywhere) / total if total else 0.0
    # No sentence can hold more of the claim than the whole item: below the bar here, it is below it there.
    if len(anywhere) < needed or coverage < MIN_SCORE:
        return None
    best, quote = 0.0, ""
    sentences = item.sentences
    for position, (sentence, own) in enumerate(sentences):
        shared = [s for s in anywhere if s in own]
        if len(shared) < needed:
            continue
        value = sum(weight[s] for s in shared) / total
        if position == len(sentences) - 1 and item.title.strip():
            value *= TITLE_QUOTE  # the headline says it too, but a sentence of the text is the better quote
        if value > best:
            best, quote = value, sentence
    if not quote:
        return None
    score = SENTENCE_SHARE * best + ITEM_SHARE * coverage
    return Support(round(score, 4), quote) if score >= MIN_SCORE else None
