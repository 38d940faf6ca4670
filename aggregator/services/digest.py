"""Bring the collection up to date for a digest: tag what is untagged, group new items into stories."""

from __future__ import annotations

import logging
from datetime import datetime

from aggregator.digest.archive import group_new_items
from aggregator.errors import StorageError
from aggregator.services.context import Context
from aggregator.services.tagging import ensure_classifier, tag_untagged
from aggregator.store.database import Database

log = logging.getLogger(__name__)


def prepare(ctx: Context, db: Database, *, now: datetime) -> None:
    """Tag what is untagged and group new items into stories, so the digest sees everything stored."""
    if ensure_classifier(ctx, db) is None:
        try:
            tag_untagged(ctx, db)
        except StorageError as exc:  # the digest still goes out, with the items whose tags are stored
            log.warning("digest: %s", exc)
    with db.session() as session:
        group_new_items(session, ctx.settings, now=now)
