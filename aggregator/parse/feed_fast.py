"""A fast path for the common case: well-formed UTF-8 RSS 0.9x/2.0, RSS 1.0 and Atom 1.0, read with lxml.

It returns None for anything unusual (not well-formed, a DOCTYPE, another encoding, XHTML content, xml:base,
a default namespace on RSS, markup where text was expected) and feedparser then reads the document with
all its tolerance. The test suite checks that both paths agree on real publishers' feeds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from html import escape
from io import BytesIO
from typing import Any
from urllib.parse import urljoin

from lxml import etree

from aggregator.parse.dates import parse_date
from aggregator.parse.feed_entry import RawEntry

ATOM = "http://www.w3.org/2005/Atom"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RSS1 = "http://purl.org/rss/1.0/"
DC = "http://purl.org/dc/elements/1.1/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
SY = "http://purl.org/rss/1.0/modules/syndication/"
DCTERMS = "http://purl.org/dc/terms/"
MEDIA = "http://search.yahoo.com/mrss/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_UTF8 = {"utf-8", "utf8", "us-ascii", "ascii"}
_DECL = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']", re.IGNORECASE)
# Character references to C1 controls are windows-1252 or double-encoded UTF-8 that feedparser repairs.
_C1_REFS = re.compile(rb"&#(?:12[89]|1[3-5][0-9]);|&#x[89][0-9a-f];|\xc2[\x80-\x9f]", re.IGNORECASE)


class _Unusual(Exception):
    """Something the fast path leaves to feedparser."""


class FastFeed:
    """What the fast path read: entries plus the feed-level fields."""

    def __init__(
        self, version: str, entries: list[RawEntry], title: str | None, language: str | None, ttl: float | None
    ) -> None:
        self.version, self.entries, self.title, self.language, self.ttl = version, entries, title, language, ttl


def parse_fast(body: bytes, url: str, content_type: str = "") -> FastFeed | None:
    """Read `body` if it is a plain, well-formed feed; None means 'use feedparser'."""
    head = body[:2048]
    if b"<!DOCTYPE" in head.upper() or b"xml:base" in body or _C1_REFS.search(body):
        return None
    match = re.search(r"charset=[\"']?([A-Za-z0-9._-]+)", content_type or "")
    charset = _norm(match.group(1)) if match else None
    found = _DECL.match(head)
    declared = _norm(found.group(1).decode("ascii")) if found else "utf-8"
    # Only UTF-8 is read here: feedparser knows the other encodings' traps (ISO-8859-1 declared, windows-1252
    # sent; a server charset that contradicts the declaration).
    if declared != "utf-8" or (charset is not None and charset != "utf-8"):
        return None
    try:
        root, entries = _read(body, url)
        if root.tag == "rss":
            return _rss(root, entries)
        if root.tag == f"{{{ATOM}}}feed":
            return _atom(root, entries)
        if root.tag == f"{{{RDF}}}RDF":
            return _rdf(root, entries)
    except (etree.XMLSyntaxError, ValueError, _Unusual):
        return None
    return None


# The elements that are entries, by the document's root element (RSS items sit in its first channel), and how
# each is read.
_ENTRY_TAGS = {"rss": "item", f"{{{ATOM}}}feed": f"{{{ATOM}}}entry", f"{{{RDF}}}RDF": f"{{{RSS1}}}item"}
_READERS: dict[str, Callable[[Any, str, str | None], RawEntry]] = {
    "rss": lambda el, url, _lang: _rss_item(el, url),
    f"{{{ATOM}}}feed": lambda el, url, lang: _atom_entry(el, url, lang),
    f"{{{RDF}}}RDF": lambda el, url, _lang: _rdf_item(el, url),
}


def _read(body: bytes, url: str) -> tuple[Any, list[RawEntry]]:
    """The document's root (without its entries) and its entries, in document order.

    Each entry is read as soon as it is parsed, then dropped from the tree: a whole tree takes about six times the
    document's size, which for a feed of 100,000 entries was most of the crawl's memory.
    """
    events = etree.iterparse(
        BytesIO(body),
        events=("end",),
        tag=tuple(_ENTRY_TAGS.values()),
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        recover=False,
        remove_pis=True,
    )
    entries: list[RawEntry] = []
    holder, tag, read, lang = None, "", None, None  # holder: the entries' parent, RSS's first channel or the root
    for _, el in events:
        parent = el.getparent()
        if holder is None:
            root = el.getroottree().getroot()
            holder = root.find("channel") if root.tag == "rss" else root
            tag, read, lang = _ENTRY_TAGS.get(root.tag, ""), _READERS.get(root.tag), root.get(XML_LANG)
        if parent is not holder or el.tag != tag or read is None:
            continue
        entries.append(read(el, url, lang))
        parent.remove(el)
    return events.root, entries


def _norm(encoding: str) -> str:
    name = encoding.lower().replace("_", "-")
    return "utf-8" if name in _UTF8 else name


def _text(el: Any) -> str:
    if el is None:
        return ""
    if len(el):
        raise _Unusual("markup where text was expected")
    return (el.text or "").strip()


def _rss(root: Any, entries: list[RawEntry]) -> FastFeed:
    channel = root.find("channel")
    if channel is None:
        raise _Unusual("no channel")
    version = "rss20" if root.get("version", "").startswith("2") else "rss0" + root.get("version", "9").replace(".", "")
    lang = _text(channel.find("language")) or _text(channel.find(f"{{{DC}}}language")) or None
    return FastFeed(version, entries, _text(channel.find("title")) or None, lang, _ttl(channel))


# Element names (lower-cased when not namespaced, as feedparser matches them) -> the field they fill.
_RSS_FIELDS = {
    "title": "title", "link": "link", "guid": "guid", "pubdate": "published", "description": "summary",
    f"{{{CONTENT}}}encoded": "content", f"{{{DC}}}date": "updated", f"{{{DCTERMS}}}modified": "updated",
    f"{{{ATOM}}}updated": "updated", "modified": "updated",
}  # fmt: skip


# Rarer places feedparser also reads an item's content from.
_MEDIA_HOLDERS = (f"{{{MEDIA}}}content", f"{{{MEDIA}}}group")
_OTHER_CONTENT = {"body", "fullitem", "{http://www.w3.org/1999/xhtml}body"}


def _rss_item(item: Any, url: str) -> RawEntry:
    fields: dict[str, Any] = {}
    authors: list[str] = []
    for child in item:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        key = _RSS_FIELDS.get(tag if tag[0] == "{" else tag.lower())
        if key is not None:
            fields.setdefault(key, _text(child))
            if key == "guid":
                fields["permalink"] = child.get("isPermaLink", "true").lower() != "false"
        elif tag in ("author", f"{{{DC}}}creator"):
            authors.append(_text(child))
        elif tag in _MEDIA_HOLDERS and child.find(f".//{{{MEDIA}}}description") is not None:
            raise _Unusual("media RSS descriptions: feedparser decides what is content")
        elif tag.lower() in _OTHER_CONTENT:
            raise _Unusual(f"content in <{tag}>")
        elif tag == f"{{{ATOM}}}link" and child.get("rel", "alternate") == "alternate" and "link" not in fields:
            fields["link"] = (child.get("href") or "").strip()
    if not (fields.get("title") or fields.get("summary") or fields.get("content")):
        raise _Unusual("an item with no title, description or content")
    guid = fields.get("guid", "")
    guid_is_link = fields.get("permalink", True) and guid.startswith(("http:", "https:"))
    link = fields.get("link") or (guid if guid_is_link else "")
    return RawEntry(
        title=fields.get("title", ""),
        link=_absolute(link, url),
        guid=guid,
        summary=fields.get("summary", ""),
        content=fields.get("content", ""),
        authors=tuple(a for a in authors if a),
        published=_date(fields.get("published")),
        updated=_date(fields.get("updated")),
        provenance=_provenance(guid, link, fields.get("published"), fields.get("updated")),
        published_text=fields.get("published", ""),
        updated_text=fields.get("updated", ""),
    )


def _date(value: str | None) -> datetime | None:
    # feedparser keeps whole seconds; both paths must store the same instant. An impossible date is None on both
    # paths (dates.read_strictly tells feedparser so), never an error for the whole feed.
    parsed = parse_date(value)
    return parsed.replace(microsecond=0) if parsed is not None else None


def _rdf_item(item: Any, url: str) -> RawEntry:
    link = _text(item.find(f"{{{RSS1}}}link"))
    guid = item.get(f"{{{RDF}}}about", "") or link
    dated = _text(item.find(f"{{{DC}}}date")) or None  # feedparser reads dc:date as "updated"
    return RawEntry(
        title=_text(item.find(f"{{{RSS1}}}title")),
        link=_absolute(link, url),
        guid=guid,
        summary=_text(item.find(f"{{{RSS1}}}description")),
        content=_text(item.find(f"{{{CONTENT}}}encoded")),
        authors=tuple(a for a in (_text(c) for c in item.iterchildren(f"{{{DC}}}creator")) if a),
        updated=_date(dated),
        provenance=_provenance(guid, link, None, dated),
        published_text="",
        updated_text=dated or "",
    )


def _rdf(root: Any, entries: list[RawEntry]) -> FastFeed:
    channel = root.find(f"{{{RSS1}}}channel")
    title = _text(channel.find(f"{{{RSS1}}}title")) if channel is not None else ""
    lang = _text(channel.find(f"{{{DC}}}language")) if channel is not None else ""
    return FastFeed("rss10", entries, title or None, lang or None, _ttl(channel) if channel is not None else None)


def _atom(root: Any, entries: list[RawEntry]) -> FastFeed:
    feed_lang = root.get(XML_LANG)
    return FastFeed("atom10", entries, _atom_text(root.find(f"{{{ATOM}}}title")) or None, feed_lang, None)


def _atom_entry(entry: Any, url: str, feed_lang: str | None) -> RawEntry:
    link = ""
    for el in entry.iterchildren(f"{{{ATOM}}}link"):
        if el.get("rel", "alternate") == "alternate" and el.get("href"):
            link = el.get("href").strip()
            break
    guid = _text(entry.find(f"{{{ATOM}}}id"))
    published = _text(entry.find(f"{{{ATOM}}}published")) or None
    updated = _text(entry.find(f"{{{ATOM}}}updated")) or None
    authors = [_text(a.find(f"{{{ATOM}}}name")) for a in entry.iterchildren(f"{{{ATOM}}}author")]
    title_el = entry.find(f"{{{ATOM}}}title")
    summary = _atom_text(entry.find(f"{{{ATOM}}}summary"))
    content = _atom_text(entry.find(f"{{{ATOM}}}content"))
    if not summary and not content:
        # YouTube and podcast feeds describe entries in Media RSS only.
        description = entry.find(f".//{{{MEDIA}}}description")
        summary = escape(_text(description), quote=False) if description is not None else ""
    return RawEntry(
        title=_atom_text(title_el),
        link=_absolute(link, url),
        guid=guid,
        summary=summary,
        content=content,
        authors=tuple(a for a in authors if a),
        published=_date(published),
        updated=_date(updated),
        language=entry.get(XML_LANG) or (title_el.get(XML_LANG) if title_el is not None else None) or feed_lang,
        provenance=_provenance(guid, link, published or updated, updated),
        published_text=published or "",
        updated_text=updated or "",
    )


def _atom_text(el: Any) -> str:
    """Atom text constructs as HTML: text is escaped, html is taken as is, xhtml goes to feedparser."""
    if el is None:
        return ""
    if el.get("src"):
        return ""
    kind = (el.get("type") or "text").lower()
    if kind in ("xhtml", "application/xhtml+xml"):
        raise _Unusual("xhtml content")
    value = _text(el)
    if kind in ("html", "text/html"):
        return value
    return escape(value, quote=False)


def _absolute(link: str, base: str) -> str | None:
    if not link:
        return None
    absolute = urljoin(base, link)
    return absolute if absolute.startswith(("http://", "https://")) else None


def _provenance(guid: str, link: str, published: str | None, updated: str | None = None) -> dict[str, str]:
    pairs: Iterable[tuple[str, str | None]] = (
        ("id", guid),
        ("link", link),
        ("published", published),
        ("updated", updated),
    )
    return {k: v[:1000] for k, v in pairs if v}


_SY_PERIOD = {"hourly": 3600, "daily": 86400, "weekly": 604800, "monthly": 2592000, "yearly": 31536000}


def _ttl(channel: Any) -> float | None:
    ttl = _text(channel.find("ttl"))
    if ttl.isdigit():
        return int(ttl) * 60.0
    return sy_period(_text(channel.find(f"{{{SY}}}updatePeriod")), _text(channel.find(f"{{{SY}}}updateFrequency")))


def sy_period(period: str | None, frequency: str | None) -> float | None:
    """Seconds between updates from the syndication module's updatePeriod / updateFrequency."""
    seconds = _SY_PERIOD.get((period or "").strip().lower())
    if not seconds:
        return None
    try:
        return seconds / max(1, int((frequency or "1").strip()))
    except ValueError:
        return float(seconds)
