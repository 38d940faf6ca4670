"""Run the watches after a crawl: match what it stored, then deliver what is due; never fails the crawl."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aggregator.config.watches import WatchCatalog, load_watches
from aggregator.errors import AggregatorError
from aggregator.services.context import Context
from aggregator.store.database import Database
from aggregator.watches.deliver import ChannelRun, deliver_due
from aggregator.watches.match import match_new, newest_item_id

log = logging.getLogger(__name__)

# Tests only: after matching is committed, write this file and wait, so a test can kill the process between
# matching and delivery (tests/test_watches_crash.py).
PAUSE_ENV = "AGGREGATOR_WATCH_PAUSE_FILE"


@dataclass
class WatchRun:
    matched: dict[str, int] = field(default_factory=dict)  # watch id -> new matches queued
    channels: list[ChannelRun] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # watches.toml problems and queries that could not run


def watch_mark(db: Database) -> int:
    """The newest item id now: call before a crawl, pass to run_watches after it."""
    with db.session() as session:
        return newest_item_id(session)


def load_catalog(ctx: Context) -> tuple[WatchCatalog | None, list[str]]:
    try:
        catalog = load_watches(ctx.config_dir)
    except AggregatorError as exc:
        return None, [" ".join(str(exc).split())]
    return catalog, [p.message for p in catalog.problems]


def run_watches(ctx: Context, db: Database, *, start_after: int | None = None, now: datetime | None = None) -> WatchRun:
    """Match every watch against the items stored since it last looked (a new watch: since `start_after`), then
    send every channel's due alerts. Problems are reported in the result and logged, never raised."""
    result = WatchRun()
    catalog, result.problems = load_catalog(ctx)
    if catalog is None or not catalog.watches:
        return result
    given, now = now, now or datetime.now(UTC)
    settings = ctx.settings
    try:
        topics = ctx.topics()
    except AggregatorError as exc:
        topics = None
        result.problems.append(" ".join(str(exc).split()))
    for watch in catalog.watches:
        try:
            with db.session() as session:
                result.matched[watch.id] = match_new(
                    session, watch, now=now, topics=topics, zone=settings.zone, start_after=start_after
                )
        except AggregatorError as exc:
            result.problems.append(f"watch {watch.id}: {' '.join(str(exc).split())}")
    _pause_for_tests()
    result.channels = deliver_due(db, settings, catalog.watches, now=given or datetime.now(UTC))
    for problem in result.problems:
        log.warning("watches: %s", problem)
    for run in result.channels:
        if run.error:
            log.warning("watch %s: %s failed (retried later): %s", run.watch_id, run.channel, run.error)
        elif run.sent:
            log.info("watch %s: %d alert(s) sent by %s", run.watch_id, run.sent, run.channel)
    return result


def _pause_for_tests() -> None:
    marker = os.environ.get(PAUSE_ENV)
    if marker:
        Path(marker).write_text("matched\n", encoding="utf-8")
        time.sleep(120)
