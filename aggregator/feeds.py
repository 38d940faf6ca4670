"""Turn a fetched feed body (RSS 0.9x/1.0/2.0, Atom, RDF via feedparser; JSON Feed) into entries.

Pure functions over bytes and headers: no network. feedparser's own HTML sanitiser and relative-URI
resolution are switched off because they cost most of its time; nh3 does the sanitising afterwards.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser

from aggregator.entry import Entry
from aggregator.errors import ParseError
from aggregator.sanitize import clean_html, html_to_text

# A date more than this far ahead of the fetch is a publisher's clock or typo, not a real schedule.
FUTURE_TOLERANCE = timedelta(hours=6)
_SY_PERIOD = {"hourly": 3600, "daily": 86400, "weekly": 604800, "monthly": 2592000, "yearly": 31536000}
_FEED_LINK = re.compile(rb"<link[^>]+type=[\"']application/(?:rss|atom|feed)\+(?:xml|json)[\"'][^>]*>", re.IGNORECASE)
_HREF = re.compile(rb"href=[\"']([^\"']+)[\"']", re.IGNORECASE)


@dataclass(frozen=True)
class FeedResult:
    """Entries found in one feed document, and what the feed said about how often to poll it."""

    entries: list[Entry]
    format: str
    title: str | None = None
    ttl_seconds: float | None = None
    warnings: list[str] = field(default_factory=list)
    duplicate_guids: int = 0


def parse_feed(
    body: bytes,
    *,
    source_id: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    language: str | None = None,
    now: datetime | None = None,
) -> FeedResult:
    """Parse `body` fetched from `url`. Raises ParseError when nothing usable is in it."""
    now = now or datetime.now(UTC)
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    if not body.strip():
        raise ParseError("parse: empty response body")
    if _looks_like_json(body, headers.get("content-type", "")):
        return _parse_json_feed(body, source_id=source_id, url=url, language=language, now=now)
    # Headers are passed only when the server sent them: a missing Content-Type is not the feed's fault.
    response_headers = {"content-type": headers["content-type"]} if "content-type" in headers else None
    parsed = feedparser.parse(body, response_headers=response_headers, sanitize_html=False, resolve_relative_uris=False)
    warnings: list[str] = []
    if parsed.get("bozo"):
        warnings.append(f"feed has problems, parsed leniently: {_exception_text(parsed)}")
    if not parsed.entries:
        if not parsed.get("version"):
            raise ParseError("parse: " + _why_not_a_feed(body, headers, parsed))
        return FeedResult([], parsed.version, parsed.feed.get("title"), _ttl(parsed.feed), warnings)
    feed_lang = _lang(parsed.feed.get("language")) or language
    entries, dupes = _entries(parsed.entries, source_id, url, feed_lang, now)
    return FeedResult(
        entries, parsed.version or "unknown", parsed.feed.get("title"), _ttl(parsed.feed), warnings, dupes
    )


def _entries(
    raw_entries: list[Any], source_id: str, url: str, feed_lang: str | None, now: datetime
) -> tuple[list[Entry], int]:
    entries: list[Entry] = []
    seen: set[str] = set()
    dupes = 0
    for raw in raw_entries:
        entry = _entry_from_feedparser(raw, source_id, url, feed_lang, now)
        if entry is None:
            continue
        assert entry.guid is not None
        if entry.guid in seen:
            dupes += 1  # the first occurrence wins; later copies in the same document are dropped
            continue
        seen.add(entry.guid)
        entries.append(entry)
    return entries, dupes


def _entry_from_feedparser(
    raw: Any, source_id: str, feed_url: str, feed_lang: str | None, now: datetime
) -> Entry | None:
    link = _first_link(raw, feed_url)
    title = html_to_text(raw.get("title", "")) if raw.get("title") else ""
    summary_src = raw.get("summary", "") or ""
    contents = [c.get("value", "") for c in raw.get("content", []) if c.get("value")]
    content_html = max(contents, key=len) if contents else ""
    if not title and not summary_src and not content_html:
        return None
    base = link or feed_url
    summary_html = clean_html(summary_src or content_html[:4000], base)
    text = html_to_text(content_html) if len(content_html) > len(summary_src) else ""
    published = _date(raw.get("published_parsed")) or _date(raw.get("updated_parsed"))
    updated = _date(raw.get("updated_parsed"))
    raw_info: dict[str, Any] = {"feed_url": feed_url}
    for key in ("id", "link", "published", "updated"):
        if raw.get(key):
            raw_info[key] = str(raw.get(key))[:1000]
    published = _not_future(published, now, raw_info)
    guid = str(raw.get("id") or "").strip() or link or _fallback_guid(title, summary_src)
    if not link:
        raw_info["no_link"] = True
    lang = _lang(raw.get("language")) or _detail_lang(raw) or feed_lang
    return Entry(
        source_id=source_id,
        url=link or "",
        title=title or _title_from(summary_html),
        guid=guid,
        summary_html=summary_html,
        text=text,
        authors=_authors(raw),
        published_at=published,
        updated_at=updated,
        language=lang,
        raw=raw_info,
    )


def _first_link(raw: Any, feed_url: str) -> str | None:
    from urllib.parse import urljoin

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


def _date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _not_future(value: datetime | None, now: datetime, raw_info: dict[str, Any]) -> datetime | None:
    if value is not None and value > now + FUTURE_TOLERANCE:
        raw_info["future_date_clamped"] = value.isoformat()
        return now
    return value


def _authors(raw: Any) -> tuple[str, ...]:
    names = [a.get("name", "").strip() for a in raw.get("authors", []) if isinstance(a, Mapping)]
    names = [n for n in names if n]
    if not names and raw.get("author"):
        names = [str(raw.get("author")).strip()]
    return tuple(dict.fromkeys(html_to_text(n) for n in names if n))


def _detail_lang(raw: Any) -> str | None:
    for key in ("title_detail", "summary_detail"):
        detail = raw.get(key)
        if detail and detail.get("language"):
            return _lang(detail.get("language"))
    return None


def _lang(value: Any) -> str | None:
    if not value or not isinstance(value, str):
        return None
    code = value.strip().split("-")[0].split("_")[0].lower()
    return code if re.fullmatch(r"[a-z]{2,3}", code) else None


def _ttl(feed: Any) -> float | None:
    ttl = feed.get("ttl")
    if ttl and str(ttl).strip().isdigit():
        return int(str(ttl).strip()) * 60.0
    period = _SY_PERIOD.get(str(feed.get("sy_updateperiod", "")).strip().lower())
    if period:
        try:
            freq = max(1, int(str(feed.get("sy_updatefrequency", "1")).strip()))
        except ValueError:
            freq = 1
        return period / freq
    return None


def _fallback_guid(title: str, summary: str) -> str:
    return "sha1:" + hashlib.sha1(f"{title}\n{summary}".encode()).hexdigest()


def _title_from(summary_html: str) -> str:
    text = html_to_text(summary_html)
    return (text[:117] + "...") if len(text) > 120 else text


def _exception_text(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}"[:300] if exc else "unknown problem"


def _why_not_a_feed(body: bytes, headers: Mapping[str, str], parsed: Any) -> str:
    head = body[:2048].lstrip().lower()
    ctype = headers.get("content-type", "")
    if b"<html" in head or b"<!doctype html" in head or "html" in ctype:
        hrefs = []
        for tag in _FEED_LINK.finditer(body[:200_000]):
            found = _HREF.search(tag.group(0))
            if found:
                hrefs.append(found.group(1).decode("utf-8", "replace"))
        hint = f"; the page advertises feed(s): {', '.join(hrefs[:3])}" if hrefs else ""
        return f"not a feed: the server sent an HTML page ({ctype or 'no content-type'}){hint}"
    return f"not a feed: no RSS, Atom or JSON Feed found ({_exception_text(parsed)})"


# JSON Feed (https://jsonfeed.org/version/1.1): feedparser 6.0 does not read it.


def _looks_like_json(body: bytes, content_type: str) -> bool:
    if "json" in content_type.lower():
        return True
    return body.lstrip()[:1] == b"{"


def _parse_json_feed(body: bytes, *, source_id: str, url: str, language: str | None, now: datetime) -> FeedResult:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"parse: JSON Feed is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith("https://jsonfeed.org/"):
        raise ParseError("parse: not a feed: JSON without a jsonfeed.org version")
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError("parse: JSON Feed has no 'items' list")
    feed_lang = _lang(doc.get("language")) or language
    entries: list[Entry] = []
    seen: set[str] = set()
    dupes = 0
    for item in items:
        if not isinstance(item, dict):
            continue
        entry = _entry_from_json(item, doc, source_id, url, feed_lang, now)
        if entry is None:
            continue
        assert entry.guid is not None
        if entry.guid in seen:
            dupes += 1
            continue
        seen.add(entry.guid)
        entries.append(entry)
    title = doc.get("title") if isinstance(doc.get("title"), str) else None
    return FeedResult(entries, "json" + str(doc.get("version", "")).rsplit("/", 1)[-1], title, None, [], dupes)


def _entry_from_json(
    item: dict[str, Any], doc: dict[str, Any], source_id: str, feed_url: str, lang: str | None, now: datetime
) -> Entry | None:
    from urllib.parse import urljoin

    link = _str(item, "url") or _str(item, "external_url")
    link = urljoin(feed_url, link) if link else ""
    content_html = _str(item, "content_html")
    content_text = _str(item, "content_text")
    summary = _str(item, "summary")
    title = html_to_text(_str(item, "title"))
    if not (title or summary or content_html or content_text):
        return None
    summary_html = clean_html(summary or content_html[:4000] or content_text[:1000], link or feed_url)
    text = html_to_text(content_html) if content_html else content_text
    raw_info: dict[str, Any] = {"feed_url": feed_url}
    for key in ("id", "url", "date_published", "date_modified"):
        if item.get(key):
            raw_info[key] = str(item.get(key))[:1000]
    published = _not_future(_iso(item.get("date_published")), now, raw_info)
    authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
    names = tuple(a.get("name", "") for a in authors if isinstance(a, dict) and a.get("name"))
    guid = str(item.get("id") or "").strip() or link or _fallback_guid(title, summary)
    if not link:
        raw_info["no_link"] = True
    return Entry(
        source_id=source_id,
        url=link,
        title=title or _title_from(summary_html),
        guid=guid,
        summary_html=summary_html,
        text=text if len(text) > len(html_to_text(summary_html)) else "",
        authors=names,
        published_at=published,
        updated_at=_iso(item.get("date_modified")),
        language=_lang(item.get("language")) or lang,
        raw=raw_info,
    )


def _str(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ""


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
