"""Turn a fetched feed body (RSS 0.9x/1.0/2.0, Atom, RDF, JSON Feed) into entries: pure, no network.

Well-formed UTF-8 feeds take a fast lxml path (feed_fast); everything else goes to feedparser, whose
tolerance of broken feeds is the reason it is here. feedparser's own sanitiser and relative-URI resolution
are switched off (they cost most of its time): nh3 sanitises every entry afterwards on both paths.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from aggregator.errors import ParseError
from aggregator.parse.dates import parse_date
from aggregator.parse.entry_cap import EntryCap, cap_entries, cap_entry_list
from aggregator.parse.feed_entry import FUTURE_TOLERANCE, FeedResult, RawEntry, lang_code, make_entries
from aggregator.parse.feed_fast import parse_fast, sy_period
from aggregator.parse.jsonfeed import looks_like_json, parse_json_feed
from aggregator.parse.sanitize import html_to_text

__all__ = ["FUTURE_TOLERANCE", "EntryCap", "FeedResult", "parse_feed"]

_FEED_LINK = re.compile(rb"<link[^>]+type=[\"']application/(?:rss|atom|feed)\+(?:xml|json)[\"'][^>]*>", re.IGNORECASE)
_HREF = re.compile(rb"href=[\"']([^\"']+)[\"']", re.IGNORECASE)


def parse_feed(
    body: bytes,
    *,
    source_id: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    language: str | None = None,
    now: datetime | None = None,
    fast: bool = True,
    cap: EntryCap | None = None,
) -> FeedResult:
    """Parse `body` fetched from `url`. Raises ParseError when nothing usable is in it.

    With `cap`, at most `cap.limit` entries are kept (see `cap_entries`; its warning joins the result's), and
    they are picked before they are cleaned, so a huge feed costs the cleaning of the kept ones only.
    """
    now = now or datetime.now(UTC)
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    content_type = headers.get("content-type", "")
    if not body.strip():
        raise ParseError("parse: empty response body")
    if looks_like_json(body, content_type):
        result = parse_json_feed(body, source_id=source_id, url=url, language=language, now=now)
        entries = cap_entry_list(result.entries, cap)
        return dataclasses.replace(result, entries=entries, warnings=_with_cap(result.warnings, cap))
    quick = parse_fast(body, url, content_type) if fast else None
    if quick is not None:
        entries, dupes = make_entries(
            cap_entries(quick.entries, cap, key=_raw_key, date=_raw_date),
            source_id=source_id,
            feed_url=url,
            feed_lang=lang_code(quick.language) or language,
            now=now,
        )
        title = html_to_text(quick.title) if quick.title else None
        return FeedResult(entries, quick.version, title, quick.ttl, _with_cap([], cap), dupes)
    return _parse_with_feedparser(body, source_id, url, content_type, language, now, cap)


def _raw_key(raw: RawEntry) -> str:
    # The guid make_entry settles on (an entry with neither guid nor link gets one from its text: never looked up).
    return raw.guid.strip() or raw.link or ""


def _raw_date(raw: RawEntry) -> datetime | None:
    return raw.published or raw.updated


def _with_cap(warnings: list[str], cap: EntryCap | None) -> list[str]:
    note = cap.warning() if cap is not None else None
    return [*warnings, note] if note else warnings


def _parse_with_feedparser(
    body: bytes,
    source_id: str,
    url: str,
    content_type: str,
    language: str | None,
    now: datetime,
    cap: EntryCap | None = None,
) -> FeedResult:
    # Headers are passed only when the server sent them: a missing Content-Type is not the feed's fault.
    response_headers = {"content-type": content_type} if content_type else None
    parsed = feedparser.parse(body, response_headers=response_headers, sanitize_html=False, resolve_relative_uris=False)
    warnings: list[str] = []
    if parsed.get("bozo"):
        warnings.append(f"feed has problems, parsed leniently: {_exception_text(parsed)}")
    title = html_to_text(parsed.feed.get("title", "")) or None
    ttl = _ttl(parsed.feed)
    if not parsed.entries:
        if not parsed.get("version"):
            raise ParseError("parse: " + _why_not_a_feed(body, content_type, parsed))
        return FeedResult([], parsed.version, title, ttl, warnings)
    raws = cap_entries([_raw(entry, url) for entry in parsed.entries], cap, key=_raw_key, date=_raw_date)
    entries, dupes = make_entries(
        raws, source_id=source_id, feed_url=url, feed_lang=lang_code(parsed.feed.get("language")) or language, now=now
    )
    return FeedResult(entries, parsed.version or "unknown", title, ttl, _with_cap(warnings, cap), dupes)


def _raw(entry: Any, feed_url: str) -> RawEntry:
    contents = [c.get("value", "") for c in entry.get("content", []) if c.get("value")]
    # dict.get: feedparser's own .get falls back from "updated" to "published" (deprecated behaviour).
    updated = _struct_date(dict.get(entry, "updated_parsed"))
    published = _struct_date(dict.get(entry, "published_parsed"))
    if published is None and dict.get(entry, "published"):
        published = parse_date(dict.get(entry, "published"))
    provenance = {
        k: str(dict.get(entry, k))[:1000] for k in ("id", "link", "published", "updated") if dict.get(entry, k)
    }
    content = max(contents, key=len) if contents else ""
    summary = entry.get("summary", "") or ""
    if summary == content:
        summary = ""  # feedparser copies content into summary when there is none: it is the full text
    return RawEntry(
        title=entry.get("title", "") or "",
        link=_first_link(entry, feed_url),
        guid=str(entry.get("id") or ""),
        summary=summary,
        content=content,
        authors=_authors(entry),
        published=published,
        updated=updated,
        language=entry.get("language") or _detail_lang(entry),
        provenance=provenance,
    )


def _first_link(raw: Any, feed_url: str) -> str | None:
    candidates = [raw.get("link")]
    candidates += [lk.get("href") for lk in raw.get("links", []) if lk.get("rel") in (None, "alternate")]
    guid = raw.get("id") or ""
    if isinstance(guid, str) and guid.startswith(("http://", "https://")):
        candidates.append(guid)
    for cand in candidates:
        if isinstance(cand, str) and cand.strip():
            absolute = urljoin(feed_url, cand.strip())
            if absolute.startswith(("http://", "https://")):
                return absolute
    return None


def _struct_date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _authors(raw: Any) -> tuple[str, ...]:
    names = [a.get("name", "").strip() for a in raw.get("authors", []) if isinstance(a, Mapping)]
    names = [n for n in names if n]
    if not names and raw.get("author"):
        names = [str(raw.get("author")).strip()]
    return tuple(names)


def _detail_lang(raw: Any) -> str | None:
    for key in ("title_detail", "summary_detail"):
        detail = raw.get(key)
        if detail and detail.get("language"):
            return str(detail.get("language"))
    return None


def _ttl(feed: Any) -> float | None:
    ttl = feed.get("ttl")
    if ttl and str(ttl).strip().isdigit():
        return int(str(ttl).strip()) * 60.0
    return sy_period(feed.get("sy_updateperiod"), feed.get("sy_updatefrequency"))


def _exception_text(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}"[:300] if exc else "unknown problem"


def _why_not_a_feed(body: bytes, content_type: str, parsed: Any) -> str:
    head = body[:2048].lstrip().lower()
    if b"<html" in head or b"<!doctype html" in head or "html" in content_type:
        hrefs = []
        for tag in _FEED_LINK.finditer(body[:200_000]):
            found = _HREF.search(tag.group(0))
            if found:
                hrefs.append(found.group(1).decode("utf-8", "replace"))
        hint = f"; the page advertises feed(s): {', '.join(hrefs[:3])}" if hrefs else ""
        return f"not a feed: the server sent an HTML page ({content_type or 'no content-type'}){hint}"
    return f"not a feed: no RSS, Atom or JSON Feed found ({_exception_text(parsed)})"
