"""Stored field sizes: the longest title, authors, summary and text kept, and how a longer value is cut."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aggregator.parse.entry import Entry
from aggregator.parse.sanitize import clean_html

# A cut looks this far back from the limit for a better place (a paragraph or sentence end, a space, a tag end)
# before it cuts at the limit itself.
_LOOK_BACK = 0.2
_SENTENCE_END = re.compile(r"[.!?…。？！](?=[\s\"'”»)\]]|$)")
# Where an HTML summary may end: after a block or a line break, else after any tag.
_HTML_BLOCK_END = re.compile(r"</(?:p|div|li|ul|ol|h[1-6]|blockquote|pre|table|figure)>|<br\s*/?>", re.IGNORECASE)
_MARKS = {"Mn", "Mc", "Me"}  # combining marks: they belong to the character before them
# Room left for the end tags nh3 adds to close what the cut left open.
_CLOSING_ROOM = 256


@dataclass(frozen=True)
class FieldLimits:
    """The longest value each stored text field keeps, in characters; a longer one is cut and the item says so."""

    title: int = 1_000
    authors: int = 1_000
    summary: int = 200_000  # sanitised HTML
    text: int = 500_000


FIELD_LIMITS = FieldLimits()


def cut_title(title: str, limit: int) -> str:
    """`title` in at most `limit` characters: cut at a space near the limit when there is one, with an ellipsis."""
    if len(title) <= limit:
        return title
    head = _at_character(title, limit - 1)
    space = head.rfind(" ", int(len(head) * (1 - _LOOK_BACK)))
    return (head[:space] if space > 0 else head).rstrip() + "…"


def cut_text(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, ending at a paragraph end near the limit, else a sentence end, else a
    space, else wherever the limit falls (never inside a character and its combining marks)."""
    if len(text) <= limit:
        return text
    head = _at_character(text, limit)
    floor = int(len(head) * (1 - _LOOK_BACK))
    paragraph = head.rfind("\n", floor)
    if paragraph > 0:
        return head[:paragraph].rstrip()
    sentences = [m.end() for m in _SENTENCE_END.finditer(head, floor)]
    if sentences:
        return head[: sentences[-1]]
    space = head.rfind(" ", floor)
    return (head[:space] if space > 0 else head).rstrip()


def cut_html(markup: str, limit: int) -> str:
    """Sanitised HTML in at most `limit` characters: cut after a block near the limit, else between two words of the
    text (never inside a tag or an entity), then sanitised again so every element the cut left open is closed."""
    if len(markup) <= limit:
        return markup
    room = limit - min(_CLOSING_ROOM, limit // 10)
    while True:
        head = _at_character(markup, room)
        floor = int(len(head) * (1 - _LOOK_BACK))
        blocks = [m.end() for m in _HTML_BLOCK_END.finditer(head, floor)]
        if blocks:
            head = head[: blocks[-1]]
        else:
            if head.rfind("<") > head.rfind(">"):
                head = head[: head.rfind("<")]  # inside a tag
            amp = head.rfind("&")
            if amp > head.rfind(";") and len(head) - amp < 12:
                head = head[:amp]  # inside an entity
            space = head.rfind(" ", floor)
            if space > head.rfind(">"):
                head = head[:space]  # between two words of the text
        cut = clean_html(head)
        if len(cut) <= limit:
            return cut
        room -= len(cut) - limit  # a deeply nested cut: leave more room for its end tags


def cut_entry(entry: Entry, limits: FieldLimits = FIELD_LIMITS) -> tuple[Entry, list[str]]:
    """`entry` with each field longer than `limits` cut, and a note per cut field for the item's raw notes."""
    changes: dict[str, Any] = {}
    notes = []
    authors = "; ".join(entry.authors)
    for name, value, limit, cut in (
        ("title", entry.title, limits.title, cut_title),
        ("authors", authors, limits.authors, cut_title),
        ("summary_html", entry.summary_html, limits.summary, cut_html),
        ("text", entry.text, limits.text, cut_text),
    ):
        if len(value) > limit:
            changes[name] = cut(value, limit)
            notes.append(cut_note(name.removesuffix("_html"), len(value), len(changes[name])))
    if "authors" in changes:
        changes["authors"] = (changes["authors"],)
    return (dataclasses.replace(entry, **changes), notes) if changes else (entry, notes)


def cut_note(field_name: str, was: int, kept: int) -> str:
    """The note an item keeps for a field cut to size."""
    return f"{field_name} cut to {kept:,} of {was:,} characters"


def with_notes(raw: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    """A copy of an item's raw provenance with `notes` added to its notes."""
    out = dict(raw)
    if notes:
        earlier = out.get("notes")
        out["notes"] = [*(earlier if isinstance(earlier, list) else []), *notes]
    return out


def cut_warning(entries: Sequence[Entry], limits: FieldLimits = FIELD_LIMITS) -> str | None:
    """What the fetch log says when some of `entries` have fields that storing will cut, or None."""
    over = sum(
        1
        for e in entries
        if len(e.title) > limits.title
        or len(e.summary_html) > limits.summary
        or len(e.text) > limits.text
        or sum(len(a) + 2 for a in e.authors) - 2 > limits.authors
    )
    if not over:
        return None
    return f"{over} {'entry' if over == 1 else 'entries'} with fields cut to size (the items' notes say which)"


def _at_character(text: str, end: int) -> str:
    """`text[:end]`, moved back so it does not part a character from the combining marks after it."""
    end = max(0, end)
    while 0 < end < len(text) and unicodedata.category(text[end]) in _MARKS:
        end -= 1
    return text[:end]
