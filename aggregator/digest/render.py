"""Render a stored digest as HTML (mail-safe, escaped), Markdown, plain text or JSON."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from aggregator.text import show_controls_in_template

FORMATS = ("html", "md", "txt", "json")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}#|!~])")


def _plain(text: Any) -> str:
    """Text for a terminal: no control characters or direction overrides that could disguise a line."""
    return _CONTROL.sub("", str(text))


def _md(text: Any) -> str:
    """Markdown-escaped text: feed words never become links, emphasis or raw HTML."""
    text = _plain(text).replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_url(url: Any) -> str:
    return quote(str(url), safe=":/?#[]@!$&'()*+,;=%-._~")


def _wrap(text: str, width: int, indent: str, first: str) -> str:
    return textwrap.fill(text, width=width, initial_indent=first, subsequent_indent=indent)


@cache
def _environment(zone_key: str, text: bool = False) -> Environment:
    zone = ZoneInfo(zone_key)

    def local(value: str) -> str:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(zone).strftime("%a %d %b %H:%M %Z")

    def longdate(value: str) -> str:
        return datetime.fromisoformat(value).strftime("%A %d %B %Y")

    env = Environment(
        loader=PackageLoader("aggregator.digest", "templates"),
        finalize=show_controls_in_template,  # bidi overrides and controls from feeds are shown, not obeyed
        autoescape=select_autoescape(enabled_extensions=("html.j2", "xml.j2"), default_for_string=True),
        undefined=StrictUndefined,
        # Text formats keep the line break after a block tag (blank runs are collapsed afterwards), so the
        # templates can be laid out as they read.
        trim_blocks=not text,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(local=local, longdate=longdate, plain=_plain, md=_md, mdurl=_md_url, wrap=_wrap)
    return env


def render(content: dict[str, Any], fmt: str, *, title: str = "Beat digest") -> str:
    """The digest in one format; `content` is what digest.build_content produced (and the archive keeps)."""
    if fmt == "json":
        return json.dumps(content, ensure_ascii=False, indent=2) + "\n"
    if fmt not in FORMATS:
        raise ValueError(f"unknown digest format {fmt!r} (known: {', '.join(FORMATS)})")
    env = _environment(content["timezone"])
    sections_with_stories = [s for s in content["sections"] if s["stories"]]
    text = env.get_template(f"digest.{fmt}.j2").render(
        d=content, title=title, sections_with_stories=sections_with_stories
    )
    if fmt != "html":
        text = re.sub(r"\n{3,}", "\n\n", text)
    return text


def render_story_html(content: dict[str, Any], story_id: str) -> str:
    """One story as an HTML fragment (for feed entries)."""
    env = _environment(content["timezone"])
    return env.get_template("story.html.j2").render(st=content["stories"][story_id])
