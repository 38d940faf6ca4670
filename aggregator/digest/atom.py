"""Atom feeds of the digest archive: one of whole digests, one per section, for the reader the reporter uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lxml import etree

from aggregator.digest.render import render, render_story_html

ATOM = "http://www.w3.org/2005/Atom"
TAG_BASE = "tag:beat-aggregator,2026:"


def _el(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ATOM}}}{name}", attrs)
    if text is not None:
        element.text = text  # lxml escapes it; feed text never becomes markup
    return element


def _feed(feed_id: str, title: str, updated: str, self_name: str) -> etree._Element:
    root = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
    _el(root, "id", TAG_BASE + feed_id)
    _el(root, "title", title)
    _el(root, "updated", updated)
    _el(root, "link", rel="self", href=self_name)
    author = _el(root, "author")
    _el(author, "name", "beat-aggregator")
    _el(root, "generator", "beat-aggregator")
    return root


def digests_feed(contents: Sequence[dict[str, Any]], *, title: str, self_name: str) -> bytes:
    """Newest first: one entry per digest, its HTML as the entry content."""
    updated = max((c["built_at"] for c in contents), default="1970-01-01T00:00:00Z")
    root = _feed("digests", title, updated, self_name)
    for content in contents:
        entry = _el(root, "entry")
        _el(entry, "id", f"{TAG_BASE}digest:{content['date']}")
        _el(entry, "title", f"{title} — {content['date']}")
        _el(entry, "updated", content["built_at"])
        _el(entry, "published", content["period"]["end"])
        shown = content["counts"]["shown"]
        _el(entry, "summary", f"{shown} stories from {content['counts']['new_items']} new items")
        _el(entry, "content", render(content, "html", title=title), type="html")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def section_feed(
    contents: Sequence[dict[str, Any]], section_id: str, *, title: str, self_name: str, limit: int
) -> bytes:
    """The stories a section listed (in full there or in an earlier section), newest digest first."""
    label = section_id
    entries: list[tuple[dict[str, Any], str]] = []
    for content in contents:
        for section in content["sections"]:
            if section["id"] != section_id:
                continue
            label = section["label"]
            entries.extend((content, str(ref["story"])) for ref in section["stories"])
    entries = entries[:limit]
    updated = max((c["built_at"] for c, _ in entries), default="1970-01-01T00:00:00Z")
    root = _feed(f"section:{section_id}", f"{title}: {label}", updated, self_name)
    for content, story_id in entries:
        story = content["stories"][story_id]
        entry = _el(root, "entry")
        # An update to a story is a new entry: same story, later digest.
        _el(entry, "id", f"{TAG_BASE}story:{story_id}:{content['date']}")
        _el(entry, "title", ("Update: " if story["is_update"] else "") + story["headline"])
        _el(entry, "updated", content["built_at"])
        _el(entry, "published", story["first_reported"]["at"])
        if story["url"]:
            _el(entry, "link", rel="alternate", href=story["url"])
        for topic in story["topics"]:
            _el(entry, "category", term=topic["id"], label=topic["label"])
        _el(entry, "content", render_story_html(content, story_id), type="html")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
