"""What every feed reader (feedparser, the lxml fast path, JSON Feed) hands over, and how it becomes an Entry."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aggregator.parse.entry import Entry
from aggregator.parse.sanitize import clean_html, html_to_text

# A date more than this far ahead of the fetch is a publisher's clock or typo, not a real schedule.
FUTURE_TOLERANCE = timedelta(hours=6)
SUMMARY_FROM_CONTENT_CHARS = 4000


@dataclass
class RawEntry:
    """One feed entry as read, before cleaning: HTML still untrusted, links already absolute."""

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
    published = raw.published or raw.updated
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
        updated_at=raw.updated,
        language=lang_code(raw.language) or feed_lang,
        raw=provenance,
    )


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
