"""Group items into stories: copies, rewrites and translations of one event, inside a time window."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aggregator.stories.specifics import Agreement, Specifics, compare, extract, tokens
from aggregator.stories.words import spanish_to_english, stopword_stems
from aggregator.text import fold_for_story_words

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

# Cosine similarities are over prefix-6 word stems of the title (twice) and the lead, so English and Spanish
# cognates ("extradited" / "extraditado", "terrorist" / "terrorista") and names and numbers meet across languages.
STEM = 6
LEAD_CHARS = 1500
# Measured on the demo site's six multi-outlet events (our development set); see the README's story section.
COPY_SIM = 0.6  # a near-copy joins whatever story its twin is in
LINK_SIM = 0.22  # mean similarity to the story's closest members needed to join it
CROSS_LANGUAGE_SIM = 0.16  # translations share fewer stems, so the bar is lower between languages
FLOOR = 0.1  # similarities below this are not kept at all
CLOSEST = 3  # how many of a story's members the mean is taken over
# Specifics (places, dates, counts, names, groups; aggregator.stories.specifics) move a pair's similarity: each
# kind the two share adds its BONUS (a translation or a follow-up shares fewer words but the same specifics), each
# kind in conflict takes its PENALTY, and a pair with more kinds in conflict than shared is kept apart whatever its
# words (another seizure at another crossing). Sharing a day or a group gives no bonus: same-kind events of one
# cartel on one day share them. Names conflict mildly: two reports of one event often quote different officials.
BONUS = {"places": 0.0, "dates": 0.0, "numbers": 0.05, "names": 0.05, "groups": 0.0}
PENALTY = {"places": 0.15, "dates": 0.1, "numbers": 0.15, "names": 0.05, "groups": 0.1}
MAX_BONUS = sum(BONUS.values())
# Stems in more docs than this say nothing about which event a text reports (a day's places and common names);
# a constant cap keeps the similarity product linear in the number of docs.
DF_CAP = 150

# Words of any script: letters and digits ("_" and everything else separate them), cut to STEM characters; the
# ASCII pattern finds the same words in ASCII text, faster (most items).
_WORD = re.compile(rf"\b([^\W_]{{1,{STEM}}})[^\W_]*")
_ASCII_WORD = re.compile(rf"\b([a-z0-9]{{1,{STEM}}})[a-z0-9]*")


def stems(text: str) -> list[str]:
    """The content-word stems of a text, stopwords removed."""
    stop, glossary = stopword_stems(STEM), spanish_to_english(STEM)
    out = []
    folded = fold_for_story_words(text)
    for word in (_ASCII_WORD if folded.isascii() else _WORD).findall(folded):
        if word in stop or (len(word) < 3 and not word.isdigit()):
            continue
        word = glossary.get(word, word)
        # Short words escape the cut to STEM letters, so fold their plural here ("pills", "guns", "kilos").
        if 3 < len(word) < STEM + 1 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


@dataclass
class Doc:
    """An item as the clusterer sees it."""

    item_id: int
    title: str
    body: str
    language: str
    source_id: str
    time: datetime
    story_id: int | None = None  # an existing story, for items grouped in an earlier run


def doc_specifics(doc: Doc) -> Specifics:
    """The specifics of a doc's headline and lead, dates read against the doc's time."""
    return extract(doc.title, doc.body[:LEAD_CHARS], doc.language, doc.time)


class Evidence:
    """Specifics of a run's docs, each extracted once (for the language-neutral words) and reused by every pair."""

    def __init__(self, docs: Sequence[Doc]) -> None:
        self.docs = docs
        self._specifics: list[Specifics | None] = [None] * len(docs)

    def specifics(self, i: int) -> Specifics:
        found = self._specifics[i]
        if found is None:
            found = self._specifics[i] = doc_specifics(self.docs[i])
        return found

    def agreement(self, i: int, j: int) -> Agreement:
        return compare(self.specifics(i), self.specifics(j))

    def adjusted(self, i: int, j: int, sim: float) -> float:
        """A pair's word similarity moved by its specifics; 0 for a pair whose specifics say two events."""
        found = self.agreement(i, j)
        if len(found.conflicts) > len(found.shared):
            return 0.0
        return sim + sum(BONUS[kind] for kind in found.shared) - sum(PENALTY[kind] for kind in found.conflicts)


def doc_tokens(doc: Doc) -> list[str]:
    title = stems(doc.title)
    return title + title + stems(doc.body[:LEAD_CHARS])


