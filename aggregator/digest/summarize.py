"""Extractive story summaries: a few sentences taken verbatim from the story's own texts, each with its item."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from aggregator.stories.grouping import stems

MIN_WORDS, MAX_WORDS = 7, 70
LEAD_SENTENCES = 12  # news puts the event first; later sentences are background
# Lines that publishers add around the story rather than sentences of it.
_BOILERPLATE = re.compile(
    r"first (appeared|published)|originally (appeared|published)|read more|read the full|l[eé]a? (m[aá]s|la nota)"
    r"|con informaci[oó]n de|suscr[ií]b|subscribe|sign up|newsletter|bolet[ií]n|follow us|s[ií]guenos|copyright|©"
    r"|all rights reserved|derechos reservados|click here|haz clic|photo:|foto:|getty images|cuartoscuro"
    r"|https?://|www\.|@\w|\[\w*\]",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Source:
    """One item of a story, as the summariser needs it."""

    item_id: int
    url: str
    source_name: str
    language: str
    title: str
    body: str
    weight: float = 1.0  # the outlet's tier: research and government reports are preferred sources


def primary_language(tag: str | None) -> str:
    """ "es-MX" -> "es"; the summary picks one language and compares primary subtags."""
    return (tag or "").split("-")[0].split("_")[0].lower()


@dataclass(frozen=True)
class Sentence:
    text: str  # verbatim from the item's body, whitespace collapsed
    item_id: int
    url: str
    source_name: str


def split_sentences(text: str, language: str) -> list[str]:
    """Sentences of a text, each a verbatim slice of it (whitespace collapsed)."""
    from sentencex import segment  # here: only building a digest needs the sentence splitter

    out = []
    for part in segment(language if language in ("en", "es", "pt", "fr") else "en", text):
        # A dateline's dash or a bullet is not part of the sentence; what remains is still a verbatim slice.
        sentence = " ".join(part.split()).lstrip("—–-•*·|> ")
        if sentence:
            out.append(sentence)
    return out


def _candidate(sentence: str, title: str) -> bool:
    words = sentence.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return False
    if _BOILERPLATE.search(sentence) or sentence.rstrip().endswith(("?", ":")):
        return False
    return sentence != title


def choose_language(sources: Sequence[Source], preferred: Sequence[str]) -> str:
    """The summary's language: the first preferred one the story has, else its most common."""
    present = Counter(primary_language(s.language) for s in sources if s.body)
    for lang in preferred:
        if present.get(lang):
            return lang
    return present.most_common(1)[0][0] if present else ""


def _vector(tokens: list[str], idf: dict[str, float]) -> dict[str, float]:
    counts = Counter(tokens)
    vec = {t: (1 + math.log(c)) * idf.get(t, 1.0) for t, c in counts.items()}
    norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
    return {t: v / norm for t, v in vec.items()}


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(t, 0.0) for t, v in a.items())


def summarize(sources: Sequence[Source], *, preferred: Sequence[str] = ("en", "es"), limit: int = 3) -> list[Sentence]:
    """Up to `limit` sentences that best say what the story is, none repeating another, in reading order.

    A sentence scores by how close it is to the whole story (all items, both languages, as stems), with a bonus
    for opening sentences and for stronger outlets; near-repeats of a chosen sentence (copies carry the same
    text) are skipped.
    """
    language = choose_language(sources, preferred)
    pool: list[tuple[int, int, str, Source]] = []  # (source index, position, sentence, source)
    for index, src in enumerate(sources):
        if primary_language(src.language) != language or not src.body:
            continue
        body = src.body.lstrip()
        if src.title and body.startswith(src.title.strip()):  # extracted text often opens with the headline
            body = body[len(src.title.strip()) :]
        for position, sentence in enumerate(split_sentences(body, language)[:LEAD_SENTENCES]):
            if _candidate(sentence, src.title):
                pool.append((index, position, sentence, src))
    if not pool:
        return []
    token_lists = [stems(p[2]) for p in pool]
    df: Counter[str] = Counter()
    for tokens in token_lists:
        df.update(set(tokens))
    idf = {t: math.log((1 + len(pool)) / (1 + c)) + 1 for t, c in df.items()}
    centroid: dict[str, float] = {}
    for src in sources:
        for t, v in _vector(stems(src.title + " " + src.body[:2000]), idf).items():
            centroid[t] = centroid.get(t, 0.0) + v
    norm = math.sqrt(sum(v * v for v in centroid.values())) or 1.0
    center = {t: v / norm for t, v in centroid.items()}
    vectors = [_vector(tokens, idf) for tokens in token_lists]
    scored = []
    for k, (_index, position, _sentence, src) in enumerate(pool):
        lead = 0.2 if position == 0 else (0.1 if position < 3 else 0.0)
        scored.append((_cosine(vectors[k], center) + lead + 0.1 * src.weight, k))
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    chosen: list[int] = []
    seen_text: set[str] = set()
    for _score, k in scored:
        key = " ".join(stems(pool[k][2]))
        if key in seen_text or any(_cosine(vectors[k], vectors[c]) > 0.5 for c in chosen):
            continue
        chosen.append(k)
        seen_text.add(key)
        if len(chosen) == limit:
            break
    chosen.sort(key=lambda k: (pool[k][0], pool[k][1]))  # reading order: by item, then position
    return [Sentence(pool[k][2], pool[k][3].item_id, pool[k][3].url, pool[k][3].source_name) for k in chosen]
