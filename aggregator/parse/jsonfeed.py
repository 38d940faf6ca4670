"""Read JSON Feed 1.0/1.1 documents (feedparser 6 does not)."""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import urljoin

from aggregator.errors import ParseError
from aggregator.parse.dates import parse_date
from aggregator.parse.feed_entry import FeedResult, RawEntry, lang_code, make_entries


def looks_like_json(body: bytes, content_type: str) -> bool:
    return "json" in content_type.lower() or body.lstrip()[:1] == b"{"


def parse_json_feed(body: bytes, *, source_id: str, url: str, language: str | None, now: datetime) -> FeedResult:
    """Entries of a JSON Feed. Raises ParseError when the body is not one."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"parse: JSON Feed is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith("https://jsonfeed.org/"):
        raise ParseError("parse: not a feed: JSON without a jsonfeed.org version")
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError("parse: JSON Feed has no 'items' list")
    raws = [_raw(item, doc, url) for item in items if isinstance(item, dict)]
    entries, dupes = make_entries(
        raws, source_id=source_id, feed_url=url, feed_lang=lang_code(doc.get("language")) or language, now=now
    )
    title = _str(doc, "title") or None
    return FeedResult(entries, "json" + str(doc.get("version", "")).rsplit("/", 1)[-1], title, None, [], dupes)


def _raw(item: dict[str, Any], doc: dict[str, Any], feed_url: str) -> RawEntry:
    link = _str(item, "url") or _str(item, "external_url")
    content_html = _str(item, "content_html")
    content_text = _str(item, "content_text")
    authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
    provenance = {k: str(item[k])[:1000] for k in ("id", "url", "date_published", "date_modified") if item.get(k)}
    return RawEntry(
        title=_str(item, "title"),
        link=urljoin(feed_url, link) if link else None,
        guid=str(item.get("id") or ""),
        summary=_str(item, "summary"),
        content=content_html or _escape(content_text),
        authors=tuple(a["name"] for a in authors if isinstance(a, dict) and isinstance(a.get("name"), str)),
        published=parse_date(_str(item, "date_published")),
        updated=parse_date(_str(item, "date_modified")),
        language=_str(item, "language") or None,
        provenance=provenance,
        published_text=_str(item, "date_published"),
        updated_text=_str(item, "date_modified"),
    )


def _escape(text: str) -> str:

    return escape(text) if text else ""


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""
