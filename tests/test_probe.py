"""`probe`: a few URLs fetched now through Scrapy in a child process, under the crawl's politeness policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.crawl.probe import probe
from aggregator.errors import FetchError
from tests import feedgen
from tests.crawling import fast_settings
from tests.httpserver import Reply, TestServer


def test_probe_reports_each_url_in_order(tmp_path: Path, server: TestServer) -> None:
    body = feedgen.rss20([feedgen.item(1, server.base)])
    server.add("/feed", Reply(body=body, headers={"ETag": '"v1"', "Last-Modified": "Tue, 24 Nov 2026 10:00:00 GMT"}))
    server.add("/old", Reply(status=301, headers={"Location": server.url("/feed")}))
    server.add("/big", Reply(body=b"x" * 20_000))
    server.add("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /private\n", content_type="text/plain"))
    server.add("/private", Reply(body=b"<html><p>members</p></html>", content_type="text/html"))
    settings = fast_settings(tmp_path, retry_times=0, max_response_bytes=10_000)
    urls = [server.url(p) for p in ("/feed", "/old", "/missing", "/big", "/private")] + ["http://127.0.0.1:1/"]
    feed, moved, missing, big, private, refused = probe(urls, settings)
    assert feed.ok and feed.status == 200 and feed.body == body and feed.final_url == urls[0]
    assert feed.headers == {"content-type": "application/rss+xml", "etag": '"v1"',
                            "last-modified": "Tue, 24 Nov 2026 10:00:00 GMT"}  # fmt: skip
    assert feed.elapsed_ms is not None and feed.elapsed_ms >= 0
    assert moved.ok and moved.url == urls[1] and moved.final_url == urls[0] and moved.body == body
    assert not missing.ok and missing.status == 404 and missing.error == "fetch: HTTP 404 Not Found"
    assert big.error is not None and "10,000 byte limit" in big.error and big.body == b""
    assert private.ok  # feeds and sitemaps are for machines: robots.txt is not consulted for them
    assert refused.error == "fetch: connection refused" and refused.status is None
    hit = server.hits("/feed")[0]
    assert hit.headers["user-agent"] == settings.crawl.user_agent and "application/rss+xml" in hit.headers["accept"]
    (page,) = probe([server.url("/private")], settings, pages=True)
    assert page.error == "fetch: robots.txt forbids this page" and not page.ok
    assert probe([], settings) == []


def test_probe_fails_clearly_when_the_fetch_process_fails(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path)
    with pytest.raises(FetchError, match=r"fetch: the fetch process failed \(exit code \d+\): .*No module named"):
        probe(["http://127.0.0.1:1/"], settings, extra_scrapy_settings={"TWISTED_REACTOR": "no.such.Reactor"})
