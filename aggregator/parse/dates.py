"""Dates as feeds write them: RFC 822, ISO 8601, and RFC 822 with Spanish or Portuguese day and month names."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from email.utils import parsedate_tz

import feedparser

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


def _translated(value: str) -> str:
    def swap(match: re.Match[str]) -> str:
        word = match.group(0).rstrip(".").translate(_ACCENTS).lower()
        if word == "mar":  # martes or marzo: a day name comes before the comma
            return "Tue" if match.end() < len(value) and value[match.end() :].lstrip().startswith(",") else "Mar"
        return _NAMES.get(word[:3], match.group(0)) if len(word) >= 3 else match.group(0)

    return _WORD.sub(swap, value)


def rfc822_localised(value: str) -> time.struct_time | None:
    """feedparser date handler for RFC 822 dates written with Spanish or Portuguese names."""
    parsed = parsedate_tz(_translated(value))
    if parsed is None or parsed[0] < 1900:
        return None
    stamp = datetime(*parsed[:6], tzinfo=UTC).timestamp() - (parsed[9] or 0)
    return time.gmtime(stamp)


feedparser.registerDateHandler(rfc822_localised)


def parse_date(value: str | None) -> datetime | None:
    """Any date a feed may carry, as an aware UTC datetime (None when it cannot be read)."""
    if not value:
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except ValueError:
        pass
    tup = parsedate_tz(text)
    if tup is not None and tup[0] >= 1900:
        return datetime.fromtimestamp(datetime(*tup[:6], tzinfo=UTC).timestamp() - (tup[9] or 0), UTC)
    # feedparser knows many more formats (and our localised handler above).
    struct = feedparser.datetimes._parse_date(text)  # noqa: SLF001 - the only way to reach its date parsers
    if struct is None:
        return None
    return datetime(struct[0], struct[1], struct[2], struct[3], struct[4], struct[5], tzinfo=UTC)
