"""Find a site's feeds: advertised links in a page, common feed locations, and what a fetched body is (pure)."""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from lxml import etree
from lxml.html import HTMLParser, document_fromstring

from aggregator.errors import ConfigError
from aggregator.network import registrable_domain
from aggregator.store.urls import feed_key, http_url
from aggregator.text import BOMS

# Declared types that mean "this is a feed" on their own.
_FEED_TYPES = {
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/rdf+xml",
    "application/x.atom+xml",
    "application/x-atom+xml",
    "application/x-rss+xml",
}
# Types that publishers also put on feed links (JSON Feed 1.0 recommended plain application/json; some WordPress
# themes say octet-stream), but which equally label WordPress REST and oEmbed links: trusted only with a feed-like URL.
_VAGUE_TYPES = {"application/json", "application/xml", "text/xml", "application/octet-stream", "text/plain", ""}
_NOT_FEEDS = re.compile(r"/wp-json/|oembed|/xmlrpc\.php", re.IGNORECASE)
_FEEDISH_PATH = re.compile(
    r"(?:^|/)(?:feeds?|rss|atom)(?:/|\.xml|\.rss|\.atom|\.rdf|\.json)?$"  # /feed, /feed/, /rss.xml, /atom.xml
    r"|\.(?:rss|atom|rdf)$"
    r"|(?:^|/)(?:rss|atom|feeds?)[^/]*\.xml$"  # rss2.xml, feed-news.xml
    r"|(?:^|/)(?:rss|atom|feeds?)/(?:[^/]+/)*[^/]+\.(?:xml|rss)$"  # /rss/portada.xml
    r"|(?:^|/)feeds/posts/default$"  # Blogger
    r"|/feed\.json$|(?:^|/)index\.xml$",
    re.IGNORECASE,
)
_FEEDISH_QUERY = re.compile(
    r"(?:^|&)(?:feed=(?:rss2?|atom|rdf)|format=(?:rss|atom|feed)|type=rss)(?:&|$)", re.IGNORECASE
)
# "Subscribe in Feedly" buttons carry the site's feed inside their own URL; they are not the site's feed.
_READER_HOSTS = re.compile(r"(?:^|\.)(?:feedly\.com|inoreader\.com|newsblur\.com|netvibes\.com|bloglines\.com)$")


@dataclass(frozen=True)
class FeedLink:
    """A feed URL found in a page; `advertised` is False for plain `<a href>` links that only look like feeds."""

    url: str
    title: str | None = None
    type: str | None = None
    advertised: bool = True


def feed_links(html: bytes, base_url: str) -> list[FeedLink]:
    """Feeds a page points to, best first: `<link>` feeds, then loosely typed `<link>`s, then feed-like `<a>` links.

    URLs are resolved against `<base href>` and `base_url`, deduplicated by `feed_key`, http(s) only.
    """
    root = _html_root(html)
    if root is None:
        return []
    base = base_url
    for node in root.iter("base"):
        href = node.get("href")
        if href and href.strip():
            base = http_url(href, base_url) or base_url
            break
    ranked: list[tuple[int, FeedLink]] = []
    for node in root.iter("link", "a"):
        found = _classify(node, base)
        if found is not None:
            ranked.append(found)
    ranked.sort(key=lambda pair: pair[0])  # stable: document order within a rank
    page = feed_key(base_url)
    seen: set[str] = set()
    links: list[FeedLink] = []
    for _, link in ranked:
        key = feed_key(link.url)
        if key is None or key in seen or key == page:
            continue
        seen.add(key)
        links.append(link)
    return links


def _html_root(data: bytes) -> etree._Element | None:
    if not data.strip():
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        encoding = None  # let libxml2 follow the page's <meta charset>
    else:
        # Bytes that are valid UTF-8 are UTF-8 whatever the page declares; libxml2 would otherwise guess Latin-1
        # for pages without a <meta charset> near the top.
        encoding = "utf-8"
    try:
        return document_fromstring(data, parser=HTMLParser(encoding=encoding, no_network=True))
    except (etree.ParserError, ValueError):
        return None


