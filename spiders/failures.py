"""Turn Twisted/Scrapy failures and HTTP statuses into one clear line naming the stage."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest

from aggregator.spiders.guard import RefusedAddress

# Scrapy 2.13+ raises its own exception types, older ones Twisted's: both are matched by name so the
# message stays the same whichever version is installed.
_BY_NAME = {
    "TimeoutError": "timed out (no complete response within the download timeout)",
    "TCPTimedOutError": "timed out (no complete response within the download timeout)",
    "DownloadTimeoutError": "timed out (no complete response within the download timeout)",
    "DNSLookupError": "DNS lookup failed",
    "CannotResolveHostError": "DNS lookup failed",
    "ConnectionRefusedError": "connection refused",
    "DownloadConnectionRefusedError": "connection refused",
    "ConnectError": "cannot connect",
    "UnsupportedURLSchemeError": "unsupported URL scheme",
}
_SIZE = "response larger than the {limit:,} byte limit, download cancelled"


def describe_failure(failure: Any, max_bytes: int) -> str:
    """One line for a failed request: what went wrong, in words a maintainer can act on."""
    exc = failure.value
    name = type(exc).__name__
    text = str(exc)
    if name in _BY_NAME:
        host = urlsplit(getattr(failure.request, "url", "") or "").hostname if hasattr(failure, "request") else None
        return f"fetch: {_BY_NAME[name]}" + (f" ({host})" if host and "DNS" in _BY_NAME[name] else "")
    if name in ("CancelledError", "DownloadCancelledError"):
        if not text or "size" in text.lower():
            return "fetch: " + _SIZE.format(limit=max_bytes)
        return f"fetch: download cancelled: {text[:300]}"
    if name in ("ResponseNeverReceived", "ResponseFailed", "ResponseDataLossError", "DownloadFailedError"):
        reasons = "; ".join(str(r.value) for r in getattr(exc, "reasons", [])[:2]) or text
        if "size" in reasons.lower():
            return "fetch: " + _SIZE.format(limit=max_bytes)
        return f"fetch: connection failed before a complete response: {reasons[:300]}"
    if isinstance(exc, RefusedAddress):
        return f"fetch: {text}"  # already one line naming the URL, the address and the settings that allow it
    if isinstance(exc, IgnoreRequest):
        lowered = text.lower()
        if "robots" in lowered:
            return "fetch: robots.txt forbids this page"
        if "redirect" in lowered:
            return f"fetch: too many redirects ({text})"
        return f"fetch: request dropped: {text or 'no reason given'}"
    return f"fetch: {name}: {text[:300]}"


def describe_status(status: int) -> str:
    """`fetch: HTTP 404 Not Found` and friends."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "unknown status"
    return f"fetch: HTTP {status} {phrase}"
