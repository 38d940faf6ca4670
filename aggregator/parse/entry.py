"""The one in-flight item type: every spider and parser produces `Entry` objects, ingest stores them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Entry:
    """One article as a source presented it, before it is stored.

    `summary_html` is already sanitised; `text` is plain text (full article text when known).
    `raw` keeps provenance: what the source said, field by field, before normalisation.
    """

    source_id: str
    url: str
    title: str
    guid: str | None = None
    summary_html: str = ""
    text: str = ""
    authors: tuple[str, ...] = ()
    published_at: datetime | None = None
    updated_at: datetime | None = None
    language: str | None = None
    canonical_url: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Article:
    """What text extraction found on an article page."""

    url: str
    text: str
    title: str | None = None
    authors: tuple[str, ...] = ()
    published_at: datetime | None = None
    language: str | None = None
    canonical_url: str | None = None
