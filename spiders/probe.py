"""Fetch a few URLs once, outside any crawl, under the crawl's politeness policy: `python -m spiders.probe`.

Reads `{"crawl": {...CrawlSettings...}, "requests": [{"url": ..., "page": bool}], "scrapy": {...}}` on stdin and
writes one JSON line per request on stdout: url, final_url, status, headers, body (base64), elapsed_ms, error.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import scrapy
from scrapy.http import Response

from aggregator.config.settings import CrawlSettings
from aggregator.spiders.failures import describe_failure, describe_status
from aggregator.spiders.settings import FEED_ACCEPT, scrapy_settings

# Every status reaches the callback except redirects, which RedirectMiddleware must still follow.
HANDLED_STATUSES = list(range(400, 600))
KEPT_HEADERS = (b"Content-Type", b"ETag", b"Last-Modified")


class ProbeSpider(scrapy.Spider):
    """One request per URL; each response (or failure) becomes one line on stdout, nothing is stored."""

    name = "probe"

    def __init__(self, requests: list[dict[str, Any]], max_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wanted = requests
        self.max_bytes = max_bytes

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for index, wanted in enumerate(self.wanted):
            page = bool(wanted.get("page"))
            meta = {
                "index": index,
                "started": time.monotonic(),
                "handle_httpstatus_list": HANDLED_STATUSES,
                # The crawl's rule: robots.txt governs pages; feeds and sitemaps are published for machines.
                "dont_obey_robotstxt": not page,
            }
            try:
                request = scrapy.Request(
                    wanted["url"],
                    headers={} if page else {"Accept": FEED_ACCEPT},
                    callback=self.fetched,
                    errback=self.failed,
                    dont_filter=True,
                    meta=meta,
                )
            except (ValueError, TypeError) as exc:
                _emit(index, wanted.get("url"), error=f"fetch: not a URL Scrapy can request: {exc}")
                continue
            yield request

    def fetched(self, response: Response) -> None:
        meta = response.meta
        headers = {}
        for name in KEPT_HEADERS:
            value = response.headers.get(name)
            if value:
                headers[name.decode().lower()] = value.decode("latin-1").strip()
        _emit(
            meta["index"],
            self.wanted[meta["index"]]["url"],
            final_url=response.url,
            status=response.status,
            headers=headers,
            body=base64.b64encode(response.body).decode("ascii"),
            elapsed_ms=_elapsed(meta),
            error=describe_status(response.status) if response.status >= 400 else None,
        )

    def failed(self, failure: Any) -> None:
        meta = failure.request.meta
        _emit(
            meta["index"],
            self.wanted[meta["index"]]["url"],
            elapsed_ms=_elapsed(meta),
            error=describe_failure(failure, self.max_bytes),
        )


def _elapsed(meta: dict[str, Any]) -> int:
    # The download itself when Scrapy measured it; waiting in the per-host queue is not the server's latency.
    latency = meta.get("download_latency")
    seconds = latency if isinstance(latency, int | float) else time.monotonic() - meta["started"]
    return int(seconds * 1000)


def _emit(index: int, url: Any, **fields: Any) -> None:
    line = {"index": index, "url": url, "final_url": None, "status": None, "headers": {}, "body": "",
            "elapsed_ms": None, "error": None, **fields}  # fmt: skip
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def _child_main() -> int:
    from scrapy.crawler import CrawlerProcess  # here: only the probe's child process loads Scrapy

    job = json.loads(sys.stdin.read())
    crawl = CrawlSettings.model_validate(job.get("crawl", {}))
    # Same policy as a crawl, minus the store: a probe must never write to the database.
    settings = {**scrapy_settings(crawl), "ITEM_PIPELINES": {}, **job.get("scrapy", {})}
    process = CrawlerProcess(settings)
    process.crawl(ProbeSpider, requests=job["requests"], max_bytes=crawl.max_response_bytes)
    process.start()
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
