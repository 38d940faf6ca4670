"""Reduce article URLs to a dedupe key: redirectors unwrapped; tracking parameters, fragments, AMP variants dropped."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from urllib.parse import SplitResult, parse_qsl, quote, unquote_plus, urlencode, urljoin, urlsplit

MAX_KEY = 700
# Redirectors wrapped in redirectors (an alert linking a news search result) are unwrapped this many times.
MAX_UNWRAP = 4

# Query parameters that only say how a reader arrived (campaign, click and mail ids); every other parameter is kept,
# because one may be what tells two articles apart (`?p=123`, `?v=...`, `index.php?option=...&id=...`). A name is
# listed only where it means tracking on every site: `ref`, `source`, `src` or `partner` choose content on some.
TRACKING_PREFIXES = ("utm_", "mtm_", "hsa_")
TRACKING_PARAMS = frozenset(
    {
        # Google Analytics and Ads, the cross-domain linker
        "_ga", "_gl", "gclid", "gclsrc", "dclid", "gbraid", "wbraid",
        # Facebook, Instagram, Microsoft Ads, X/Twitter, TikTok, LinkedIn, Yandex
        "fbclid", "igshid", "igsh", "msclkid", "twclid", "ttclid", "li_fat_id", "yclid", "ysclid", "_openstat",
        # Mail and marketing platforms: Mailchimp, HubSpot, Marketo, Omeda, Vero, Drip, Adobe
        "mc_cid", "mc_eid", "_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp", "mkt_tok", "oly_anon_id", "oly_enc_id",
        "vero_conv", "vero_id", "__s", "s_cid", "s_kwcid",
        # Matomo/Piwik campaigns (their `mtm_` names are a prefix above)
        "pk_campaign", "pk_kwd", "pk_source", "pk_medium", "pk_content", "piwik_campaign", "piwik_kwd",
        # AT Internet (Le Monde, France TV...), Webtrekk (heise, Spiegel...), X share links
        "xtor", "at_medium", "at_campaign", "wt_mc", "wt_zmc", "ref_src", "ref_url",
        # Publishers' own feed and share markers: Washington Post, MSN, NYT, HuffPost/Yahoo
        "wprss", "ocid", "cmpid", "smid", "ncid",
    }
)  # fmt: skip
_AMP_QUERY = frozenset({"amp", "outputtype", "output", "_amp", "usqp", "amp_js_v"})

_HOST_PREFIXES = re.compile(r"^(?:www\d?|m|mobile|amp)\.")
_AMP_PATH = re.compile(r"(?:/amp/?$|^/amp(?=/)|\.amp(?=$|\.html?$))", re.I)
_LEADING_DOTS = re.compile(r"^(?:/\.\.(?=/|$))+")
# A Java servlet session id in the path (";jsessionid=..."): it differs per visitor, never per article.
_SESSION_ID = re.compile(r";jsessionid=[^/;?#]*", re.I)
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# What may stay unescaped in a path (RFC 3986 pchar and "/"); anything else is percent-encoded, so a path given
# raw ("/café") and escaped ("/caf%C3%A9") share a key.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"

# Redirectors whose target is written in the link itself (see _redirect_target), each with the parameters it uses
# itself: Google Alerts and Google's result links (google.<tld>/url), Bing News, Facebook's outbound links.
_GOOGLE_HOST = re.compile(r"^google\.(?:[a-z]{2,3}|com?\.[a-z]{2})$")
_GOOGLE_OWN = frozenset(
    {"rct", "sa", "url", "q", "ct", "cd", "usg", "ved", "source", "esrc", "uact", "opi", "sqi", "ust"}
)
_BING_OWN = frozenset({"ref", "aid", "tid", "url", "c", "mkt", "cc", "setlang"})
_FACEBOOK_OWN = frozenset({"u", "h", "s", "enc"})
_FACEBOOK_HOSTS = frozenset({"l.facebook.com", "lm.facebook.com", "facebook.com", "m.facebook.com"})
# news.google.com article links: older ids are a protobuf message whose field 4 is the article URL.
_GOOGLE_NEWS_PATH = re.compile(r"^(?:/__i)?(?:/rss)?(?:/rd)?/articles/([A-Za-z0-9_-]{8,})/?$")


# Stored items keep the key this returned when they were stored: whatever changes its output for some URL needs a
# migration that re-keys them (0006_rekey_urls.rekey_items does the work), or copies of stored articles come in new.
def url_key(url: str) -> str | None:
    """Dedupe key for an article URL, or None when `url` is not an http(s) URL.

    Two links share a key when they lead to one article: a redirector's link and its target (Google Alerts, Google
    News, Bing News, Facebook), copies differing only in tracking parameters, parameter order, fragment, scheme,
    host case, `www.`/`m.`/`amp.` host, AMP path or parameter, default port, percent-encoding or trailing slash.
    Every other query parameter is kept: it may be the one that names the article.
    """
    if not url:
        return None
    url = url.strip()
    if not url[:8].lower().startswith(("http://", "https://")):
        return None
    parts = _split(url)
    if parts is None:
        return None
    key = _key(_unwrap(parts))
    if len(key) > MAX_KEY:
        # Over-long keys would not fit the unique index on every backend; a digest keeps them unique.
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def redirect_target(url: str) -> str | None:
    """The article a known redirector link leads to (unwrapped as far as it goes), or None for any other link."""
    parts = _split(url.strip()) if url else None
    if parts is None:
        return None
    target = _unwrap(parts)
    return None if target is parts else target.geturl()


def guid_key(guid: str) -> str:
    """Guids are stored as given unless they are too long for the index."""
    return guid if len(guid) <= MAX_KEY else "sha256:" + hashlib.sha256(guid.encode()).hexdigest()


def is_tracking_param(name: str) -> bool:
    """True for a query parameter that only tracks the visit (TRACKING_PARAMS, TRACKING_PREFIXES)."""
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _unwrap(parts: SplitResult) -> SplitResult:
    """The innermost target of a chain of redirector links (`parts` itself when it is not one)."""
    for _ in range(MAX_UNWRAP):
        target = _redirect_target(parts)
        if target is None:
            break
        parts = target
    return parts


def _split(url: str) -> SplitResult | None:
    """`url` split, when it is an absolute http(s) URL with a host and a valid port."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number in range)
    except ValueError:  # "http://[not-an-ip]/", "http://host:99999/"
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return parts


