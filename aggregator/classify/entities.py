"""Find the entities of entities.toml in an item's title, summary and text: whole words, any case, any accents.

The text is split into words once (letters and digits, as topic rules split it) and each word is looked up in a
table of the aliases' first words, so the cost is one dictionary lookup per word however many entities there are.
At each word the longest alias that fits wins (leftmost-longest, no overlaps): "Cártel de Jalisco Nueva
Generación" is one CJNG mention, not also a "cártel de Jalisco" one. An ambiguous alias counts only with one of its
entity's context words within `context_window` words in the same field; a `not` phrase covering the match vetoes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate

from aggregator.config.entities import Entity, EntitySet, Name
from aggregator.text import fold_for_rules

FIELDS = ("title", "summary", "text")
_SPLIT = re.compile(r"([^\W_]+)")  # split keeps the words: every odd part is one
# What may stand between the words of a multi-word alias: spaces, hyphens, apostrophes, a slash; not a comma or a
# sentence's end, so "…in Sinaloa. Cartel members…" is no "Sinaloa Cartel". A dot only where the alias has one
# ("Cd. Juárez").
_GAP = re.compile(r"[\s\-\u2010\u2011\u2013'\u2019/]{1,3}")
_GAP_DOT = re.compile(r"[\s\-\u2010\u2011\u2013'\u2019./]{1,3}")
_FOLDS_KEPT = 200_000  # folded words remembered across items (the beat's vocabulary is far smaller)


@dataclass(frozen=True, slots=True)
class Mention:
    """One occurrence: which entity, in which field, the words as written there, and where they start."""

    entity_id: str
    field: str
    surface: str
    start: int


@dataclass(slots=True)
class _Pattern:
    words: tuple[str, ...]  # lower-case, accents off
    exact: tuple[str, ...] | None  # accents off, case kept: only for "=" aliases
    gap: re.Pattern[str] = _GAP
    owners: list[tuple[int, bool]] = field(default_factory=list)  # (entity index, ambiguous)


@dataclass(frozen=True, slots=True)
class _Rules:
    context_words: frozenset[str]
    context_phrases: tuple[tuple[str, ...], ...]
    window: int
    vetoes: tuple[tuple[str, ...], ...]


class Matcher:
    """Every entity of an EntitySet compiled for matching; build once per file (`matcher_for`), use for every item."""

    def __init__(self, entities: EntitySet) -> None:
        self.fingerprint = entities.fingerprint
        self.ids = tuple(e.id for e in entities.entities)
        self._rules = tuple(_rules(e) for e in entities.entities)
        patterns: dict[tuple[tuple[str, ...], tuple[str, ...] | None], _Pattern] = {}
        for index, entity in enumerate(entities.entities):
            for names, ambiguous in ((entity.aliases, False), (entity.ambiguous, True)):
                for name in names:
                    words = tuple(w.lower() for w in name.words)
                    exact = name.words if name.case_sensitive else None
                    gap = _GAP_DOT if "." in name.text else _GAP
                    pattern = patterns.setdefault((words, exact), _Pattern(words, exact, gap))
                    if (index, ambiguous) not in pattern.owners:
                        pattern.owners.append((index, ambiguous))
        self._first: dict[str, list[_Pattern]] = {}
        for pattern in patterns.values():
            self._first.setdefault(pattern.words[0], []).append(pattern)
        for candidates in self._first.values():
            candidates.sort(key=lambda p: (-len(p.words), p.exact is None))  # longest first, exact case first
        self._folds: dict[str, str] = {}  # word as written -> lower case, accents off

    def match(self, fields: Mapping[str, str]) -> list[Mention]:
        """Every mention in the given fields (title, summary, text), in field then text order."""
        found: list[Mention] = []
        for name, text in fields.items():
            if text:
                found += self._match_field(name, text)
        return found

    def _fold(self, word: str) -> str:
        if len(self._folds) > _FOLDS_KEPT:
            self._folds.clear()
        folded = self._folds[word] = (word if word.isascii() else fold_for_rules(word)).lower()
        return folded

    def _match_field(self, name: str, text: str) -> list[Mention]:
        # One C-level split gives the words and what stands between them: parts = [gap, word, gap, word, ..., gap].
        parts = _SPLIT.split(text)
        words = parts[1::2]
        folds = self._folds
        lower = [folds.get(w) or self._fold(w) for w in words]
        first = self._first
        hits = [i for i, w in enumerate(lower) if w in first]
        out: list[Mention] = []
        if not hits:
            return out
        offsets: list[int] | None = None
        after = 0  # matches do not overlap: a hit inside the previous match is skipped
        for i in hits:
            if i < after:
                continue
            for pattern in first[lower[i]]:
                size = len(pattern.words)
                if not self._fits(pattern, i, size, lower, words, parts):
                    continue
                owners = [e for e, ambiguous in pattern.owners if self._accepts(e, ambiguous, i, i + size, lower)]
                if owners:
                    if offsets is None:
                        offsets = [0, *accumulate(map(len, parts))]
                    surface = "".join(parts[2 * i + 1 : 2 * (i + size)])
                    out += [Mention(self.ids[e], name, surface, offsets[2 * i + 1]) for e in owners]
                    after = i + size
                    break
        return out

    @staticmethod
    def _fits(pattern: _Pattern, i: int, size: int, lower: list[str], words: list[str], parts: list[str]) -> bool:
        if i + size > len(lower) or tuple(lower[i : i + size]) != pattern.words:
            return False
        if pattern.exact is not None and tuple(fold_for_rules(w) for w in words[i : i + size]) != pattern.exact:
            return False
        # parts[2k + 2] is what stands between word k and word k + 1.
        return all(pattern.gap.fullmatch(parts[2 * k + 2]) for k in range(i, i + size - 1))

    def _accepts(self, entity: int, ambiguous: bool, start: int, end: int, lower: list[str]) -> bool:
        rules = self._rules[entity]
        for veto in rules.vetoes:
            size = len(veto)
            for s in range(max(0, start - size + 1), end):
                if tuple(lower[s : s + size]) == veto:
                    return False
        if not ambiguous:
            return True
        near = lower[max(0, start - rules.window) : start] + lower[end : end + rules.window]
        if rules.context_words.intersection(near):
            return True
        return any(_contains(near, phrase) for phrase in rules.context_phrases)


def _contains(words: list[str], phrase: tuple[str, ...]) -> bool:
    size = len(phrase)
    return any(tuple(words[s : s + size]) == phrase for s in range(len(words) - size + 1))


def _lowered(names: Iterable[Name]) -> list[tuple[str, ...]]:
    return [tuple(w.lower() for w in n.words) for n in names]


def _rules(entity: Entity) -> _Rules:
    context = _lowered(entity.context)
    return _Rules(
        frozenset(c[0] for c in context if len(c) == 1),
        tuple(c for c in context if len(c) > 1),
        entity.context_window,
        tuple(_lowered(entity.exclude)),
    )


_compiled: dict[str, Matcher] = {}


def matcher_for(entities: EntitySet) -> Matcher:
    """The compiled matcher of this set, built once per fingerprint (a crawl asks for it on every batch)."""
    matcher = _compiled.get(entities.fingerprint)
    if matcher is None:
        _compiled.clear()  # one file is in use at a time: keep no stale ones
        matcher = _compiled[entities.fingerprint] = Matcher(entities)
    return matcher
