"""Split a text into claims: its sentences (or clauses) that assert something, without headings, lists and asides."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aggregator.digest.summarize import split_sentences
from aggregator.text import fold_for_rules

MIN_WORDS = 6
MAX_CLAIM_CHARS = 600  # a run-on "sentence" longer than this is cut into its clauses
# A line that opens a list of sources or links: what follows it (its bullets) names outlets, asserts nothing.
_SOURCES_HEADING = re.compile(
    r"^\W*(sources?|references?|further reading|see also|related|links|fuentes?|referencias|ver tambi[eé]n)\W*$",
    re.IGNORECASE,
)
# Lines a blog or news page adds around the text.
_PAGE_FURNITURE = re.compile(
    r"^\W*(no comments|\d+ comments?|sin comentarios|\d+ comentarios?|share (this|on)|compartir|posted by|"
    r"publicado por|labels?:|etiquetas:|newer post|older post|entrada (m[aá]s )?(reciente|antigua)|home|inicio)\b",
    re.IGNORECASE,
)
# Sentences that ask the reader to do something rather than say what happened (calls to action, advice to the
# reader, sign-ups).
_CALL_TO_ACTION = re.compile(
    r"\b(it would be (beneficial|useful|helpful|worth)|for your (investigative )?(report|story|research)|"
    r"you (should|may want|might want|could)|we (recommend|suggest|encourage)|(click|tap) here|subscribe|sign up|"
    r"follow us|read more|share this|contact us|le recomendamos|recomendamos|suscr[ií]b|s[ií]guenos|haz clic|"
    r"lea m[aá]s|para tu (reportaje|investigaci[oó]n)|"
    r"(integrating|combining) (these|this|the) (findings|information))\b",
    re.IGNORECASE,
)
_BYLINE = re.compile(r"^\s*(by|por)\s+[A-Z][\w.'’-]+(\s+[A-Z][\w.'’-]+){0,3}\s*$")
_BULLET = re.compile(r"^\s*([-*•·‣▪◦]|\d+[.)])\s+")
_CLAUSE_BREAK = re.compile(r";\s+")


@dataclass(frozen=True)
class Claim:
    """One claim: its text, verbatim from the input (whitespace collapsed), and its paragraph number (from 1)."""

    text: str
    paragraph: int


def split_claims(text: str, language: str = "en") -> list[Claim]:
    """The claims of `text` in reading order.

    Skipped: headings, titles, bylines and datelines (lines with no sentence punctuation), a "Sources:" heading
    and the list under it, bullets, page furniture ("No comments:"), questions, calls to action ("for your report,
    it would be beneficial to..."), and sentences too short to assert anything (fewer than MIN_WORDS words).
    """
    claims: list[Claim] = []
    for number, paragraph in enumerate(_paragraphs(text), start=1):
        for sentence in split_sentences(paragraph, language):
            for clause in _clauses(sentence):
                if _asserts(clause):
                    claims.append(Claim(clause, number))
    return claims


def _paragraphs(text: str) -> list[str]:
    """Paragraphs of prose: blocks of lines, each line of which is kept only if it is running text."""
    paragraphs: list[str] = []
    in_list = False
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        kept: list[str] = []
        for line in block.split("\n"):
            stripped = line.strip()
            if not stripped:
                continue
            if _SOURCES_HEADING.match(stripped):
                in_list = True  # the rest of this block, and the list blocks after it, are the sources
                continue
            if _PAGE_FURNITURE.match(stripped) or _BYLINE.match(stripped):
                continue
            stripped = _BULLET.sub("", stripped)  # a bullet that is a sentence is a claim; a short one is not
            if not _is_prose(stripped):
                continue  # a heading, a title, a byline or a date
            in_list = False
            kept.append(stripped)
        if kept and not in_list:
            paragraphs.append(" ".join(kept))
    return paragraphs


def _is_prose(line: str) -> bool:
    """Running text ends in sentence punctuation or is long; a heading, a byline or a date is neither."""
    return line.rstrip("\"'”’»)").endswith((".", "!", "?", "…", ":", ";")) or len(line.split()) >= 20


def _clauses(sentence: str) -> list[str]:
    if len(sentence) <= MAX_CLAIM_CHARS:
        return [sentence]
    return [part.strip() for part in _CLAUSE_BREAK.split(sentence) if part.strip()]


def _asserts(sentence: str) -> bool:
    words = sentence.split()
    if len(words) < MIN_WORDS:
        return False
    end = sentence.rstrip("\"'”’»)")
    if end.endswith(("?", ":")) or sentence.lstrip().startswith("¿"):
        return False
    return not _CALL_TO_ACTION.search(fold_for_rules(sentence))


def listed_sources(text: str) -> list[str]:
    """The entries of the text's "Sources:" lists (bullets or lines under the heading), as written."""
    out: list[str] = []
    in_list = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = line.strip()
        if _SOURCES_HEADING.match(stripped):
            in_list = True
            continue
        if not in_list or not stripped:
            continue
        entry = _BULLET.sub("", stripped).strip()
        if _PAGE_FURNITURE.match(entry) or _is_prose(entry) and not _BULLET.match(stripped):
            in_list = False  # the list has ended: running text again
            continue
        out.append(entry.rstrip(".;,"))
    return out
