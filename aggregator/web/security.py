"""Who may change data through the web app: the reporter's token, a signed session cookie, CSRF and origin checks.

The token (env AGGREGATOR_WEB_TOKEN) is a shared secret. Giving it once on the login form sets a session cookie
`<issued>-<nonce>.<hmac>` signed with a key derived from the token, so changing the token ends every session.
Each form that changes data carries a CSRF token, an HMAC of the session's nonce under the same key: a page on
another site can neither read it nor compute it. Every POST must also come from this site (Origin, or Referer
when a browser sends no Origin, must name the Host the request was sent to).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from urllib.parse import urlsplit

from starlette.requests import Request

TOKEN_ENV = "AGGREGATOR_WEB_TOKEN"
SESSION_COOKIE = "agg_session"
_UNSAFE_IN_PATH = re.compile(r"[\x00-\x1f\x7f\\]")
SESSION_AGE = 30 * 86400  # seconds; a stolen cookie stops working after this, whatever the browser keeps


def token_from_env() -> str:
    return os.environ.get(TOKEN_ENV, "").strip()


class Guard:
    """Issues and checks sessions and CSRF tokens for one web token; everything is refused when it is empty."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        # A derived key rather than the token itself: a cookie never carries anything that reveals the token.
        self._key = hashlib.sha256(b"beat-aggregator web\0" + self._token).digest()

    @property
    def enabled(self) -> bool:
        return bool(self._token)

    def _sign(self, purpose: str, nonce: str) -> str:
        return hmac.new(self._key, f"{purpose}:{nonce}".encode(), hashlib.sha256).hexdigest()

    def token_matches(self, given: str) -> bool:
        return self.enabled and hmac.compare_digest(given.strip().encode(), self._token)

    def new_session(self, now: float | None = None) -> str:
        nonce = f"{int(now if now is not None else time.time())}-{secrets.token_urlsafe(18)}"
        return f"{nonce}.{self._sign('session', nonce)}"

    def session_nonce(self, cookie: str | None, now: float | None = None) -> str | None:
        """The nonce of a valid, unexpired session cookie, else None."""
        if not self.enabled or not cookie or "." not in cookie:
            return None
        nonce, signature = cookie.rsplit(".", 1)
        if not hmac.compare_digest(signature, self._sign("session", nonce)):
            return None
        issued = nonce.split("-", 1)[0]
        age = (now if now is not None else time.time()) - int(issued) if issued.isdigit() else SESSION_AGE + 1
        return nonce if 0 <= age <= SESSION_AGE else None

    def csrf_token(self, cookie: str | None) -> str | None:
        nonce = self.session_nonce(cookie)
        return None if nonce is None else self._sign("csrf", nonce)

    def csrf_matches(self, cookie: str | None, given: str) -> bool:
        expected = self.csrf_token(cookie)
        return expected is not None and hmac.compare_digest(expected, given)


def same_origin(request: Request) -> bool:
    """True when the request's Origin (or, failing that, its Referer) is this site as the browser addressed it."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    host = request.headers.get("host", "").lower()
    if not claimed or not host or claimed == "null":
        return False
    parts = urlsplit(claimed)
    return parts.scheme == request.url.scheme and parts.netloc.lower() == host


def local_path(target: str, default: str = "/") -> str:
    """`target` if it is a path on this site; never a URL elsewhere (no open redirect after login)."""
    # Browsers drop tabs and newlines from URLs and read "\" as "/": "/<tab>/evil.example" would leave the site.
    if target.startswith("/") and not target.startswith("//") and not _UNSAFE_IN_PATH.search(target):
        return target
    return default
