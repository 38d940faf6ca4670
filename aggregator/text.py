"""Text normalisation: an accent stripper, a fold for each use (rules, index, stories), visible controls, BOMs."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

# The combining-mark blocks that Latin, Greek and Cyrillic letters decompose into (accents, tildes, cedillas,
# breves...). Marks of other scripts (Arabic vowel points, Indic vowel signs, Hebrew points) are not in them.
_ACCENTS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
# The combining marks SQLite's unicode61 tokenizer (remove_diacritics 2) strips from a Latin letter: folding
# exactly these (and nothing else) keeps highlighting, and PostgreSQL's index (the search_fold() SQL function of
# migration 0005, which keeps its own copy of this list), in step with FTS5.
LATIN_DIACRITICS = "\u0300-\u0304\u0306-\u030c\u030f\u0311\u031b\u0323-\u0328\u032d\u032e\u0330\u0331"

_ANY_ACCENT = re.compile(f"[{_ACCENTS}]+")
_LATIN_ACCENT = re.compile(f"(?<=[A-Za-z])[{LATIN_DIACRITICS}]+")
_RULE_WORD = re.compile(r"[^\W_]+")
# Invisible characters that may sit inside a word (soft hyphen, zero-width space and joiners, word joiner, BOM).
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]+")
# "2,500" and "2.500" are one number; keep digits together before splitting into words.
_THOUSANDS = re.compile(r"(?<=\d)[.,](?=\d{3}\b)")


def _strip_accents(text: str, form: Literal["NFD", "NFKD"], marks: re.Pattern[str]) -> str:
    """`text` decomposed to `form` with the combining marks `marks` matches removed; ASCII text is returned as is.

    The result stays decomposed: letters whose marks are not matched keep them as separate characters.
    """
    if text.isascii():
        return text
    return marks.sub("", unicodedata.normalize(form, text))


def fold_for_rules(text: str) -> str:
    """The form topic rules and classifier features match: accents off, case and everything else kept.

    Keeps: case, punctuation, spacing, digits, letters of every script (without their Latin/Greek/Cyrillic accents:
    "Cártel" -> "Cartel", "Ñ" -> "N", "й" -> "и"). NFKD also splits compatibility characters ("ﬁ" -> "fi",
    "²" -> "2", a no-break space -> a space). Drops: the Latin, Greek and Cyrillic accents, nothing else.
    """
    return _strip_accents(text, "NFKD", _ANY_ACCENT)


def words_for_rules(text: str) -> list[str]:
    """The words of `text` as rules see them: `fold_for_rules`, split at anything not a letter or digit ("_" too).

    "MS-13 y narco-bloqueos_" -> ["MS", "13", "y", "narco", "bloqueos"]; case is kept.
    """
    return _RULE_WORD.findall(fold_for_rules(text))


def fold_for_index(word: str) -> str:
    """A word as the full-text index stores it: what SQLite FTS5's `unicode61 remove_diacritics 2` does.

    Keeps: letters of every script, digits and punctuation (splitting words is the caller's job), composed (NFC).
    Lower-cases character by character (a final "Σ" becomes "σ", not "ς", as in the index). Drops only the accents
    in LATIN_DIACRITICS, and only on an unaccented Latin letter: "CÁRTEL" -> "cartel", "Ñandú" -> "nandu", but
    "Łódź" -> "łodz" ("ł" is a letter of its own) and Greek, Cyrillic accents stay ("Ά" -> "ά").
    """
    if word.isascii():
        return word.lower()
    bare = unicodedata.normalize("NFC", _strip_accents(word, "NFD", _LATIN_ACCENT))
    return "".join(ch.lower() for ch in bare)


def fold_for_story_words(text: str) -> str:
    """The text story grouping splits into stems: lower-case, accents off, numbers without thousands separators.

    Keeps: letters of every script (Cyrillic, Greek, Arabic... so such items can still be grouped), digits,
    punctuation (so "a—b" and "Sinaloa’s" split where "a-b" and "Sinaloa's" do) and spacing. Drops: case, the
    Latin, Greek and Cyrillic accents ("Extradición" -> "extradicion"), invisible characters inside words (a soft
    hyphen), and the "," or "." between a digit and three more digits ("2,500" and "2.500" -> "2500"). NFKD also
    splits compatibility characters as in `fold_for_rules`.
    """
    if not text.isascii():
        text = _INVISIBLE.sub("", _strip_accents(text, "NFKD", _ANY_ACCENT))
    return _THOUSANDS.sub("", text.lower())


# What a terminal, a browser or a spreadsheet would obey rather than show: C0 and C1 control characters (tab and
# line breaks aside, which the caller decides about) and the bidirectional embeddings, overrides and isolates that
# can make "exe.txt" read as "txt.exe" (U+202E) or reorder a line of a table.
CONTROL_CHARS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[{CONTROL_CHARS}]")
_CONTROL_OR_BREAK = re.compile(f"[{CONTROL_CHARS}\t\n\r]")


def show_controls(text: str, *, breaks: bool = False) -> str:
    """`text` with each control or bidi-formatting character written as a visible escape (\\x1b, \\u202e).

    Tab, newline and carriage return are kept unless `breaks` is true (one-line output such as a table cell).
    """
    pattern = _CONTROL_OR_BREAK if breaks else _CONTROL
    if text.isprintable() and not breaks:
        return text  # the common case: nothing to escape (isprintable is false for every character escaped here)
    return pattern.sub(_escape, text)


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def show_controls_in_template(value: object) -> object:
    """Jinja2 `finalize` hook: every string a template prints gets `show_controls` (safe markup stays marked safe:
    the escapes it writes hold no markup)."""
    if isinstance(value, str):
        shown = show_controls(value)
        return value if shown == value else type(value)(shown)
    return value


# Byte-order marks, longest first where one is the prefix of another (OPML decoding uses these too).
BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),  # before UTF-16 LE, whose BOM is its prefix
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
