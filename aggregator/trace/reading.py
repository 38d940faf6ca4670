"""The text to trace, from a file or stdin (plain text, Markdown or HTML) or from a URL fetched by the crawl engine."""

from __future__ import annotations

import re

from w3lib.encoding import html_to_unicode

from aggregator.config.settings import Settings
from aggregator.errors import FetchError, ParseError
from aggregator.parse.extract import extract_article
from aggregator.parse.sanitize import html_to_text
from aggregator.text import BOMS

MAX_INPUT_BYTES = 5_000_000
_HTML = re.compile(r"^\s*(<!doctype html|<html|<head|<body|<article|<p[\s>]|<div[\s>])", re.IGNORECASE)
# Markdown's inline marks, replaced by what they mark: links and images by their text, emphasis and code by theirs.
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)|\[([^\]]+)\]\[[^\]]*\]")
_MD_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+.*$", re.MULTILINE)
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`+|~~)(?=\S)(.+?)(?<=\S)\1")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
_MD_QUOTE = re.compile(r"^\s{0,3}>\s?", re.MULTILINE)
_MD_FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1\s*$", re.MULTILINE | re.DOTALL)
_MD_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$", re.MULTILINE)


def decode(data: bytes) -> str:
    """Bytes of a file or stdin as text: UTF-8 (a BOM says otherwise), else Latin-1, never an error."""
    if len(data) > MAX_INPUT_BYTES:
        raise ParseError(f"trace: the text is {len(data):,} bytes; at most {MAX_INPUT_BYTES:,} can be traced")
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def plain_text(text: str) -> str:
    """The prose of plain text, Markdown or HTML: HTML's main text (its article, not its menus), Markdown without
    its marks (headings stay lines of their own, which claims skip)."""
    if _HTML.match(text):
        try:
            return extract_article(text, "about:blank").text
        except ParseError:
            return html_to_text(text)  # a fragment with no main text to find: all of its text
    return _unmark(text)


def _unmark(text: str) -> str:
    text = _MD_FENCE.sub("", text)
    text = _MD_REFERENCE.sub("", text)
    text = _MD_RULE.sub("", text)
    text = _MD_HEADING.sub(lambda m: m.group(1), text)
    text = _MD_QUOTE.sub("", text)
    text = _MD_IMAGE.sub(lambda m: m.group(1), text)
    text = _MD_LINK.sub(lambda m: m.group(1) or m.group(2), text)
    return _MD_EMPHASIS.sub(lambda m: m.group(2), text)


def fetch_text(url: str, settings: Settings, extra_scrapy_settings: dict[str, object] | None = None) -> str:
    """The main text of the page at `url`, fetched through the crawl engine (robots.txt, politeness, the
    private-network policy of settings.toml), as a crawl fetches an article page.

    Raises FetchError when it cannot be fetched (or may not be), ParseError when it has no text.
    """
    from aggregator.crawl.probe import probe  # here: only a URL needs the crawl engine

    if not re.match(r"^https?://[^/\s]+", url):
        raise FetchError(f"fetch: {url!r} is not an http(s) URL")
    (result,) = probe([url], settings, pages=True, extra_scrapy_settings=dict(extra_scrapy_settings or {}))
    if not result.ok:
        raise FetchError(f"{url}: {result.error or 'fetch: no response'}")
    _, html = html_to_unicode(result.content_type or None, result.body)
    if not _HTML.match(html) and "html" not in result.content_type:
        return _unmark(decode(result.body))  # a text or Markdown file served as such
    return extract_article(html, result.final_url or url).text
