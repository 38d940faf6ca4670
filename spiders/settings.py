"""Scrapy settings derived from settings.toml: one politeness policy for every request."""

from __future__ import annotations

from typing import Any

from aggregator.config.settings import CrawlSettings

# 429 is left out on purpose: a rate-limited source waits for its Retry-After, not for our retry loop.
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408]
# Sent with feed requests: servers that negotiate content then send the feed rather than an HTML page.
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
# settings.toml's address allowances, as Scrapy settings the guard's resolver and middleware read.
ALLOW_PRIVATE_SETTING = "AGGREGATOR_ALLOW_PRIVATE_NETWORKS"
ALLOW_NETWORKS_SETTING = "AGGREGATOR_ALLOW_NETWORKS"
GUARD_RESOLVER = "aggregator.spiders.guard.GuardedResolver"


def scrapy_settings(crawl: CrawlSettings) -> dict[str, Any]:
    """The settings dict for CrawlerProcess."""
    return {
        "BOT_NAME": "beat-aggregator",
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots_txt,
        "CONCURRENT_REQUESTS": crawl.concurrent_requests,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_per_host,
        "DOWNLOAD_DELAY": crawl.download_delay,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(crawl.download_delay, 0.1),
        "AUTOTHROTTLE_MAX_DELAY": 60.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(crawl.concurrent_per_host),
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "DOWNLOAD_MAXSIZE": crawl.max_response_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "RETRY_ENABLED": crawl.retry_times > 0,
        "RETRY_TIMES": crawl.retry_times,
        "RETRY_HTTP_CODES": RETRY_HTTP_CODES,
        "REDIRECT_MAX_TIMES": crawl.max_redirects,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "LOG_ENABLED": True,
        # Newer Scrapy opens a remote-control HTTP port by default: a crawler has no use for it.
        "REMOTE_CONTROL_ENABLED": False,
        # Each callback yields one report (site spiders a few entries) and the pipeline is synchronous:
        # Scrapy's default of 100 item workers per response is pure overhead here.
        "CONCURRENT_ITEMS": 4,
        # Scrapy parses every callback's source to warn about `return` in generators: costly, and ours have none.
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
        "LOGSTATS_INTERVAL": 0,
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        # Components a feed crawler has no use for cost time on every response (about 8% of a re-crawl):
        # no cookies, logins, Referer headers, depth limits or Scrapy statistics are used here.
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "aggregator.spiders.middlewares.BackoffRetryMiddleware": 550,
            # After the retry middleware: exceptions pass the middlewares from the highest number down, so a
            # refused lookup becomes a refusal here before it could be retried as a DNS failure.
            "aggregator.spiders.guard.AddressGuardMiddleware": 560,
            # Between redirects (600) and decompression (590): final responses, bodies as sent (see spiders.capture).
            "aggregator.spiders.capture.CaptureMiddleware": 595,
            "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
            "scrapy.downloadermiddlewares.stats.DownloaderStats": None,
            # No proxy from http_proxy/https_proxy: a proxy resolves the feed's host name itself, out of the address
            # guard's sight, so a name pointing at 10.x would be fetched through it.
            "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware": None,
        },
        "SPIDER_MIDDLEWARES": {
            "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
            "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
            "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
        },
        "EXTENSIONS": {
            "scrapy.extensions.memusage.MemoryUsage": None,
            "scrapy.extensions.logstats.LogStats": None,
            "scrapy.extensions.corestats.CoreStats": None,
        },
        "ITEM_PIPELINES": {"aggregator.spiders.pipelines.StorePipeline": 300},
        "DNS_TIMEOUT": min(crawl.timeout, 20.0),
        # Feeds can point anywhere: every connection's address is checked (see aggregator.spiders.guard).
        "TWISTED_DNS_RESOLVER": GUARD_RESOLVER,
        ALLOW_PRIVATE_SETTING: crawl.allow_private_networks,
        ALLOW_NETWORKS_SETTING: list(crawl.allow_networks),
    }
