"""Make untrusted feed and page HTML safe to show (nh3, the ammonia sanitizer) and turn it into plain text."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from urllib.parse import urljoin

import nh3

# Tags a summary may keep when shown; everything else (script, style, iframe, form ...) is dropped
# with its attributes, and nh3 removes on* handlers and javascript: URLs.
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "dl", "dt", "em",
    "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol",
    "p", "pre", "q", "s", "small", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "abbr": {"title"}}
URL_SCHEMES = {"http", "https", "mailto"}

# Only relative URLs need joining; absolute ones (most of them) never reach the callback.
_RELATIVE_URL_ATTR = re.compile(r'\b(href|src)="(?![a-zA-Z][a-zA-Z0-9+.-]*:)([^"]*)"')
# nh3's serialiser quotes every attribute with ", so a tag ends at the first > outside quotes.
_ORIGIN = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*")
_SERIALISED_TAG = re.compile(r'<[^>"]*(?:"[^"]*"[^>"]*)*>')
_BLOCK_END = re.compile(r"</(p|div|li|h[1-6]|blockquote|tr|pre|figure|section|article)>|<br\s*/?>", re.I)


def clean_html(markup: str, base_url: str | None = None) -> str:
    """Sanitised HTML with relative links made absolute against `base_url`."""
    if not markup:
        return ""
    cleaned = nh3.clean(
        markup,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    if base_url and ('href="' in cleaned or 'src="' in cleaned):
        cleaned = _RELATIVE_URL_ATTR.sub(lambda m: _absolute(m, base_url), cleaned)
    return cleaned.strip()


def _absolute(match: re.Match[str], base_url: str) -> str:
    value = html.unescape(match.group(2))
    if value.startswith("/") and not value.startswith("//") and "/." not in value:
        # The common case, a path from the site root: no need for urljoin's full resolution.
        root = _ORIGIN.match(base_url)
        joined = root.group(0) + value if root else urljoin(base_url, value)
    else:
        joined = urljoin(base_url, value)
    return f'{match.group(1)}="{html.escape(joined, quote=True)}"'


def clean_html_to_text(cleaned: str) -> str:
    """Plain text of HTML that `clean_html` produced: cheaper than `html_to_text`, no second parse."""
    return _as_text(cleaned, lambda marked: _SERIALISED_TAG.sub("", marked))


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, paragraphs kept as lines."""
    return _as_text(
        markup, lambda marked: nh3.clean(marked, tags=set(), clean_content_tags={"script", "style"}, attributes={})
    )


def _as_text(markup: str, strip_tags: Callable[[str], str]) -> str:
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return _tidy(markup)
    return _tidy(html.unescape(strip_tags(_BLOCK_END.sub("\\g<0>\n", markup))))


def _tidy(text: str) -> str:
    # str.split() is C-fast and treats every Unicode space (NBSP included) as whitespace: one pass per line
    # beats two regular expressions over the whole text.
    return "\n".join(filter(None, (" ".join(line.split()) for line in text.split("\n"))))