def _classify(node: etree._Element, base: str) -> tuple[int, FeedLink] | None:
    """(rank, link) for a feed `<link>`/`<a>`; rank 0 = declared feed type, 1 = vague type, 2 = anchor."""
    url = http_url(node.get("href"), base)
    if url is None or _NOT_FEEDS.search(url) or _READER_HOSTS.search(urlsplit(url).hostname or ""):
        return None
    mime = (node.get("type") or "").split(";")[0].strip().lower()
    title = _clean(node.get("title"))
    if node.tag == "link":
        rels = set((node.get("rel") or "").lower().split())
        if not rels & {"alternate", "feed"} or rels & {"stylesheet", "icon", "canonical"}:
            return None
        if mime in _FEED_TYPES:
            return 0, FeedLink(url, title, mime)
        if mime in _VAGUE_TYPES and (_looks_like_feed(url) or (title is not None and _mentions_feed(title))):
            return 1, FeedLink(url, title, mime or None)
        return None
    if mime in _FEED_TYPES:
        return 1, FeedLink(url, title or _clean(node.text_content()), mime)
    # A plain link is only a guess: it must stay on the page's site (share buttons such as facebook.com/dialog/feed
    # look like feeds too), except for FeedBurner, which hosted many sites' feeds.
    if _looks_like_feed(url) and (registrable_domain(url) == registrable_domain(base) or _is_feedburner(url)):
        return 2, FeedLink(url, title or _clean(node.text_content()), mime or None, advertised=False)
    return None


def _is_feedburner(url: str) -> bool:
    return (urlsplit(url).hostname or "").startswith(("feeds.feedburner.", "feeds2.feedburner.", "feedproxy.google."))


def _looks_like_feed(url: str) -> bool:
    parts = urlsplit(url)
    if _is_feedburner(url):
        return True
    return bool(_FEEDISH_PATH.search(parts.path.rstrip("/") or "/") or _FEEDISH_QUERY.search(parts.query))


def _mentions_feed(title: str) -> bool:
    return bool(re.search(r"\b(?:rss|atom|feed|json feed)\b", title, re.IGNORECASE))


def _clean(text: str | None) -> str | None:
    text = " ".join((text or "").split())
    return text or None


# Feed paths tried under the site's directory and root, most common first. WordPress answers /feed/ (and
# redirects /feed), Ghost /rss/, Hugo /index.xml, Jekyll /feed.xml, Blogger /feeds/posts/default.
_FEED_PATHS = (
    "feed",
    "feed/",
    "rss",
    "rss/",
    "rss.xml",
    "feed.xml",
    "atom.xml",
    "index.xml",
    "index.rss",
    "feed.json",
    "?feed=rss2",  # WordPress without pretty permalinks
)
_ROOT_ONLY = ("/feeds/posts/default",)  # Blogger serves it only at the root
# Sitemaps live at the root by convention; news sitemaps first, they are the ones that carry recent articles.
_SITEMAP_PATHS = ("/news-sitemap.xml", "/sitemap_news.xml", "/sitemap-news.xml", "/sitemap_index.xml", "/sitemap.xml")


def candidate_urls(site_url: str) -> list[str]:
    """Feed and sitemap URLs worth trying when a page advertises no feed, most likely first.

    Feed locations under the page's directory come before the same names at the site root; news sitemaps, then
    general sitemaps, come last (robots.txt `Sitemap:` lines, when present, are a better source for those).
    Raises ConfigError when `site_url` is not an http(s) URL.
    """
    url = http_url(site_url)
    if url is None:
        raise ConfigError(f"discovery: not an http(s) URL: {site_url!r}")
    parts = urlsplit(url)
    origin = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), "/", "", ""))
    directory = parts.path[: parts.path.rfind("/") + 1] if "/" in parts.path else "/"
    bases = [urljoin(origin, directory)] if directory not in ("", "/") else []
    bases.append(origin)
    found: list[str] = []
    for base in bases:
        found.extend(urljoin(base, path) for path in _FEED_PATHS)
        if base == origin:
            found.extend(urljoin(origin, path) for path in _ROOT_ONLY)
    found.extend(urljoin(origin, path) for path in _SITEMAP_PATHS)
    return list(dict.fromkeys(found))


