"""The spider for every configured source: feeds, sitemaps and listing pages, plus their article pages."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import scrapy
from scrapy.http import Response, TextResponse
from sqlalchemy.exc import SQLAlchemyError

from aggregator.config.settings import Settings
from aggregator.crawl.plan import CrawlPlan, CrawlTask
from aggregator.crawl.polling import cache_max_age, retry_after
from aggregator.crawl.state import ERROR, NOT_MODIFIED, OK, UNCHANGED, FetchReport
from aggregator.errors import AggregatorError, ParseError
from aggregator.parse.entry_cap import EntryCap, cap_entry_list
from aggregator.parse.extract import extract_article
from aggregator.parse.feeds import parse_feed
from aggregator.parse.listings import parse_listing
from aggregator.parse.sitemaps import parse_sitemap
from aggregator.spiders.capture import CAPTURE_ERROR
from aggregator.spiders.failures import describe_failure, describe_status
from aggregator.spiders.items import ArticleFailed, ArticleFetched
from aggregator.spiders.settings import FEED_ACCEPT
from aggregator.store.database import Database
from aggregator.store.ingest import stored_guids

log = logging.getLogger(__name__)

# Every status reaches the callback except redirects, which RedirectMiddleware must still follow.
HANDLED_STATUSES = [304, *range(400, 600)]
MAX_CHILD_SITEMAPS = 3


class SourcesSpider(scrapy.Spider):
    """Fetches each task's URL once, parses it by kind, and queues the article pages to extract."""

    name = "sources"

    def __init__(self, plan: CrawlPlan, progress: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.progress = progress
        self.app_settings = Settings.model_validate(plan.settings)
        self.tasks = {t.source_id: t for t in plan.tasks}
        self.db: Database | None = None  # opened only to ask which entries of an over-long feed are stored

    def closed(self, reason: str) -> None:
        if self.db is not None:
            self.db.close()

    def _stored(self, source_id: str, guids: list[str]) -> set[str]:
        try:
            if self.db is None:
                self.db = Database(self.plan.database_url, migrate_schema=False)
            with self.db.session() as session:
                return stored_guids(session, source_id, guids)
        except (SQLAlchemyError, AggregatorError) as exc:  # the feed is still read: its newest entries first
            log.warning("crawl: %s: cannot tell which entries are stored: %s", source_id, exc)
            return set()

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for task in self.plan.tasks:
            if task.kind == "spider":
                continue
            yield self.source_request(task, task.url, primary=True)
            for item_id, url in task.pending_articles:
                yield self.article_request(task.source_id, item_id, url)

    def source_request(self, task: CrawlTask, url: str, *, primary: bool) -> scrapy.Request:
        headers = {}
        if primary:
            if task.etag:
                headers["If-None-Match"] = task.etag
            if task.last_modified:
                headers["If-Modified-Since"] = task.last_modified
        if task.kind == "feed":
            headers["Accept"] = FEED_ACCEPT
        return scrapy.Request(
            url,
            headers=headers,
            callback=self.parse_source,
            errback=self.source_failed,
            dont_filter=True,
            meta={
                "source_id": task.source_id,
                "primary": primary,
                "started": time.monotonic(),
                "started_at": datetime.now(UTC),
                "handle_httpstatus_list": HANDLED_STATUSES,
                # Feeds and sitemaps are published for machines; robots.txt governs pages.
                "dont_obey_robotstxt": task.kind in ("feed", "sitemap"),
            },
        )

    def article_request(self, source_id: str, item_id: int, url: str, *, refetch: bool = False) -> scrapy.Request:
        """The request for an item's article page; `refetch` when its feed entry changed after the page was read."""
        return scrapy.Request(
            url,
            callback=self.parse_article,
            errback=self.article_failed,
            dont_filter=True,
            priority=-1,  # sources first, so one slow article site cannot delay every feed
            meta={
                "source_id": source_id,
                "item_id": item_id,
                "handle_httpstatus_list": HANDLED_STATUSES,
                "refetch": refetch,
            },
        )

    def _report(self, response: Response, outcome: str, **fields: Any) -> FetchReport:
        meta = response.meta
        headers = response.headers
        report = FetchReport(
            source_id=meta["source_id"],
            url=response.request.url if response.request else response.url,
            started_at=meta["started_at"],
            outcome=outcome,
            http_status=response.status,
            bytes=len(response.body),
            duration_ms=int((time.monotonic() - meta["started"]) * 1000),
            etag=_header(headers, b"ETag"),
            last_modified=_header(headers, b"Last-Modified"),
            max_age_seconds=cache_max_age(_header(headers, b"Cache-Control")),
            retry_after_seconds=retry_after(_header(headers, b"Retry-After"), datetime.now(UTC)),
            primary=meta["primary"],
            **fields,
        )
        if meta.get(CAPTURE_ERROR):  # the body is parsed and stored all the same; the fetch log says what is missing
            report.warnings.append(meta[CAPTURE_ERROR])
        return report

    def parse_source(self, response: Response) -> Iterator[Any]:
        task = self.tasks[response.meta["source_id"]]
        if response.status == 304:
            yield self._report(response, NOT_MODIFIED)
            return
        if response.status >= 400:
            yield self._report(response, ERROR, error=describe_status(response.status))
            return
        body_hash = hashlib.sha256(response.body).hexdigest()
        if response.meta["primary"] and body_hash == task.body_hash:
            yield self._report(response, UNCHANGED, body_hash=body_hash)
            return
        cap = EntryCap(self.app_settings.crawl.max_entries_per_fetch, lambda guids: self._stored(task.source_id, guids))
        try:
            report, children = self._parse_by_kind(task, response, cap)
        except ParseError as exc:
            yield self._report(response, ERROR, error=str(exc), body_hash=body_hash)
            return
        except Exception as exc:  # a parser bug must cost this source only, and be recorded on it
            log.exception("parse: %s crashed on %s", task.source_id, response.url)
            error = f"parse: unexpected {type(exc).__name__}: {exc}"[:500]
            yield self._report(response, ERROR, error=error, body_hash=body_hash)
            return
        report.body_hash = body_hash
        if cap.left and report.primary:
            # Entries wait for the next fetch, which must read the document even if it has not changed.
            report.etag = report.last_modified = report.body_hash = None
        yield report
        for child in children:
            yield self.source_request(task, child, primary=False)

    def _parse_by_kind(self, task: CrawlTask, response: Response, cap: EntryCap) -> tuple[FetchReport, list[str]]:
        headers = {k.decode("latin-1"): v[0].decode("latin-1") for k, v in response.headers.items() if v}
        if task.kind == "feed":
            feed = parse_feed(
                response.body,
                source_id=task.source_id,
                url=response.url,
                headers=headers,
                language=task.language,
                cap=cap,
            )
            return self._report(
                response,
                OK,
                entries=feed.entries,
                feed_title=feed.title,
                ttl_seconds=feed.ttl_seconds,
                warnings=feed.warnings,
                duplicate_guids=feed.duplicate_guids,
            ), []
        if task.kind == "sitemap":
            opts = task.options
            result = parse_sitemap(
                response.body,
                source_id=task.source_id,
                url=response.url,
                language=task.language,
                include=opts.get("include"),
                exclude=opts.get("exclude"),
                max_age_days=float(opts.get("max_age_days", 7)),
                max_items=int(opts.get("max_items", 200)),
            )
            newest = sorted(result.children, key=lambda c: c[1] or datetime.min.replace(tzinfo=UTC))
            children = [url for url, _ in reversed(newest)][: int(opts.get("max_sitemaps", MAX_CHILD_SITEMAPS))]
            entries = cap_entry_list(result.entries, cap)
            return self._report(response, OK, entries=entries, warnings=_cap_warnings(cap)), children
        if task.kind == "listing":
            if not isinstance(response, TextResponse):
                raise ParseError("parse: listing page is not text/HTML")
            entries = parse_listing(
                response.text,
                source_id=task.source_id,
                url=response.url,
                options=task.options,
                language=task.language,
            )
            entries = cap_entry_list(entries, cap)
            return self._report(response, OK, entries=entries, warnings=_cap_warnings(cap)), []
        raise ParseError(f"parse: unknown source kind {task.kind!r}")

    def source_failed(self, failure: Any) -> Iterator[FetchReport]:
        request = failure.request
        meta = request.meta
        yield FetchReport(
            source_id=meta["source_id"],
            url=request.url,
            started_at=meta["started_at"],
            outcome=ERROR,
            duration_ms=int((time.monotonic() - meta["started"]) * 1000),
            error=describe_failure(failure, self.app_settings.crawl.max_response_bytes),
            primary=meta["primary"],
        )

    def parse_article(self, response: Response) -> Iterator[Any]:
        meta = response.meta
        if response.status >= 400:
            yield ArticleFailed(meta["source_id"], meta["item_id"], describe_status(response.status))
            return
        if not isinstance(response, TextResponse):
            yield ArticleFailed(meta["source_id"], meta["item_id"], "extract: article page is not HTML")
            return
        try:
            article = extract_article(response.text, response.url)
        except ParseError as exc:
            yield ArticleFailed(meta["source_id"], meta["item_id"], str(exc))
            return
        except Exception as exc:  # same rule as for sources: record it, never lose the crawl
            log.exception("extract: crashed on %s", response.url)
            yield ArticleFailed(meta["source_id"], meta["item_id"], f"extract: unexpected {type(exc).__name__}: {exc}")
            return
        yield ArticleFetched(meta["source_id"], meta["item_id"], article, refetch=bool(meta.get("refetch")))

    def article_failed(self, failure: Any) -> Iterator[ArticleFailed]:
        meta = failure.request.meta
        message = describe_failure(failure, self.app_settings.crawl.max_response_bytes)
        yield ArticleFailed(meta["source_id"], meta["item_id"], message)


def _cap_warnings(cap: EntryCap) -> list[str]:
    warning = cap.warning()
    return [warning] if warning else []


def _header(headers: Any, name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1").strip() if value else None
