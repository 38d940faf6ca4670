"""HTML for the web pages: the Jinja2 environment (always autoescaping), highlighted snippets, safe links, times."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from aggregator.parse.dates import bounded
from aggregator.search.highlight import MARK_END, MARK_START, highlight
from aggregator.search.query import Text
from aggregator.text import show_controls_in_template

_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)
# Only a hex colour is taken from the body's style: it goes into the page's own style attribute.
_BODY_BACKGROUND = re.compile(
    r"<body[^>]*\bstyle=\"[^\"]*\bbackground(?:-color)?:\s*(#[0-9a-fA-F]{3,8})\b", re.IGNORECASE
)


def marked(text: str) -> Markup:
    """Text carrying highlight markers as HTML: escaped first, only then are the markers turned into <mark>."""
    return Markup(str(escape(text)).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def highlighted(text: str, terms: Sequence[Text]) -> Markup:
    """The whole text, escaped, with the query's words marked."""
    return marked(highlight(text, terms)) if terms else Markup(escape(text))


def safe_href(url: Any) -> str:
    """`url` when it is an http(s) link, else "" (the template then shows text without a link).

    Feeds can carry javascript:, data: or vbscript: links; none of them may become clickable.
    """
    if not isinstance(url, str) or not url:
        return ""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


def document_body(page: str) -> Markup:
    """The inside of <body> of a full HTML document that the digest renderer produced (it escapes feed text)."""
    found = _BODY.search(page)
    return Markup(found.group(1) if found else page)


def document_background(page: str) -> str | None:
    """The background colour the digest document gives its <body> (a hex colour), or None.

    The page shows the document's body inside its own layout: painted on the same colour, the newsletter's
    680 px column sits centred on its own background, with no band of the page's colour beside it.
    """
    found = _BODY_BACKGROUND.search(page)
    return found.group(1) if found else None


def local_time(zone: ZoneInfo) -> Any:
    def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
        return "-" if value is None else bounded(value).astimezone(zone).strftime(fmt)

    return local


def environment(zone: ZoneInfo) -> Environment:
    """Templates of aggregator/web/templates; autoescape is on for every template, whatever its name."""
    env = Environment(
        loader=PackageLoader("aggregator.web", "templates"),
        finalize=show_controls_in_template,  # bidi overrides and controls from feeds are shown, not obeyed
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(local=local_time(zone), marked=marked, safe_href=safe_href)
    return env
