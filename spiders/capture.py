"""Keep every fetched feed body and article page as captured: a downloader middleware writing WARC records.

It sits between the redirect and decompression middlewares, so it sees each final response with its body still
as sent (gzip and all) and the request headers as they went out. A 304, an error status, or a body identical to
the last capture of the same page or feed adds nothing. A failed write is data, never a lost item: the response
goes on to be parsed and stored, the failure is an index row with its one-line error, and for a feed also a
warning in the fetch log (through `CAPTURE_ERROR` in the response's meta).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from scrapy import Request, signals
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from sqlalchemy.exc import SQLAlchemyError

from aggregator.config.settings import Settings
from aggregator.errors import AggregatorError, CaptureError
from aggregator.store.captures import FEED, PAGE, forget_files, last_digest, record_capture
from aggregator.store.database import Database, error_line
from aggregator.store.warc import Exchange, WarcWriter, payload_digest, prune

log = logging.getLogger(__name__)

CAPTURE_ERROR = "capture_error"  # response.meta key: the one-line error of a capture that could not be written
# Between RedirectMiddleware (600) and HttpCompressionMiddleware (590).
ORDER = 595


class CaptureMiddleware:
    """Writes each 2xx response of a source or article request to the crawl's WARC files and indexes it."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.writer: WarcWriter | None = None
        self.db: Database | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> CaptureMiddleware:
        middleware = cls(crawler)
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def spider_opened(self, spider: Any) -> None:
        plan = getattr(spider, "plan", None)
        if plan is None:
            raise NotConfigured("capture: the spider has no crawl plan")
        settings = Settings.model_validate(plan.settings)
        self.settings = settings.capture
        if not self.settings.enabled:
            return
        self.data_path = settings.data_path
        self.db = Database(plan.database_url, migrate_schema=False)
        self.writer = WarcWriter(self.data_path, self.settings)
        self._prune()

    def spider_closed(self, spider: Any) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.db is not None:
            self.db.close()

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Response:
        try:
            self._capture(request, response)
        except Exception:  # a capture bug must cost the capture, never the fetch
            log.exception("capture: unexpected failure on %s", response.url)
        return response

    def _capture(self, request: Request, response: Response) -> None:
        meta = request.meta
        source_id = meta.get("source_id")
        if self.writer is None or self.db is None or source_id is None or not 200 <= response.status < 300:
            return  # robots.txt, redirects, 304s and errors are not captures
        kind = PAGE if "item_id" in meta else FEED
        item_id = meta.get("item_id")
        now = datetime.now(UTC)
        content_type = _header(response, b"Content-Type")
        try:
            with self.db.session() as session:
                found = last_digest(session, kind=kind, url=response.url, source_id=source_id, item_id=item_id)
                if found is not None and found == payload_digest(response.body):
                    return
                written, error = None, None
                rotated_from = self.writer.current
                try:
                    written = self.writer.write(_exchange(request, response), now)
                except CaptureError as exc:
                    error = f"{exc}; the {'page' if kind == PAGE else 'feed'} is stored without its capture"
                    log.error("%s: %s", source_id, error)
                    request.meta[CAPTURE_ERROR] = error  # the response's meta once it reaches the spider
                record_capture(
                    session,
                    kind=kind,
                    url=response.url,
                    captured_at=now,
                    source_id=source_id,
                    item_id=item_id,
                    http_status=response.status,
                    content_type=content_type,
                    written=written,
                    error=error,
                )
        except (SQLAlchemyError, AggregatorError) as exc:  # the capture may be in its file, unindexed: never the crawl
            log.error("capture: %s: cannot index %s: %s", source_id, response.url, error_line(exc))
            return
        if rotated_from is not None and self.writer.current != rotated_from:
            self._prune()

    def _prune(self) -> None:
        """Apply keep_days and max_total_mb: remove the oldest WARC files and mark their captures removed."""
        assert self.writer is not None and self.db is not None
        removed = prune(self.data_path, self.settings, now=datetime.now(UTC), keep=self.writer.files_written())
        if not removed:
            return
        try:
            with self.db.session() as session:
                forget_files(session, removed)
        except SQLAlchemyError as exc:
            log.error("capture: removed %d WARC file(s) but cannot say so in the index: %s", len(removed), exc)


def _exchange(request: Request, response: Response) -> Exchange:
    return Exchange(
        url=response.url,
        method=request.method,
        request_headers=_pairs(request.headers),
        status=response.status,
        protocol=getattr(response, "protocol", None) or "HTTP/1.1",
        response_headers=_pairs(response.headers),
        body=response.body,
    )


def _pairs(headers: Any) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, values in headers.items() for value in values]


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1").strip() if value else None
