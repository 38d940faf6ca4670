"""Spiders for sites that need code (kind = "spider"): subclass `SiteSpider` and yield `Entry` objects."""

from __future__ import annotations

import importlib
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import scrapy
from scrapy.http import Response

from aggregator.config.settings import Settings
from aggregator.crawl.plan import CrawlPlan, CrawlTask
from aggregator.crawl.state import ERROR, FetchReport
from aggregator.errors import ConfigError
from aggregator.spiders.failures import describe_failure


class SiteSpider(scrapy.Spider):
    """Base for per-site spiders: starts at the source URL; `parse` yields Entry items and Requests.

    Entries are stored together when the spider closes; a failed start page is stored as the source's error.
    """

    name = "site"

    def __init__(self, plan: CrawlPlan, task: CrawlTask, progress: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.task = task
        self.progress = progress
        self.app_settings = Settings.model_validate(plan.settings)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield scrapy.Request(
            self.task.url,
            callback=self.parse,
            errback=self.failed,
            dont_filter=True,
            meta={"started": time.monotonic(), "started_at": datetime.now(UTC)},
        )

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        raise NotImplementedError

    def failed(self, failure: Any) -> Iterator[FetchReport]:
        meta = failure.request.meta
        yield FetchReport(
            source_id=self.task.source_id,
            url=failure.request.url,
            started_at=meta["started_at"],
            outcome=ERROR,
            error=describe_failure(failure, self.app_settings.crawl.max_response_bytes),
        )


def load_spider(path: str) -> type[SiteSpider]:
    """Import 'package.module:ClassName' and check it is a SiteSpider."""
    module_name, _, class_name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"options.spider: cannot load {path!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, SiteSpider)):
        raise ConfigError(f"options.spider: {path!r} is not a SiteSpider subclass")
    return cls
