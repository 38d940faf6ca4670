"""Read XML sitemaps and Google News sitemaps (plain or gzipped) into entries and child-sitemap URLs."""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

from lxml import etree

from aggregator.errors import ParseError
from aggregator.parse.dates import FUTURE_TOLERANCE, checked, implausible, parse_date
from aggregator.parse.entry import Entry

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit for one uncompressed file


@dataclass(frozen=True)
class SitemapResult:
    """Article entries of a urlset, or the child sitemaps of a sitemap index."""

    entries: list[Entry] = field(default_factory=list)
    children: list[tuple[str, datetime | None]] = field(default_factory=list)
    skipped: int = 0


def parse_sitemap(
    body: bytes,
    *,
    source_id: str,
    url: str,
    language: str | None = None,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    max_age_days: float = 7.0,
    max_items: int = 200,
    now: datetime | None = None,
) -> SitemapResult:
    """Parse a sitemap body. Entries older than `max_age_days` (by their dates) are skipped."""
    now = now or datetime.now(UTC)
    root = _root(_gunzip(body), url)
    tag = etree.QName(root).localname
    if tag == "sitemapindex":
        children = []
        for node in root:
            if etree.QName(node).localname != "sitemap":
                continue
            loc = _child_text(node, "loc")
            if loc:
                # An implausible lastmod (year 9999) would put a child ahead of the newest ones: it counts as undated.
                lastmod = parse_date(_child_text(node, "lastmod"))
                children.append((urljoin(url, loc), None if lastmod and implausible(lastmod, now) else lastmod))
        return SitemapResult(children=children)
    if tag != "urlset":
        raise ParseError(f"parse: not a sitemap: root element <{tag}>")
    cutoff = now - timedelta(days=max_age_days)
    entries: list[Entry] = []
    skipped = 0
    for node in root:
        if etree.QName(node).localname != "url":
            continue
        loc = _child_text(node, "loc")
        if not loc:
            continue
        link = urljoin(url, loc)
        if (include and not any(p in link for p in include)) or (exclude and any(p in link for p in exclude)):
            skipped += 1
            continue
        news = _first(node, "news")
        title = _child_text(news, "title") if news is not None else None
        pub_text = _child_text(news, "publication_date") if news is not None else None
        pub, pub_note = checked("publication", parse_date(pub_text), pub_text, now)
        lastmod_text = _child_text(node, "lastmod")
        lastmod, lastmod_note = checked("lastmod", parse_date(lastmod_text), lastmod_text, now)
        when = pub or lastmod
        if when is not None and when < cutoff:
            skipped += 1
            continue
        lang = None
        if news is not None:
            publication = _first(news, "publication")
            if publication is not None:
                lang = (_child_text(publication, "language") or "").split("-")[0].lower() or None
        raw: dict[str, object] = {"feed_url": url, "loc": loc[:1000]}
        notes = [n for n in (pub_note, lastmod_note) if n]
        if notes:
            raw["notes"] = notes
        if when is not None and when > now + FUTURE_TOLERANCE:
            raw["future_date_clamped"] = when.isoformat()
            when = now
        entries.append(
            Entry(
                source_id=source_id,
                url=link,
                title=title or "",
                guid=link,
                published_at=when,
                language=lang or language,
                raw=raw,
            )
        )
    entries.sort(key=lambda e: e.published_at or now, reverse=True)
    return SitemapResult(entries=entries[:max_items], skipped=skipped + max(0, len(entries) - max_items))


def _gunzip(body: bytes) -> bytes:
    if body[:2] != b"\x1f\x8b":
        return body
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as handle:
            data = handle.read(MAX_SITEMAP_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ParseError(f"parse: sitemap looks gzipped but cannot be decompressed: {exc}") from exc
    if len(data) > MAX_SITEMAP_BYTES:
        raise ParseError("parse: sitemap larger than 50 MB once decompressed")
    return data


def _root(body: bytes, url: str) -> etree._Element:
    # No entity expansion, no network, no huge trees: a sitemap is untrusted input like any page.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"parse: sitemap is not XML: {exc}") from exc
    if root is None:
        raise ParseError("parse: sitemap is empty or not XML")
    return root


def _first(node: etree._Element, name: str) -> etree._Element | None:
    for child in node:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return child
    return None


def _child_text(node: etree._Element | None, name: str) -> str | None:
    if node is None:
        return None
    child = _first(node, name)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None
