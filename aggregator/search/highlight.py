"""Mark the words a query matched in a text, and cut a snippet around the first of them.

Marked text is plain text in which each match is wrapped in MARK_START ("\\x02") and MARK_END ("\\x03"),
control characters that feed text cannot carry (they are removed from it first). A renderer escapes the text
for its format (HTML, Markdown, a terminal) and only then turns the two markers into its own highlighting, e.g.
`escape(snippet).replace("\\x02", "<mark>").replace("\\x03", "</mark>")`, so no markup from a feed gets through.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from aggregator.search.query import Text
from aggregator.text import fold_for_index

MARK_START = "\x02"
MARK_END = "\x03"
SNIPPET_CHARS = 240


def _clean(text: str) -> str:
    # NFC so that decomposed accents stay inside their words; no markers of our own can be faked.
    return unicodedata.normalize("NFC", text).replace(MARK_START, "").replace(MARK_END, "")


def match_spans(text: str, terms: Sequence[Text]) -> list[tuple[int, int]]:
    """(start, end) of every occurrence of the terms in `text` (a phrase is one span), sorted and merged."""
    if not text or not terms:
        return []
    folded = _fold_in_place(text)
    found = [m.span() for term in terms for m in _pattern(term).finditer(folded)]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


_FOLDS: dict[int, str] = {c: chr(c).lower() for c in range(ord("A"), ord("Z") + 1)}


def _fold_in_place(text: str) -> str:
    """`text` folded character by character, keeping its length so that positions carry over."""
    if not text.isascii():
        for ch in set(text):
            if ord(ch) > 127 and ord(ch) not in _FOLDS:
                folded = fold_for_index(ch)
                _FOLDS[ord(ch)] = folded if len(folded) == 1 else ch
    return text.translate(_FOLDS)


def _pattern(term: Text) -> re.Pattern[str]:
    # Words of a phrase may be separated by any run of non-word characters, as between FTS5 tokens.
    words = [re.escape(w) for w in term.folded]
    last = r"[^\W_]*" if term.prefix else r"(?![^\W_])"
    return re.compile(r"(?<![^\W_])" + r"[\W_]+".join(words) + last)


def highlight(text: str, terms: Sequence[Text]) -> str:
    """The whole text with every match marked."""
    text = _clean(text)
    return _mark(text, match_spans(text, terms), 0, len(text))


def _mark(text: str, spans: list[tuple[int, int]], start: int, end: int) -> str:
    out, at = [], start
    for a, b in spans:
        if a < start or b > end:
            continue
        out += [text[at:a], MARK_START, text[a:b], MARK_END]
        at = b
    out.append(text[at:end])
    return "".join(out)


def snippet(fields: Sequence[str], terms: Sequence[Text], width: int = SNIPPET_CHARS) -> str:
    """About `width` characters of the first field with a match, around the first match, matches marked.

    Without a match (the title matched, or the query had only filters) it is the start of the first non-empty
    field. Cuts fall between words and are shown with "…".
    """
    texts = [" ".join(_clean(f).split()) for f in fields]
    for text in texts:
        spans = match_spans(text, terms)
        if spans:
            return _window(text, spans, width)
    for text in texts:
        if text:
            return _window(text, [], width)
    return ""


def _window(text: str, spans: list[tuple[int, int]], width: int) -> str:
    if len(text) <= width:
        return _mark(text, spans, 0, len(text))
    first = spans[0][0] if spans else 0
    start = max(0, min(first - width // 4, len(text) - width))
    if start > 0:
        # Start at a word: after the space at or before `start`.
        space = text.rfind(" ", 0, start + 1)
        start = space + 1 if space >= 0 and first - space < width else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > max(first, start) else end
    # A match cut in two by the window is left unmarked rather than half-marked.
    body = _mark(text, spans, start, end)
    return ("…" if start > 0 else "") + body + ("…" if end < len(text) else "")