_HEAD = 65536  # the root element of any real document starts well within this
_HTML_ROOTS = {"html", "head", "body"}
# Elements that open an HTML fragment, or a PHP warning printed before the real document.
_HTML_ELEMENTS = {
    "a", "b", "br", "div", "font", "h1", "h2", "h3", "hr", "i", "img", "link", "meta", "p", "pre", "script", "span",
    "strong", "style", "table", "title",
}  # fmt: skip
_RSS_RDF = ("purl.org/rss/1.0", "my.netscape.com/rdf/simple/0.9")
_JSON_FEED_VERSION = re.compile(r'"version"\s*:\s*"https?:(?:\\?/){2}jsonfeed\.org(?:\\?/)version', re.IGNORECASE)
_BOMS = BOMS + (
    (b"<\x00\x00\x00", "utf-32-le"),  # no BOM: the first '<' shows the width and byte order
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)


def sniff(body: bytes, content_type: str | None) -> str | None:
    """What a fetched body is: "feed" (RSS/Atom/RDF/JSON Feed), "sitemap", "html", or None when unsure.

    The body decides; `content_type` only breaks ties, because servers label feeds text/html and pages text/xml.
    """
    head = _text_head(body)
    if head is None:
        return None
    text = head.lstrip()
    if text.startswith("{"):
        return "feed" if _is_json_feed(body, text) else None
    low = text.lower()
    name, html_doctype = _first_element(low)
    kind = _root_kind(name, low)
    if kind is not None:
        return kind  # even under an XHTML doctype: the root element is what a parser will see
    if html_doctype or name in _HTML_ROOTS:
        return "html"
    if name in _HTML_ELEMENTS:
        later = low.find("<?xml")
        if later > 0:  # a PHP warning or similar printed before the real document
            kind = _root_kind(_first_element(low[later:])[0], low[later:])
        return kind or "html"
    if content_type and "html" in content_type.lower() and low.startswith("<"):
        return "html"  # markup we cannot place (<section>, <svg>) that the server calls HTML
    return None  # some other XML document (OPML, an error document) or not markup at all


def _text_head(body: bytes) -> str | None:
    """The first bytes as text: BOMs and UTF-16/32 handled, gzip opened, everything else read as Latin-1."""
    data = body[: _HEAD * 4]
    if data[:2] == b"\x1f\x8b":
        try:
            data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, _HEAD * 4)
        except zlib.error:
            return None
    for mark, codec in _BOMS:
        if data.startswith(mark):
            skip = len(mark) if mark[:1] != b"<" and mark[-1:] != b"<" else 0
            return data[skip:].decode(codec, "ignore")[:_HEAD]
    # Markup is ASCII in every encoding a feed may use besides UTF-16/32, so Latin-1 cannot fail or mislead here.
    text = data[:_HEAD].decode("latin-1")
    return text if text.strip() else None


def _first_element(text: str) -> tuple[str | None, bool]:
    """Name of the first element after the prolog (declaration, PIs, comments, doctype), and whether an HTML
    doctype came before it."""
    pos, html_doctype = 0, False
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if text.startswith("<?", pos):
            end, step = text.find("?>", pos), 2
        elif text.startswith("<!--", pos):
            end, step = text.find("-->", pos), 3
        elif text.startswith("<!doctype", pos):
            html_doctype = html_doctype or bool(re.match(r"<!doctype\s+html\b", text[pos:]))
            bracket, end = text.find("[", pos), text.find(">", pos)
            if 0 <= bracket < end:  # an internal subset [ ... ] may itself contain '>'
                subset_end = text.find("]", bracket)
                end = text.find(">", subset_end) if subset_end >= 0 else -1
            step = 1
        else:
            break
        if end < 0:
            return None, html_doctype
        pos = end + step
    match = re.match(r"<([a-z_][\w.:-]*)", text[pos:])
    return (match.group(1) if match else None), html_doctype


def _root_kind(name: str | None, text: str) -> str | None:
    local = (name or "").rsplit(":", 1)[-1]
    if local in ("rss", "feed", "channel"):  # <channel> alone: RSS 0.9x fragments and CDF
        return "feed"
    if local == "rdf" and any(ns in text for ns in _RSS_RDF):
        return "feed"  # RSS 0.90/1.0; other RDF documents are not feeds
    if local in ("urlset", "sitemapindex"):
        return "sitemap"
    return None


def _is_json_feed(body: bytes, head: str) -> bool:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        # Truncated or odd JSON: the version string near the top still tells.
        return bool(_JSON_FEED_VERSION.search(head))
    version = data.get("version") if isinstance(data, dict) else None
    return isinstance(version, str) and "jsonfeed.org/version" in version
