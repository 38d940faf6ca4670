"""Turn Twisted/Scrapy failures and HTTP statuses into one clear line naming the stage."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from scrapy.exceptions import IgnoreRequest
from twisted.internet.defer import CancelledError
from twisted.internet.error import (
    ConnectError,
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived


def describe_failure(failure: Any, max_bytes: int) -> str:
    """One line for a failed request: what went wrong, in words a maintainer can act on."""
    exc = failure.value
    if isinstance(exc, TimeoutError | TCPTimedOutError):
        return "fetch: timed out (no complete response within the download timeout)"
    if isinstance(exc, DNSLookupError):
        return f"fetch: DNS lookup failed: {exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "fetch: connection refused"
    if isinstance(exc, ConnectError):
        return f"fetch: cannot connect: {exc}"
    if isinstance(exc, CancelledError):
        text = str(exc)
        if "max" in text.lower() or "size" in text.lower() or not text:
            return f"fetch: response larger than the {max_bytes:,} byte limit, download cancelled"
        return f"fetch: download cancelled: {text}"
    if isinstance(exc, ResponseNeverReceived | ResponseFailed):
        reasons = "; ".join(str(r.value) for r in getattr(exc, "reasons", [])[:2]) or str(exc)
        if "size" in reasons.lower() or "maxsize" in reasons.lower():
            return f"fetch: response larger than the {max_bytes:,} byte limit, download cancelled"
        return f"fetch: connection failed before a complete response: {reasons[:300]}"
    if isinstance(exc, IgnoreRequest):
        text = str(exc) or "request dropped"
        if "robots" in text.lower() or "Forbidden by robots.txt" in text:
            return "fetch: robots.txt forbids this page"
        if "redirect" in text.lower():
            return f"fetch: too many redirects ({text})"
        return f"fetch: request dropped: {text}"
    return f"fetch: {type(exc).__name__}: {str(exc)[:300]}"


def describe_status(status: int) -> str:
    """`fetch: HTTP 404 Not Found` and friends."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "unknown status"
    return f"fetch: HTTP {status} {phrase}"
