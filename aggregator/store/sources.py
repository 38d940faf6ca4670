"""Queries on the `sources` table for reading it (crawl/state.py keeps it in step with config and fetches)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.models import Source


def source_names(session: Session) -> dict[str, str]:
    """Source id to outlet name; the sources table holds one row per configured source, so this stays small."""
    return {row.id: row.name for row in session.execute(select(Source.id, Source.name))}