def similarity(docs: Sequence[Doc], evidence: Evidence | None = None) -> csr_matrix:
    """Sparse cosine similarities between all docs, only entries >= FLOOR kept.

    Stems found in very many docs (DF_CAP) are dropped before the product. With `evidence`, each doc's
    language-neutral specifics (places, groups, counts) count as words too, so translations meet.
    """
    # Here, not at the top: numpy, scipy and scikit-learn cost start-up time that importers of this module
    # (the web app, the CLI) need not pay until stories are grouped.
    import numpy as np
    from scipy.sparse import csr_matrix as sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    n = len(docs)
    # Small batches keep every stem but those in most docs; large ones cap document frequency, which is what
    # keeps the product linear. A story told by many outlets stays below the cap: it is a few dozen docs.
    max_df: float | int = 1.0 if n < 20 else (0.5 if n <= 3 * DF_CAP else DF_CAP)
    try:
        if evidence is None:
            x = TfidfVectorizer(analyzer=doc_tokens, sublinear_tf=True, max_df=max_df).fit_transform(docs)
        else:
            found = evidence

            def analyzer(i: int) -> list[str]:
                return doc_tokens(docs[i]) + tokens(found.specifics(i))

            x = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, max_df=max_df).fit_transform(range(n))
    except ValueError:  # no stem left at all (empty or stopword-only titles): nothing is similar
        return sparse((n, n), dtype=np.float32)
    sims = (x @ x.T).tocsr()
    sims.data[sims.data < FLOOR] = 0.0
    sims.eliminate_zeros()
    sims.data = sims.data.astype(np.float32)
    return sims


@dataclass
class Grouping:
    """The outcome of one clustering run: a story key per doc index (existing story id or a new key)."""

    keys: list[Any]
    new_keys: set[Any] = field(default_factory=set)


def group(docs: Sequence[Doc], window: timedelta) -> Grouping:
    """Give every doc a story: existing docs keep theirs, new docs join the best matching story or start one.

    New docs are taken in time order. A doc joins a story when it is a near-copy of one member, or when its mean
    similarity to the story's closest members (up to CLOSEST) passes the bar; members more than `window` apart in
    time never count. Taking the mean over several members, not the single best one, stops a chain of loosely
    related items from pulling unrelated events into one story.
    """
    evidence = Evidence(docs)
    sims = similarity(docs, evidence) if docs else None
    keys: list[Any] = [d.story_id for d in docs]
    sizes: dict[Any, int] = {}
    for d in docs:
        if d.story_id is not None:
            sizes[d.story_id] = sizes.get(d.story_id, 0) + 1
    new_keys: set[Any] = set()
    order = sorted((i for i, d in enumerate(docs) if d.story_id is None), key=lambda i: (docs[i].time, i))
    for i in order:
        best_key, best_score = None, 0.0
        if sims is not None:
            best_key, best_score = _best_story(i, docs, sims, keys, sizes, window, evidence)
        if best_key is None:
            best_key = ("new", i)
            new_keys.add(best_key)
        keys[i] = best_key
        sizes[best_key] = sizes.get(best_key, 0) + 1
    return Grouping(keys=keys, new_keys=new_keys)


def _best_story(
    i: int,
    docs: Sequence[Doc],
    sims: csr_matrix,
    keys: list[Any],
    sizes: dict[Any, int],
    window: timedelta,
    evidence: Evidence,
) -> tuple[Any, float]:
    start, end = sims.indptr[i], sims.indptr[i + 1]
    by_story: dict[Any, list[tuple[float, int]]] = {}
    cross: dict[Any, bool] = {}
    doc = docs[i]
    for j, sim in zip(sims.indices[start:end], sims.data[start:end], strict=True):
        if j == i or keys[j] is None:
            continue
        other = docs[j]
        if abs(other.time - doc.time) > window:
            continue
        by_story.setdefault(keys[j], []).append((float(sim), int(j)))
        if other.language != doc.language:
            cross[keys[j]] = cross.get(keys[j], True)
        else:
            cross[keys[j]] = False
    best_key, best_score = None, 0.0
    for key, pairs in by_story.items():
        pairs.sort(reverse=True)
        bar = CROSS_LANGUAGE_SIM if cross.get(key) else LINK_SIM
        closest = min(sizes[key], CLOSEST)
        # Specifics can raise a score by MAX_BONUS at most: stories out of reach even so are not looked at.
        if pairs[0][0] + MAX_BONUS < COPY_SIM and sum(s for s, _ in pairs[:CLOSEST]) / closest + MAX_BONUS < bar:
            continue
        values = sorted((evidence.adjusted(i, j, sim) for sim, j in pairs[: CLOSEST + 1]), reverse=True)
        if values[0] >= COPY_SIM:
            score = values[0]
        else:
            score = sum(values[:CLOSEST]) / closest
            if score < bar:
                continue
        if score > best_score:
            best_key, best_score = key, score
    return best_key, best_score
