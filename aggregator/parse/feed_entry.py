"""What every feed reader (feedparser, the lxml fast path, JSON Feed) hands over, and how it becomes an Entry."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aggregator.parse.dates import FUTURE_TOLERANCE, checked
from aggregator.parse.entry import Entry
from aggregator.parse.sanitize import clean_html, html_to_text

SUMMARY_FROM_CONTENT_CHARS = 4000


@dataclass
class RawEntry:
    """One feed entry as read, before cleaning: HTML still untrusted, links already absolute.

    `published_text` and `updated_text` are the dates as the feed wrote them, quoted when a date is dropped; a
    reader that leaves them None keeps them in `provenance` under "published" and "updated", as feeds.py does.
    """

    title: str = ""
    link: str | None = None
    guid: str = ""
    summary: str = ""
    content: str = ""
    authors: tuple[str, ...] = ()
    published: datetime | None = None
    updated: datetime | None = None
    language: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    published_text: str | None = None
    updated_text: str | None = None


@dataclass(frozen=True)
class FeedResult:
    """Entries found in one feed document, and what the feed said about how often to poll it."""

    entries: list[Entry]
    format: str
    title: str | None = None
    ttl_seconds: float | None = None
    warnings: list[str] = field(default_factory=list)
    duplicate_guids: int = 0


def make_entries(
    raws: list[RawEntry], *, source_id: str, feed_url: str, feed_lang: str | None, now: datetime
) -> tuple[list[Entry], int]:
    """Clean each raw entry; the first of several entries with one guid wins. Returns (entries, dropped)."""
    entries: list[Entry] = []
    seen: set[str] = set()
    dupes = 0
    for raw in raws:
        entry = make_entry(raw, source_id=source_id, feed_url=feed_url, feed_lang=feed_lang, now=now)
        if entry is None:
            continue
        assert entry.guid is not None
        if entry.guid in seen:
            dupes += 1
            continue
        seen.add(entry.guid)
        entries.append(entry)
    return entries, dupes


def make_entry(raw: RawEntry, *, source_id: str, feed_url: str, feed_lang: str | None, now: datetime) -> Entry | None:
    """Sanitise, convert to text, settle the guid and dates. None for an entry with nothing in it."""
    title = html_to_text(raw.title) if raw.title else ""
    if not title and not raw.summary and not raw.content:
        return None
    base = raw.link or feed_url
    summary_html = clean_html(raw.summary or raw.content[:SUMMARY_FROM_CONTENT_CHARS], base)
    text = html_to_text(raw.content) if len(raw.content) > len(raw.summary) else ""
    provenance = {"feed_url": feed_url, **raw.provenance}
    published, updated, notes = _dates(raw, now)
    if notes:
        provenance["notes"] = notes
    published = published or updated
    if published is not None and published > now + FUTURE_TOLERANCE:
        provenance["future_date_clamped"] = published.isoformat()
        published = now
    if not raw.link:
        provenance["no_link"] = True
    guid = raw.guid.strip() or raw.link or fallback_guid(title, raw.summary)
    return Entry(
        source_id=source_id,
        url=raw.link or "",
        title=title or _title_from(summary_html),
        guid=guid,
        summary_html=summary_html,
        text=text,
        authors=tuple(dict.fromkeys(a for a in (html_to_text(n) for n in raw.authors) if a)),
        published_at=published,
        updated_at=updated,
        language=lang_code(raw.language) or lang_code(feed_lang),  # a source's "auto" is no language: ingest detects it
        raw=provenance,
    )


def _dates(raw: RawEntry, now: datetime) -> tuple[datetime | None, datetime | None, list[str]]:
    """The entry's publication and update dates, each dropped when unreadable or implausible, and why."""
    published_text = raw.provenance.get("published") if raw.published_text is None else raw.published_text
    updated_text = raw.provenance.get("updated") if raw.updated_text is None else raw.updated_text
    published, published_note = checked("published", raw.published, published_text, now)
    updated, updated_note = checked("updated", raw.updated, updated_text, now)
    return published, updated, [n for n in (published_note, updated_note) if n]


def lang_code(value: Any) -> str | None:
    """'es-MX' -> 'es'; None for anything that is not a language tag."""
    if not value or not isinstance(value, str):
        return None
    code = value.strip().split("-")[0].split("_")[0].lower()
    return code if re.fullmatch(r"[a-z]{2,3}", code) else None


def fallback_guid(title: str, summary: str) -> str:
    return "sha1:" + hashlib.sha1(f"{title}\n{summary}".encode()).hexdigest()


def _title_from(summary_html: str) -> str:
    text = html_to_text(summary_html)
    return (text[:117] + "...") if len(text) > 120 else text
