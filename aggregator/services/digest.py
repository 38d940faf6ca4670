"""Bring the collection up to date for a digest: tag what is untagged, group new items into stories."""

from __future__ import annotations

from datetime import datetime

from aggregator.digest.archive import group_new_items
from aggregator.services.context import Context
from aggregator.services.tagging import ensure_classifier, tag_untagged
from aggregator.store.database import Database


def prepare(ctx: Context, db: Database, *, now: datetime) -> None:
    """Tag what is untagged and group new items into stories, so the digest sees everything stored."""
    if ensure_classifier(ctx, db) is None:
        tag_untagged(ctx, db)
    with db.session() as session:
        group_new_items(session, ctx.settings, now=now)
