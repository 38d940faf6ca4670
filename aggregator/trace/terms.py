"""The words a claim is looked up by, in its own language and the other: glossary counterparts, cognates, names."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aggregator.search.query import Text
from aggregator.stories.grouping import STEM
from aggregator.stories.words import counterparts, stopword_stems
from aggregator.text import fold_for_index, fold_for_story_words

# Words as the index splits them (letters and digits); apostrophes end a word there too ("military's").
_WORD = re.compile(r"[^\W_]+")
MAX_TERMS = 40  # the query language's own bound is 64 terms; a claim's best words fit well within this


@dataclass(frozen=True)
class Term:
    """One lookup: a whole word or, for a long word, the stem its cognates share ("fragme*" finds "fragmentation"
    and "fragmentación"). `other` is true for the words that reach the other language's items (counterparts,
    cognate stems, names and numbers, which cross languages as they are)."""

    text: Text
    other: bool
    # For a stem ("fragme*"): the whole word it came from. FTS5 merges every word a prefix covers before reading
    # one id (a common stem such as "cartel*" costs half a second on 1,000,000 items), so a stem is looked up
    # only when its word is rare.
    word: str | None = None
    name: bool = False  # a name or number: the claim's own word that is also the other language's

    @property
    def key(self) -> str:
        return " ".join(self.text.folded) + ("*" if self.text.prefix else "")


def claim_terms(claim: str) -> list[Term]:
    """The lookups for a claim, without stop words, each once, in the claim's order (at most MAX_TERMS)."""
    stop = stopword_stems(STEM)
    pairs = counterparts()
    found: dict[str, Term] = {}
    names: set[str] = set()

    def add(word: str, *, prefix: bool = False, other: bool, of: str | None = None) -> None:
        term = Term(Text((word,), prefix=prefix), other, of, other and not prefix and of is None and word in names)
        if term.key not in found or (other and not found[term.key].other):
            found[term.key] = term

    for raw in _WORD.findall(claim):
        word = fold_for_index(raw)
        story = fold_for_story_words(raw)
        if story[:STEM] in stop or (len(word) < 3 and not word.isdigit()):
            continue
        for counterpart in pairs.get(story, ()):
            add(fold_for_index(counterpart), other=True)
        name = raw[:1].isupper() or raw.isdigit()  # names and numbers are the same words in both languages
        if name:
            names.add(word)
        add(word, other=name)
        for variant in _plurals(word):
            add(variant, other=name)
        if len(story) > STEM and story.isascii() and story.isalpha():
            # Cognates share their first letters across the languages, and so do a word's plural and singular.
            add(story[:STEM], prefix=True, other=True, of=word)
    return list(found.values())[:MAX_TERMS]


def _plurals(word: str) -> list[str]:
    """The singular or plural beside a word, English and Spanish ("red" / "redes", "groups" / "group")."""
    if word.isdigit() or len(word) < 4:
        return []
    if len(word) > STEM:  # a long word's other forms are found through its stem; only its singular here
        return [word[:-2], word[:-1]] if word.endswith("es") else [word[:-1]] if word.endswith("s") else []
    if word.endswith("es"):
        return [word[:-2], word[:-1]]
    if word.endswith("s"):
        return [word[:-1]]
    if word[-1] in "lnr":
        return [word + "s", word + "es"]
    return [word + "s"] if word[-1] in "aeiou" else []
