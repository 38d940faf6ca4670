"""Extract an article page's main text and metadata with trafilatura (page HTML in, `Article` out)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from aggregator.errors import ParseError
from aggregator.parse.dates import implausible, parse_date
from aggregator.parse.entry import Article

log = logging.getLogger(__name__)

_HTML_LANG = re.compile(r"<html[^>]*\slang\s*=\s*[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
_CANONICAL = re.compile(r"<link[^>]+rel\s*=\s*[\"']?canonical[\"']?[^>]*>", re.IGNORECASE)
_HREF = re.compile(r"href\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
# trafilatura's own limit is generous; pages beyond this are almost always not articles.
MAX_HTML_CHARS = 5_000_000


def extract_article(html: str, url: str) -> Article:
    """Main text, title, authors, date, language and canonical URL of the page at `url`.

    Raises ParseError when the page has no extractable main text.
    """
    if not html or not html.strip():
        raise ParseError(f"extract: empty page at {url}")
    if len(html) > MAX_HTML_CHARS:
        raise ParseError(f"extract: page too large to extract ({len(html)} characters) at {url}")
    import trafilatura  # heavy; only crawls that fetch article pages need it

    try:
        doc: Any = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, include_tables=False
        )
    except (ValueError, TypeError, RecursionError) as exc:
        raise ParseError(f"extract: trafilatura failed on {url}: {exc}") from exc
    if doc is None or not (doc.text or "").strip():
        raise ParseError(f"extract: no main text found at {url}")
    head = html[:20000]
    lang_match = _HTML_LANG.search(head)
    return Article(
        url=url,
        text=doc.text.strip(),
        title=doc.title or None,
        authors=tuple(a.strip() for a in (doc.author or "").split(";") if a.strip()),
        published_at=_plausible(parse_date(doc.date)),  # trafilatura gives the day: midnight UTC
        language=(doc.language or (lang_match.group(1) if lang_match else "") or "").lower()[:2] or None,
        canonical_url=_canonical(head) or None,
    )


def _plausible(value: datetime | None) -> datetime | None:
    # The page is fetched now. A date outside the window says nothing about the article; ingest uses the page's
    # date only for an item whose feed gave none.
    return None if value is None or implausible(value, datetime.now(UTC)) else value


def _canonical(head: str) -> str | None:
    # Only an explicit <link rel=canonical> counts: trafilatura falls back to og:url or the request URL.
    tag = _CANONICAL.search(head)
    if not tag:
        return None
    href = _HREF.search(tag.group(0))
    value = href.group(1).strip() if href else ""
    return value if value.startswith(("http://", "https://")) else None
