"""Why an item is in its story: the specifics and the words it shares with the story's other items."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from aggregator.stories.grouping import LEAD_CHARS, Doc, doc_specifics, stems
from aggregator.stories.specifics import KINDS, compare, show_place

MAX_VALUES = 6  # values shown per kind
MAX_WORDS = 8
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class WhyGrouped:
    """What one item shares with the other items of its story, most widely shared first."""

    others: int
    shared: list[tuple[str, list[str]]] = field(default_factory=list)  # (kind, values) in KINDS order
    words: list[str] = field(default_factory=list)


def _shown(kind: str, value: str) -> str:
    if kind in ("places", "groups"):
        return show_place(value)
    if kind == "names":
        return value.title()
    return value


def why_grouped(item: Doc, others: Sequence[Doc]) -> WhyGrouped:
    """The specifics (places, dates, numbers, names, groups) and the words `item` shares with `others`.

    Words are shown as the item writes them ("extradited"), found through the stems the clusterer compares.
    """
    if not others:
        return WhyGrouped(0)
    mine = doc_specifics(item)
    counts: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    for other in others:
        for kind, values in compare(mine, doc_specifics(other)).shared.items():
            counts[kind].update(values)
    text = f"{item.title} {item.body[:LEAD_CHARS]}"
    surface: dict[str, str] = {}
    for word in _WORD.findall(text):
        for stem in stems(word):
            surface.setdefault(stem, word.lower())
    mine_stems = set(surface)
    word_counts: Counter[str] = Counter()
    for other in others:
        word_counts.update(mine_stems & set(stems(f"{other.title} {other.body[:LEAD_CHARS]}")))
    shared = [
        (kind, [_shown(kind, v) for v, _ in counts[kind].most_common(MAX_VALUES)]) for kind in KINDS if counts[kind]
    ]
    # Numbers are shown with their units above; among words, the most widely shared first, then in the order the
    # item uses them (the headline's words first).
    order = {stem: n for n, stem in enumerate(surface)}
    ranked = sorted((kv for kv in word_counts.items() if not kv[0].isdigit()), key=lambda kv: (-kv[1], order[kv[0]]))
    words = [surface[s] for s, _ in ranked[:MAX_WORDS]]
    return WhyGrouped(len(others), shared, words)
