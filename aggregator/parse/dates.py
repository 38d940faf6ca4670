"""Dates: reading what feeds write, the window a publication date must fall in, and safe arithmetic on stored ones."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_tz
from typing import Any

import feedparser

# The plausible window for a publication date. Nothing we follow was published before 1990: earlier dates are a
# CMS's empty value (1970-01-01, 0001-01-01). A date more than a day after the fetch is a typo or a broken clock.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=1)
# Inside the window, a publication date more than this (and at most AHEAD) after the fetch is taken as the fetch
# time: usually a local time sent with the wrong offset. One less far ahead is kept as it is.
FUTURE_TOLERANCE = timedelta(hours=6)

# Dates already stored are moved this far inside datetime's range before a time-zone conversion or a day's
# arithmetic, so that a year-1 or year-9999 date in the database cannot raise OverflowError on its way to a page.
SAFE_MIN = datetime.min.replace(tzinfo=UTC) + timedelta(days=2)
SAFE_MAX = datetime.max.replace(tzinfo=UTC) - timedelta(days=2)
_NAIVE_MIN, _NAIVE_MAX = SAFE_MIN.replace(tzinfo=None), SAFE_MAX.replace(tzinfo=None)

# Spanish and Portuguese names a CMS may put in an RFC 822 date ("Seg, 24 Set 2018", "mié, 3 dic 2025").
_NAMES = {
    "lun": "Mon", "mar": "Tue", "mie": "Wed", "jue": "Thu", "vie": "Fri", "sab": "Sat", "dom": "Sun",
    "seg": "Mon", "ter": "Tue", "qua": "Wed", "qui": "Thu", "sex": "Fri",
    "ene": "Jan", "feb": "Feb", "abr": "Apr", "may": "May", "jun": "Jun", "jul": "Jul", "ago": "Aug",
    "sep": "Sep", "set": "Sep", "oct": "Oct", "nov": "Nov", "dic": "Dec",
    "fev": "Feb", "mai": "May", "out": "Oct", "dez": "Dec", "jan": "Jan",
}  # fmt: skip
_ACCENTS = str.maketrans("áéíóúÁÉÍÓÚ", "aeiouAEIOU")
_WORD = re.compile(r"[A-Za-zÁÉÍÓÚáéíóú]+\.?")
# The year as an RFC 822 date writes it ("01 Jan 0001"): email.utils reads "0001" as 2001, as if it were "01".
_RFC_YEAR = re.compile(r"\b\d{1,2}\s+[^\W\d_]+\.?\s+(\d+)\b")
# The calendar day of an ISO 8601 date, also one that fromisoformat refuses ("2026-02-30", "10000-01-01").
_ISO_DAY = re.compile(r"^([+-]?\d{4,})-(\d\d)-(\d\d)(?!\d)")
# What feedparser is told for a date that names no real instant: no reader turns year 0 into a datetime.
_NO_DATE = time.struct_time((0, 1, 1, 0, 0, 0, 0, 1, 0))
_NOTE_TEXT_CHARS = 200


def _translated(value: str) -> str:
    def swap(match: re.Match[str]) -> str:
        word = match.group(0).rstrip(".").translate(_ACCENTS).lower()
        if word == "mar":  # martes or marzo: a day name comes before the comma
            return "Tue" if match.end() < len(value) and value[match.end() :].lstrip().startswith(",") else "Mar"
        return _NAMES.get(word[:3], match.group(0)) if len(word) >= 3 else match.group(0)

    return _WORD.sub(swap, value)


def _iso(text: str) -> datetime | None:
    """An ISO 8601 date in UTC; None when fromisoformat cannot read `text`.

    Raises ValueError for an ISO date of a day no calendar has (year 0 or 10000, month 13, 30 February) and
    OverflowError for an instant before year 1 or after 9999 in UTC.
    """
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        day = _ISO_DAY.match(text)
        if day is not None:
            date(int(day.group(1)), int(day.group(2)), int(day.group(3)))
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _rfc822(text: str) -> datetime | None:
    """An RFC 822 date in UTC; None when `text` is not one. Raises ValueError or OverflowError as _iso does."""
    parsed = parsedate_tz(text)
    if parsed is None:
        return None
    year = parsed[0]
    written = _RFC_YEAR.search(text)
    if written is not None and len(written.group(1)) > 2:
        year = int(written.group(1))
    return datetime(year, *parsed[1:6], tzinfo=UTC) - timedelta(seconds=parsed[9] or 0)


def _strict(text: str) -> datetime | None:
    # English names first (most feeds); the translation only when they do not read.
    return _iso(text) or _rfc822(text) or _rfc822(_translated(text))


def read_strictly(value: str) -> time.struct_time | None:
    """feedparser date handler, tried before its own: ISO 8601 and RFC 822 (Spanish and Portuguese names too).

    A date that names no real instant comes back as year 0, which no reader accepts. Returning None would hand
    it to feedparser's lenient readers, which roll 30 February over into 2 March and read year 10000 as 2010.
    """
    try:
        found = _strict(value.strip())
    except (ValueError, OverflowError):
        return _NO_DATE
    return found.utctimetuple() if found is not None else None


feedparser.registerDateHandler(read_strictly)


def parse_date(value: str | None) -> datetime | None:
    """Any date a feed may carry, as an aware UTC datetime; None when it cannot be read or names no real day."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        found = _strict(text)
        if found is not None:
            return found
        # feedparser knows many more formats.
        struct = feedparser.datetimes._parse_date(text)  # noqa: SLF001 - the only way to reach its date parsers
        if struct is None:
            return None
        return datetime(struct[0], struct[1], struct[2], struct[3], struct[4], struct[5], tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def implausible(value: datetime, now: datetime) -> str | None:
    """Why `value` cannot be the publication date of something fetched at `now`; None when it can be."""
    if value < EARLIEST:
        return f"before {EARLIEST.year}"
    if value > shifted(now, AHEAD):
        return "more than a day after the fetch"
    return None


def checked(what: str, value: datetime | None, text: Any, now: datetime) -> tuple[datetime | None, str | None]:
    """`value` when it is a plausible date for something fetched at `now`, else None and the note saying why.

    `value` is what was read from `text` (None when nothing could be); `what` names the field in the note
    ("published") and `text`, what the source wrote, is quoted in it.
    """
    shown = repr(str(text).strip()[:_NOTE_TEXT_CHARS]) if text is not None and str(text).strip() else None
    if value is None:
        return None, f"{what} date dropped, unreadable or impossible: {shown}" if shown else None
    why = implausible(value, now)
    if why is None:
        return value, None
    return None, f"{what} date dropped, {why}: {shown or repr(value.isoformat())}"


def bounded(value: datetime) -> datetime:
    """`value` moved inside [SAFE_MIN, SAFE_MAX], so it can be shown in any time zone and moved by a day."""
    low, high = (SAFE_MIN, SAFE_MAX) if value.tzinfo is not None else (_NAIVE_MIN, _NAIVE_MAX)
    return min(max(value, low), high)


def shifted(value: datetime, delta: timedelta) -> datetime:
    """`value + delta`, stopping at the ends of datetime's range instead of raising OverflowError."""
    try:
        return value + delta
    except OverflowError:
        end = datetime.max if delta > timedelta(0) else datetime.min
        return end.replace(tzinfo=value.tzinfo)
