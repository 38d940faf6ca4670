"""Refuse connections to non-public addresses: a DNS resolver that checks what names resolve to, and a downloader
middleware that checks IP-literal hosts and URL schemes on every request, redirect hop and robots.txt fetch."""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.resolver import CachingThreadedResolver
from scrapy.settings import BaseSettings
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import load_object
from twisted.internet.base import ReactorBase
from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError

from aggregator.crawl.addresses import ALLOW_HINT, AddressPolicy, host_key
from aggregator.spiders.settings import ALLOW_NETWORKS_SETTING, ALLOW_PRIVATE_SETTING, GUARD_RESOLVER

# Host name -> why its address was refused, filled by the resolver (one per crawl process, like Scrapy's DNS cache).
# Twisted reports a refused lookup to the connection only as "no results for hostname lookup": the middleware
# finds the reason here.
_REFUSED: dict[str, str] = {}


def policy_from(settings: BaseSettings) -> AddressPolicy:
    return AddressPolicy.from_settings(
        settings.getbool(ALLOW_PRIVATE_SETTING), [str(e) for e in settings.getlist(ALLOW_NETWORKS_SETTING)]
    )


class RefusedAddress(IgnoreRequest):
    """A request the address policy refused; its text is the line stored as the fetch error (after "fetch: ")."""

    def __init__(self, request: Request, reason: str, *, hint: bool = True) -> None:
        hops = request.meta.get("redirect_urls") or []
        via = f" (redirected from {hops[-1]})" if hops else ""
        super().__init__(f"refused {request.url}{via}: {reason}" + (f"; {ALLOW_HINT}" if hint else ""))


class RefusedLookup(DNSLookupError):
    """Raised by the resolver. A DNSLookupError, so Twisted drops the address quietly instead of logging a
    traceback; the connection then fails as a failed lookup, which the middleware turns into RefusedAddress."""


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, refusing (every time, cached or not) names whose address the policy forbids.

    Every HTTP connection Scrapy's HTTP/1.1 handler opens resolves its host through the reactor's resolver,
    IP literals included, so this is the check on the address actually connected to: a DNS name that resolves to
    10.x, or resolves differently on a second lookup (rebinding), cannot get past it.
    """

    def __init__(self, reactor: ReactorBase, cache_size: int, timeout: float, policy: AddressPolicy) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: ReactorBase) -> GuardedResolver:
        settings = crawler.settings
        cache_size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        return cls(reactor, cache_size, settings.getfloat("DNS_TIMEOUT"), policy_from(settings))

    def getHostByName(self, name: str, timeout: Any = ()) -> Deferred[str]:  # noqa: N802 - Twisted's interface
        lookup = super().getHostByName(name, timeout)
        lookup.addCallback(self._check, name)
        return lookup

    def _check(self, address: str, name: str) -> str:
        reason = self.policy.refusal(name, address)
        if reason is None:
            _REFUSED.pop(host_key(name), None)
            return address
        _REFUSED[host_key(name)] = reason
        raise RefusedLookup(reason)


class AddressGuardMiddleware:
    """Refuses non-http(s) URLs and non-public IP-literal hosts before any connection, and names the reason when
    the resolver refused a host name. Redirect hops and robots.txt requests pass through here like any other."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        policy = policy_from(crawler.settings)
        if not policy.allow_all:
            _check_engine(crawler.settings)
        return cls(policy)

    def process_request(self, request: Request) -> None:
        parts = urlparse_cached(request)
        if parts.scheme not in ("http", "https"):
            # file: would read this machine's files, s3: and ftp: reach other services: none is a news page.
            raise RefusedAddress(request, f"only http and https URLs are fetched, not {parts.scheme}:", hint=False)
        reason = self.policy.refusal(parts.hostname or "")
        if reason is not None:
            raise RefusedAddress(request, reason)

    def process_exception(self, request: Request, exception: Exception) -> None:
        if isinstance(exception, CannotResolveHostError | DNSLookupError):
            reason = _REFUSED.get(host_key(urlparse_cached(request).hostname or ""))
            if reason is not None:
                raise RefusedAddress(request, reason) from exception


def _check_engine(settings: BaseSettings) -> None:
    """The resolver only sees connections made by Twisted's HTTP/1.1 handler: refuse to crawl with anything else."""
    from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler  # here: the handler imports the reactor

    resolver = load_object(settings["TWISTED_DNS_RESOLVER"])
    if not (isinstance(resolver, type) and issubclass(resolver, GuardedResolver)):
        raise RuntimeError(f"crawl: TWISTED_DNS_RESOLVER must be {GUARD_RESOLVER} to refuse private addresses")
    handlers = {**settings.getdict("DOWNLOAD_HANDLERS_BASE"), **settings.getdict("DOWNLOAD_HANDLERS")}
    for scheme in ("http", "https"):
        path = handlers.get(scheme)
        handler = load_object(path) if isinstance(path, str) else path
        if not (isinstance(handler, type) and issubclass(handler, HTTP11DownloadHandler)):
            raise RuntimeError(
                f"crawl: the {scheme} download handler must be Scrapy's HTTP11DownloadHandler, whose connections "
                f"the address guard checks (got {path!r})"
            )
