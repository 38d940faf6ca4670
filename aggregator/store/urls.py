"""Reduce article URLs to a dedupe key: tracking parameters, fragments, AMP and mobile variants removed."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import courlan

_HOST_PREFIXES = re.compile(r"^(?:www\d?|m|mobile|amp)\.")
_AMP_QUERY = {"amp", "outputtype", "output", "_amp", "usqp", "amp_js_v"}
_AMP_PATH = re.compile(r"(?:/amp/?$|^/amp(?=/)|\.amp(?=$|\.html?$))", re.I)
MAX_KEY = 700
_PLAIN = re.compile(r"^https?://[A-Za-z0-9.-]+(?::\d+)?(?:/[A-Za-z0-9._~/-]*)?$", re.IGNORECASE)


def url_key(url: str) -> str | None:
    """Dedupe key for an article URL, or None when `url` is not an http(s) URL."""
    if not url or not url.lower().startswith(("http://", "https://")):
        return None
    url = url.strip()
    if _PLAIN.match(url):
        # Only unreserved characters, no query or fragment: courlan would change nothing but the case of the
        # scheme and host, so skip it (it is the costliest step of storing an item).
        normalized = url
    else:
        try:
            normalized = courlan.normalize_url(url, strict=True)
        except (ValueError, TypeError):
            normalized = url
    parts = urlsplit(normalized)
    host = _HOST_PREFIXES.sub("", (parts.hostname or "").lower())
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    path = _AMP_PATH.sub("", parts.path) or "/"
    path = re.sub(r"/{2,}", "/", path)
    if len(path) > 1:
        path = path.rstrip("/")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in _AMP_QUERY]
    key = host + path + ("?" + urlencode(sorted(query)) if query else "")
    if len(key) > MAX_KEY:
        # Over-long keys would not fit the unique index on every backend; a digest keeps them unique.
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def guid_key(guid: str) -> str:
    """Guids are stored as given unless they are too long for the index."""
    return guid if len(guid) <= MAX_KEY else "sha256:" + hashlib.sha256(guid.encode()).hexdigest()
