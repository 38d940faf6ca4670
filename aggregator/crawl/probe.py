"""Fetch a few URLs now (feed discovery, dry runs) through the crawl engine, in a child process like a crawl."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aggregator.config.settings import Settings
from aggregator.errors import FetchError

log = logging.getLogger(__name__)

BACKOFF_MAX_SECONDS = 30.0  # spiders.middlewares' longest wait between retries


@dataclass(frozen=True)
class ProbeResult:
    """What one GET brought back. `headers` holds content-type, etag and last-modified (lower-case keys) when sent;
    `error` is one line (`fetch: HTTP 404 Not Found`, `fetch: timed out`) or None."""

    url: str
    final_url: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    elapsed_ms: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """A 2xx response with a body to look at."""
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def probe(
    urls: Sequence[str],
    settings: Settings,
    *,
    pages: bool = False,
    extra_scrapy_settings: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> list[ProbeResult]:
    """GET every URL once, concurrently, under settings.toml's crawl policy; one result per URL, in order.

    `pages=True` says the URLs are web pages, so robots.txt applies (when settings say so); otherwise they are
    feeds or sitemaps, which are published for machines. Nothing is stored. Failed fetches are results with an
    `error`; FetchError is raised only when the fetch process itself fails or overruns `timeout` seconds.
    """
    if not urls:
        return []
    crawl = settings.crawl
    if timeout is None:
        # Only a safety net: Scrapy's own timeouts end every request (with its retries) well before this.
        per_request = crawl.timeout * (crawl.retry_times + 1) + BACKOFF_MAX_SECONDS * crawl.retry_times
        timeout = 60 + per_request + len(urls) * (2 * crawl.download_delay + 1)
    job = {
        "crawl": crawl.model_dump(mode="json"),
        "requests": [{"url": url, "page": pages} for url in urls],
        "scrapy": dict(extra_scrapy_settings or {}),
    }
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "aggregator.spiders.probe"],
            input=json.dumps(job).encode(),
            capture_output=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed the child by now
        raise FetchError(f"fetch: the fetch process did not finish within {timeout:.0f} s") from exc
    except OSError as exc:
        raise FetchError(f"fetch: cannot start the fetch process: {exc}") from exc
    stderr = done.stderr.decode("utf-8", "replace").strip()
    if stderr:
        log.debug("fetch process log:\n%s", stderr)
    found: dict[int, ProbeResult] = {}
    for line in done.stdout.splitlines():
        parsed = _result(line)
        if parsed is not None and 0 <= parsed[0] < len(urls):
            found[parsed[0]] = parsed[1]
    if done.returncode != 0 or not found:  # Scrapy may log a start-up error and still exit 0, having done nothing
        lines = stderr.splitlines()
        why = lines[-1] if lines else "no output"
        raise FetchError(f"fetch: the fetch process failed (exit code {done.returncode}): {why}")
    missing = "fetch: no response recorded (run with --verbose to see the fetch process's log)"
    return [found.get(index) or ProbeResult(url, error=missing) for index, url in enumerate(urls)]


def _result(line: bytes) -> tuple[int, ProbeResult] | None:
    try:
        data = json.loads(line)
        if not isinstance(data, dict):
            return None
        body = base64.b64decode(data.get("body") or "", validate=True)
        index = int(data["index"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None  # not one of ours: a library printed something
    headers = data.get("headers")
    headers = headers if isinstance(headers, dict) else {}
    return index, ProbeResult(
        url=str(data.get("url")),
        final_url=data.get("final_url"),
        status=data.get("status"),
        headers={str(k): str(v) for k, v in headers.items()},
        body=body,
        elapsed_ms=data.get("elapsed_ms"),
        error=data.get("error"),
    )
