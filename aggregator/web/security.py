"""Who may change data through the web app: the reporter's token, a signed session cookie, CSRF and origin checks.

The token (env AGGREGATOR_WEB_TOKEN) is a shared secret. Giving it once on the login form sets a session cookie
`<issued>-<nonce>.<hmac>` signed with a key derived from the token, so changing the token ends every session.
Each form that changes data carries a CSRF token, an HMAC of the session's nonce under the same key: a page on
another site can neither read it nor compute it. Every POST must also come from this site (Origin, or Referer
when a browser sends no Origin, must name the Host the request was sent to). Wrong tokens are throttled per
client address (LoginThrottle), and a token shorter than MIN_TOKEN_LENGTH is refused at startup.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import os
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.requests import Request

from aggregator.errors import ConfigError

TOKEN_ENV = "AGGREGATOR_WEB_TOKEN"
SESSION_COOKIE = "agg_session"
_UNSAFE_IN_PATH = re.compile(r"[\x00-\x1f\x7f\\]")
SESSION_AGE = 30 * 86400  # seconds; a stolen cookie stops working after this, whatever the browser keeps
# Five wrong tries a minute from an address is 7 million a year: nothing against 16 random characters, everything
# against a word. The throttle only slows guessing down; the length is what makes it hopeless.
MIN_TOKEN_LENGTH = 16


def token_from_env() -> str:
    return os.environ.get(TOKEN_ENV, "").strip()


def web_token(given: str | None, configured: str) -> str:
    """The token feedback uses: `given` (when not None), else $AGGREGATOR_WEB_TOKEN, else `configured` ([web] token);
    "" turns feedback off. Raises ConfigError, naming where the token came from, when it is too short."""
    if given is not None:
        token, where = given.strip(), "the web token"
    elif token_from_env():
        token, where = token_from_env(), TOKEN_ENV
    else:
        token, where = configured.strip(), "[web] token in settings.toml"
    if token and len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"web: {where} is {len(token)} characters; it must have at least {MIN_TOKEN_LENGTH} (a short one can be "
            f'guessed): make one with: python -c "import secrets; print(secrets.token_urlsafe(24))"'
        )
    return token


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


class LoginThrottle:
    """Counts wrong tokens per client address: after `limit` of them within `window` seconds, the address must
    wait until the oldest is that old. At most `max_clients` addresses are remembered (the least recent go first),
    so a flood of addresses cannot fill the memory; IPv6 addresses count per /64, what one host usually holds."""

    def __init__(
        self,
        limit: int = 5,
        window: float = 60.0,
        max_clients: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._failures)

    @staticmethod
    def _key(client: str) -> str:
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return client
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:
                return str(address.ipv4_mapped)
            return str(ipaddress.IPv6Network((address, 64), strict=False))
        return str(address)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        while times and now - times[0] >= self.window:
            times.popleft()
        if times is not None and not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, client: str) -> int:
        """Whole seconds `client` must wait before its next try; 0 when it may try now."""
        now = self._clock()
        with self._lock:
            times = self._recent(self._key(client), now)
            if times is None or len(times) < self.limit:
                return 0
            return max(1, math.ceil(times[-self.limit] + self.window - now))

    def failed(self, client: str) -> None:
        """Count one wrong token from `client`."""
        key, now = self._key(client), self._clock()
        with self._lock:
            times = self._recent(key, now)
            if times is None:
                times = self._failures[key] = deque(maxlen=self.limit)
            times.append(now)
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        """Forget `client`'s wrong tokens: the reporter who mistyped twice starts afresh."""
        with self._lock:
            self._failures.pop(self._key(client), None)


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
