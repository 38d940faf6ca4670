"""Each item's language from its own text, with the source's language as the prior (py3langid, model in its wheel)."""

from __future__ import annotations

import re
import threading
from functools import cache
from typing import Any

# Fewer letters than this (a bare headline) and the detector is a coin toss: the source's language stands.
MIN_LETTERS = 40
# The detector's probability for a language other than the source's before the item changes language. On real
# feeds in 11 languages plus 600 en/es news texts, 0.8 changed no item whose prior was right (bar six the detector
# got right: an English post in a Spanish feed, OpenStreetMap diaries in Czech or Arabic) and fixed 92% of
# deliberately wrong priors; the misses are short English headlines with a teaser, which keep the prior.
CONFIDENT = 0.8
# The start of title + text is enough to tell, and the detector's cost grows with every byte: 300 characters cost
# about 0.15 ms and fix as many wrong priors as 600 (0.3 ms) but for 0.5% of them; 200 fix 5% fewer.
SAMPLE_CHARS = 300
# The model's regional varieties that have a two-letter code of their own (Egyptian Arabic, Cantonese...), and
# its label for text in no language (code, numbers).
_VARIETY_OF = {"arz": "ar", "ary": "ar", "yue": "zh", "wuu": "zh", "uzs": "uz", "gug": "gn"}
_NO_LANGUAGE = {"zxx", "und"}
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W\d_]+")
# Words common in one of the beat's two languages and absent from the other (and from their close neighbours:
# Portuguese, French, Italian, Catalan share "de", "la", "que", "con"...). Three of the prior's and at most one of
# the other's confirm the prior without the model: most items of an English or Spanish source cost a set lookup,
# and the model (0.6 s to load, 0.15 ms an item) runs only for the rest.
_OWN_WORDS = {
    "en": frozenset({"the", "and", "of", "with", "was", "were", "has", "have", "this", "that", "from", "which",
                     "said", "their", "they", "been", "after", "would", "who"}),
    "es": frozenset({"los", "las", "y", "del", "según", "también", "está", "fue", "para", "por", "sus", "tras",
                     "hasta", "cuando", "fueron", "pero", "este", "esta"}),
}  # fmt: skip
_TAG = re.compile(r"[a-z]{2,3}")


_LOADING = threading.Lock()


@cache
def _loaded() -> Any:
    # Here, not at the top: the model costs 0.6 s and 50 MB, and most items never need it (see _confirms).
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _identifier() -> Any:
    """The detector, loaded once per process (0.6 s: the model is 68 MB unpacked, read from the installed wheel)."""
    with _LOADING:  # a caller arriving while preload() loads waits for that copy instead of loading a second
        return _loaded()


def preload() -> threading.Thread:
    """Load the detector in a background thread, so a crawl can fetch its first feeds meanwhile."""
    thread = threading.Thread(target=_identifier, name="language-model", daemon=True)
    thread.start()
    return thread


def primary(tag: str | None) -> str | None:
    """'es-MX', 'ES', 'es_mx' -> 'es'; None for "auto", empty or anything that is not a language tag."""
    code = re.split(r"[-_]", tag.strip())[0].lower() if tag else ""
    return code if _TAG.fullmatch(code) else None


def detect(text: str) -> tuple[str | None, float]:
    """The most likely language of `text` (its primary code) and the detector's probability for it."""
    code, probability = _identifier().classify(text[:SAMPLE_CHARS])
    code = _VARIETY_OF.get(code, code)
    return (None if code in _NO_LANGUAGE else code), float(probability)


def item_language(title: str, body: str, prior: str | None) -> str | None:
    """The item's language: `prior` (the entry's or source's; "auto" for none) unless the text confidently says
    another. Short texts keep the prior; with no prior, a confident guess is taken whatever the length."""
    known = primary(prior)
    sample = f"{title}\n{body}"[:SAMPLE_CHARS] if body else title[:SAMPLE_CHARS]
    long_enough = len(_LETTER.findall(sample)) >= MIN_LETTERS
    if known and not long_enough:
        return known
    if not sample.strip():
        return known
    if known in _OWN_WORDS and _confirms(sample, known):
        return known
    guess, probability = detect(sample)
    if guess is not None and probability >= CONFIDENT:
        return guess
    return known


def _confirms(sample: str, prior: str) -> bool:
    """Whether the sample's function words plainly say `prior` (English or Spanish), so the model need not run."""
    words = {w.lower() for w in _WORD.findall(sample)}
    own = len(words & _OWN_WORDS[prior])
    other = max(len(words & w) for code, w in _OWN_WORDS.items() if code != prior)
    return own >= 3 and other <= 1
