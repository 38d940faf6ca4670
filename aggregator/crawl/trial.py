"""Try a source without storing anything: find a site's feed, fetch it and parse it exactly as a crawl would."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from w3lib.encoding import html_to_unicode

from aggregator.config.settings import Settings
from aggregator.config.sources import Kind, SourceConfig
from aggregator.crawl.discovery import candidate_urls, feed_links, sniff
from aggregator.crawl.probe import ProbeResult, probe
from aggregator.errors import AggregatorError, FetchError, ParseError
from aggregator.parse.entry import Entry
from aggregator.parse.feeds import parse_feed
from aggregator.parse.listings import parse_listing
from aggregator.parse.sitemaps import parse_sitemap
from aggregator.store.urls import feed_key

MAX_ADVERTISED = 8  # feed links of one page worth fetching; pages list their main feed first
MAX_CHILD_SITEMAPS = 3  # as spiders.sources: the newest children of a sitemap index
SITEMAP_MAX_AGE_DAYS = 7  # as spiders.sources: older sitemap entries are not news

Fetch = Callable[[list[str], bool], list[ProbeResult]]


@dataclasses.dataclass(frozen=True)
class Trial:
    """A source fetched and parsed: its entries newest first, and how it was found."""

    url: str
    kind: str  # feed | sitemap | listing
    fetch: ProbeResult
    entries: list[Entry]
    title: str | None = None
    format: str | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    found_via: str = "the URL given"

    @property
    def language(self) -> str | None:
        """The language most entries declare (a feed's own language is passed down to its entries)."""
        counts = Counter(e.language for e in self.entries if e.language)
        return counts.most_common(1)[0][0] if counts else None


def fetcher(settings: Settings, extra_scrapy_settings: dict[str, Any] | None = None) -> Fetch:
    """`fetch(urls, pages)`: `probe` bound to the settings (tests add Scrapy settings such as a short backoff)."""
    return lambda urls, pages: probe(urls, settings, pages=pages, extra_scrapy_settings=extra_scrapy_settings)


def try_source(source: SourceConfig, fetch: Fetch) -> Trial:
    """Fetch `source` now and parse it per its kind, as a crawl would (without conditional headers).

    Raises FetchError or ParseError, prefixed with the stage, when a crawl would record an error.
    """
    if source.kind is Kind.SPIDER:
        raise AggregatorError(f"a spider source runs its own code: `aggregator crawl -s {source.id}` tries it")
    result = fetch([source.url], source.kind is Kind.LISTING)[0]
    if not result.ok:
        raise FetchError(result.error or "fetch: no response")
    return _parse(result, source.kind.value, fetch, source_id=source.id, language=source.language, opts=source.options)


def discover(url: str, fetch: Fetch) -> Trial:
    """The best feed for a site or feed URL (a news sitemap when there is no feed), fetched and validated.

    The URL itself when it is a feed or sitemap; else the feeds its page advertises, best first; else the common
    feed and sitemap locations, fetched in one batch. A candidate counts only if it parses and has entries.
    Raises FetchError or ParseError explaining what was tried when nothing qualifies.
    """
    first = fetch([url], True)[0]
    blocked = first.error == "fetch: robots.txt forbids this page"
    if not first.ok and not blocked:  # robots.txt governs the page, not the feeds we may still find
        raise FetchError(f"{url}: {first.error or 'fetch: no response'}")
    base = first.final_url or url
    tried: list[str] = []
    seen = {feed_key(url), feed_key(base)}  # already fetched: not worth a second request
    if first.ok:
        kind = sniff(first.body, first.content_type)
        if kind in ("feed", "sitemap"):
            trial = _parse(first, kind, fetch, language=None)
            if not trial.entries:
                recent = f" from the last {SITEMAP_MAX_AGE_DAYS} days" if kind == "sitemap" else ""
                raise ParseError(f"parse: {url}: the {kind} has no entries{recent}; there is nothing to follow")
            return trial
        if kind != "html":
            ctype = first.content_type or "no content-type"
            raise ParseError(f"parse: {url}: not a feed, sitemap or web page ({ctype})")
        links = [link.url for link in feed_links(first.body, base)][:MAX_ADVERTISED]
        seen.update(feed_key(link) for link in links)
        if links:
            found, reasons = _first_valid(links, fetch, ("feed",), "a link on the page")
            if found is not None:
                return found
            tried.append(f"{len(links)} advertised feed(s) failed ({'; '.join(reasons[:3])})")
        else:
            tried.append("the page advertises no feed")
    else:
        tried.append("robots.txt forbids reading the page")
    candidates = [u for u in candidate_urls(base) if feed_key(u) not in seen]
    found, _ = _first_valid(candidates, fetch, ("feed", "sitemap"), "a common feed location")
    if found is not None:
        return found
    tried.append(f"none of {len(candidates)} common feed and sitemap locations has one")
    raise ParseError(f"parse: no feed found for {url}: {'; '.join(tried)}")


def _first_valid(urls: list[str], fetch: Fetch, kinds: tuple[str, ...], via: str) -> tuple[Trial | None, list[str]]:
    """Fetch `urls` in one batch; the first that parses with entries, of the first of `kinds` found. Also returns
    why each other URL did not qualify."""
    reasons: list[str] = []
    usable: list[tuple[int, int, ProbeResult, str]] = []
    for position, result in enumerate(fetch(urls, False)):
        kind = sniff(result.body, result.content_type) if result.ok else None
        if not result.ok:
            reasons.append(f"{result.url}: {result.error}")
        elif kind not in kinds:
            reasons.append(f"{result.url}: not a {' or '.join(kinds)}")
        else:
            usable.append((kinds.index(kind), position, result, kind))
    for _, _, result, kind in sorted(usable, key=lambda found: found[:2]):
        try:
            trial = _parse(result, kind, fetch, language=None)
        except AggregatorError as exc:
            reasons.append(f"{result.url}: {exc}")
            continue
        if trial.entries:
            return dataclasses.replace(trial, found_via=via), reasons
        reasons.append(f"{result.url}: no entries")
    return None, reasons


def _parse(
    result: ProbeResult,
    kind: str,
    fetch: Fetch,
    *,
    source_id: str = "new",
    language: str | None,
    opts: Mapping[str, Any] | None = None,
) -> Trial:
    opts = opts or {}
    url = result.final_url or result.url
    if kind == "feed":
        feed = parse_feed(result.body, source_id=source_id, url=url, headers=result.headers, language=language)
        return Trial(url, kind, result, _newest(feed.entries), feed.title, feed.format, feed.warnings)
    if kind == "listing":
        _, text = html_to_unicode(result.content_type or None, result.body)
        entries = parse_listing(text, source_id=source_id, url=url, options=dict(opts), language=language)
        return Trial(url, kind, result, _newest(entries), format="listing")

    def read(body: bytes, where: str) -> Any:
        return parse_sitemap(
            body,
            source_id=source_id,
            url=where,
            language=language,
            include=opts.get("include"),
            exclude=opts.get("exclude"),
            max_age_days=float(opts.get("max_age_days", SITEMAP_MAX_AGE_DAYS)),
            max_items=int(opts.get("max_items", 200)),
        )

    sitemap = read(result.body, url)
    entries, warnings = list(sitemap.entries), []
    if sitemap.children:  # an index: the crawl reads its newest children, and so does the trial
        oldest = datetime.min.replace(tzinfo=UTC)
        newest = sorted(sitemap.children, key=lambda child: child[1] or oldest, reverse=True)
        children = [u for u, _ in newest][: int(opts.get("max_sitemaps", MAX_CHILD_SITEMAPS))]
        for child in fetch(children, False):
            if not child.ok:
                warnings.append(f"{child.url}: {child.error}")
                continue
            try:
                entries += read(child.body, child.final_url or child.url).entries
            except ParseError as exc:
                warnings.append(f"{child.url}: {exc}")
    return Trial(url, "sitemap", result, _newest(entries), format="sitemap index" if sitemap.children else "sitemap",
                 warnings=warnings)  # fmt: skip


def _newest(entries: list[Entry]) -> list[Entry]:
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(entries, key=lambda e: e.published_at or oldest, reverse=True)
