"""Keep the classifier ready for a crawl and tag what a crawl left untagged."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from aggregator.classify.tagging import classifier_dir, load_classifier, tag_items, untagged_ids
from aggregator.errors import AggregatorError, StorageError
from aggregator.services.context import Context
from aggregator.store.database import Database, error_line


def ensure_classifier(ctx: Context, db: Database) -> str | None:
    """Make sure a saved classifier fits topics.toml (training one on first use), so a crawl process only reads it.

    Returns None when it is ready, else why it cannot be had (items are then stored untagged).
    """
    try:
        topics = ctx.topics()
        saved = classifier_dir(ctx.settings) / "classifier.json"
        if saved.exists() and json.loads(saved.read_text(encoding="utf-8")).get("topics_fingerprint") == (
            topics.fingerprint
        ):
            return None  # current: loading it here would only slow down a crawl that may bring nothing new
        with db.session() as session:
            load_classifier(ctx.settings, topics, session=session)
        return None
    except (AggregatorError, OSError, ValueError) as exc:
        return " ".join(str(exc).split())


def tag_untagged(ctx: Context, db: Database) -> int:
    """Tag whatever the crawl left untagged (a failed or killed tagging step); loads the classifier only then.

    Each chunk is its own transaction: a chunk the database refuses stays untagged, the others are tagged, and a
    StorageError then says which items wait and why."""
    with db.session() as session:
        chunks = list(untagged_ids(session))
    if not chunks:
        return 0
    with db.session() as session:
        clf = load_classifier(ctx.settings, ctx.topics(), session=session)
    done, failed = 0, []
    for ids in chunks:
        try:
            with db.session() as session:
                done += tag_items(session, clf, ids, now=datetime.now(UTC))
        except SQLAlchemyError as exc:
            failed.append(f"items {ids[0]}..{ids[-1]} ({len(ids)}): {error_line(exc)}")
    if failed:
        raise StorageError(f"tagging: storing tags failed for {'; '.join(failed)} ({done} other item(s) tagged)")
    return done