def _key(parts: SplitResult) -> str:
    host = (parts.hostname or "").rstrip(".")
    if "xn--" in host:
        host = ".".join(_unpunycode(label) for label in host.split("."))
    host = _HOST_PREFIXES.sub("", host)
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    path = _LEADING_DOTS.sub("", re.sub(r"/{2,}", "/", parts.path))
    if ";" in path:
        path = _SESSION_ID.sub("", path)
    path = _normal_escapes(quote(path, safe=_PATH_SAFE))
    path = _AMP_PATH.sub("", path) or "/"
    path = re.sub(r"/{2,}", "/", path)
    if len(path) > 1:
        path = path.rstrip("/")
    # Sorted by name only: a repeated parameter keeps the order of its values, which may mean something.
    query = sorted(
        ((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _dropped_param(k)),
        key=lambda pair: pair[0],
    )
    key = host + path + ("?" + urlencode(query) if query else "")
    # A hash-bang or "#/" fragment is a route in a single-page site: it names the page, not a place on it.
    if parts.fragment[:1] in ("!", "/") and len(parts.fragment) > 1:
        key += "#" + _normal_escapes(quote(parts.fragment, safe=_PATH_SAFE + "?"))
    return key


def _dropped_param(name: str) -> bool:
    return is_tracking_param(name) or name.lower() in _AMP_QUERY


def _normal_escapes(value: str) -> str:
    """Escapes of unreserved characters decoded (%7E -> ~), the others in upper case (%c3 -> %C3)."""
    if "%" not in value:
        return value
    return _ESCAPE.sub(lambda m: chr(int(m[1], 16)) if chr(int(m[1], 16)) in _UNRESERVED else m[0].upper(), value)


def _unpunycode(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        return label.encode("ascii").decode("idna")
    except UnicodeError:
        return label


def _redirect_target(parts: SplitResult) -> SplitResult | None:
    """The target of a redirector link, when it is one and its target is an http(s) URL."""
    host = (parts.hostname or "").removeprefix("www.")
    path = parts.path
    if _GOOGLE_HOST.match(host) and path == "/url":
        return _target_param(parts, ("url", "q"), _GOOGLE_OWN)
    if host == "bing.com" and path.lower() == "/news/apiclick.aspx":
        return _target_param(parts, ("url",), _BING_OWN)
    if host in _FACEBOOK_HOSTS and path == "/l.php":
        return _target_param(parts, ("u",), _FACEBOOK_OWN)
    if host == "news.google.com":
        found = _GOOGLE_NEWS_PATH.match(path)
        return _google_news_target(found[1]) if found else None
    return None


def _target_param(parts: SplitResult, names: tuple[str, ...], own: frozenset[str]) -> SplitResult | None:
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    for name in names:
        value = next((v.strip() for k, v in pairs if k == name and v.strip()), None)
        target = _split(value) if value else None
        if target is None:
            continue
        raw = next((v for k, _, v in (p.partition("=") for p in parts.query.split("&")) if unquote_plus(k) == name), "")
        if "?" in raw:
            # The target was pasted unescaped, so its own "&a=b" parameters were read as the wrapper's: give back
            # those the redirector does not use, or two articles differing only in them would share a key.
            extra = [(k, v) for k, v in pairs if k not in own]
            if extra:
                query = target.query + ("&" if target.query else "") + urlencode(extra)
                target = target._replace(query=query)
        return target
    return None


def _google_news_target(token: str) -> SplitResult | None:
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    # Field 1 (a varint: the id's type), then field 4 (length-delimited: the URL). Newer ids hold an opaque
    # token in field 4 instead, which is not a URL and so keeps the Google News link as the key.
    if data[:1] != b"\x08":
        return None
    position = _skip_varint(data, 1)
    if position is None or data[position : position + 1] != b'"':
        return None
    length, position = _read_varint(data, position + 1)
    if length is None or position + length > len(data):
        return None
    try:
        text = data[position : position + length].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return _split(text) if text.lower().startswith(("http://", "https://")) else None


def _read_varint(data: bytes, position: int) -> tuple[int | None, int]:
    value = 0
    for shift in range(0, 35, 7):
        if position >= len(data):
            return None, position
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
    return None, position


def _skip_varint(data: bytes, position: int) -> int | None:
    value, position = _read_varint(data, position)
    return None if value is None else position


def http_url(raw: str | None, base: str | None = None) -> str | None:
    """`raw` as an absolute http(s) URL (resolved against `base`; `feed:` URLs unwrapped), else None."""
    if not raw:
        return None
    url = raw.strip()
    # feed://host/path and feed:https://host/path are the old "subscribe" scheme: the feed is plain HTTP.
    if url.lower().startswith("feed:"):
        url = url[5:]
        url = url if url.lower().startswith(("http://", "https://")) else "http:" + url
    try:
        # urljoin and urlsplit raise ValueError on junk such as "http://[not-an-ip]/" found in real pages.
        url = urljoin(base, url) if base else url
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def feed_key(url: str) -> str | None:
    """Dedupe key for a feed URL: `url_key` with the query as given (tracking parameters aside), not unwrapped.

    Query parameters often choose the feed (`?feed=rss2`, `news/rss?type=press_release`, `videos.xml?channel_id=`),
    and a feed URL that looks like a redirector is a feed of its own.
    """
    key = url_key(url)
    if key is None or key.startswith("sha256:"):
        return key
    try:
        query = urlsplit(url.strip()).query
    except ValueError:
        return key
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not is_tracking_param(k)]
    return key.split("?", 1)[0] + ("?" + urlencode(sorted(kept)) if kept else "")
