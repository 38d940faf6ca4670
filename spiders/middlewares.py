"""Retries that wait: exponential backoff with jitter between attempts, instead of Scrapy's immediate retry."""

from __future__ import annotations

import random
from typing import Any

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0


class BackoffRetryMiddleware(RetryMiddleware):
    """Like RetryMiddleware, but retry N waits about base * 2**(N-1) seconds before it is sent."""

    def _retry(self, request: Request, reason: Any) -> Request | None:
        retry = super()._retry(request, reason)
        if retry is not None:
            attempt = retry.meta.get("retry_times", 1)
            base = float(self.crawler.settings.getfloat("RETRY_BACKOFF_BASE", BACKOFF_BASE_SECONDS))
            delay = min(BACKOFF_MAX_SECONDS, base * 2 ** (attempt - 1))
            retry.meta["retry_delay"] = delay * random.uniform(0.75, 1.25)
        return retry

    async def process_request(self, request: Request) -> None:
        delay = request.meta.pop("retry_delay", 0)
        if delay:
            # Twisted's timer, awaited the way Scrapy awaits Deferreds, so it works on whichever reactor runs;
            # imported here, not at the top, because importing the reactor first would install the wrong one.
            from scrapy.utils.defer import maybe_deferred_to_future
            from twisted.internet import reactor
            from twisted.internet.task import deferLater

            await maybe_deferred_to_future(deferLater(reactor, delay))  # type: ignore[arg-type]
        return None
