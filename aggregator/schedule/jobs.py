"""What the scheduler runs: refresh due sources, the daily digest, retraining, database upkeep."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from aggregator.classify.tagging import labels_since_training, load_classifier, tag_items, train_classifier
from aggregator.digest import archive
from aggregator.errors import Busy
from aggregator.models import Fetch, Item
from aggregator.services.context import Context
from aggregator.services.crawl import run_crawl
from aggregator.services.digest import prepare
from aggregator.services.lock import crawl_lock
from aggregator.services.watching import run_watches, watch_mark

log = logging.getLogger("aggregator.schedule.jobs")


@dataclass
class RefreshResult:
    planned: int = 0
    new: int = 0
    errors: int = 0
    skipped: bool = False


_network = {"down": False}  # what the last refresh found, so "the network looks down" is said once per outage


def _say_network(down: str | None, *, planned: int) -> None:
    if down and not _network["down"]:
        log.warning("%s", down)
    elif not down and planned and _network["down"]:
        log.info("the network is back: sources resolve again")
    if planned:
        _network["down"] = down is not None


def refresh(config_dir: str, db_url: str | None = None) -> RefreshResult:
    """Crawl the sources that are due, tag what came in and group it into stories."""
    obj = Context(Path(config_dir), db_url)
    catalog = obj.catalog()
    for problem in catalog.problems:
        log.warning("sources: %s", problem)
    result = RefreshResult()
    try:
        with crawl_lock(obj.settings.data_path) as lock_fd:
            db = obj.database()
            try:
                mark = watch_mark(db)
                crawled = run_crawl(obj, db, catalog, lock_fd=lock_fd)
                outcome = crawled.outcome
                _say_network(crawled.network_down, planned=outcome.planned)
                result.planned = outcome.planned
                result.new = sum(line.new for line in outcome.lines)
                result.errors = len(outcome.failed)
                for source_id, error in outcome.unstored.items():
                    log.error("source %s could not be stored: %s", source_id, error)
                if outcome.exit_code != 0:
                    log.error("crawl %s: crawl process exited with %s; see %s", outcome.crawl_id,
                              outcome.exit_code, outcome.log_path)  # fmt: skip
                for line in outcome.lines:
                    if line.outcome == "error":
                        log.warning("source %s: %s", line.source_id, line.error)
                prepare(obj, db, now=datetime.now(UTC))
                run_watches(obj, db, start_after=mark)  # alerts within the refresh; retries of failed ones too
            finally:
                db.close()
    except Busy as exc:
        log.info("refresh skipped: %s", exc)
        result.skipped = True
        return result
    if result.planned:
        log.info("refresh: %d source(s) crawled, %d new item(s), %d error(s)", result.planned, result.new,
                 result.errors)  # fmt: skip
    return result


def daily_digest(config_dir: str, db_url: str | None = None, *, now: datetime | None = None) -> str | None:
    """Build the newest closed digest if the archive lacks it, write its files, mail it once if mail is set up.

    Safe to run any number of times: the archive holds one digest per date and remembers what was mailed. A
    failure to write or mail is raised (and logged by the scheduler) and retried on the next run.
    """
    obj = Context(Path(config_dir), db_url)
    settings = obj.settings
    now = now or datetime.now(UTC)
    # Waits for a crawl in flight: items it has fetched before the closing time belong in this digest.
    with crawl_lock(settings.data_path, wait=1800):
        db = obj.database()
        try:
            prepare(obj, db, now=now)
            with db.session() as session:
                local_date = archive.newest_closed_date(session, settings, now)
                built = archive.build(session, settings, obj.topics(), local_date, now=now)
                content = built.digest.content
            if built.created:
                log.info("digest %s built: %d stories", content["date"], content["counts"]["shown"])
            with db.session() as session:
                archive.write_outputs(session, settings, content)
            if settings.mail.recipients:
                with db.session() as session:
                    if archive.send(session, settings, archive.load(session, content["date"]), now=now):
                        log.info("digest %s mailed to %s", content["date"], ", ".join(settings.mail.recipients))
            return str(content["date"])
        finally:
            db.close()


def retrain(config_dir: str, db_url: str | None = None) -> bool:
    """Retrain when the reporter gave feedback since the last training; re-tag the last week's items."""
    obj = Context(Path(config_dir), db_url)
    topics = obj.topics()
    db = obj.database()
    try:
        with db.session() as session:
            clf = load_classifier(obj.settings, topics, session=session)
            waiting = labels_since_training(session, clf)
        if not waiting:
            return False
        with db.session() as session:
            clf = train_classifier(obj.settings, topics, session=session)
            since = datetime.now(UTC) - timedelta(days=7)
            ids = list(session.scalars(select(Item.id).where(Item.first_seen_at >= since)))
        for start in range(0, len(ids), 2000):
            with db.session() as session:
                tag_items(session, clf, ids[start : start + 2000], now=datetime.now(UTC))
        log.info("retrained on %d new label(s); re-tagged %d recent item(s)", waiting, len(ids))
        return True
    finally:
        db.close()


def maintain(config_dir: str, db_url: str | None = None) -> None:
    """Keep the database quick: merge the full-text index, refresh planner statistics, trim the WAL."""
    obj = Context(Path(config_dir), db_url)
    db = obj.database()
    try:
        with db.engine.connect() as conn:
            if db.dialect == "sqlite":
                conn.execute(text("INSERT INTO items_fts(items_fts) VALUES('optimize')"))
                conn.execute(text("PRAGMA optimize"))
                conn.commit()
                conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            else:
                conn.execute(text("ANALYZE"))
                conn.commit()
        log.info("maintenance done (%s)", db.dialect)
    finally:
        db.close()


def last_crawl(session: Any) -> tuple[str, datetime, int, int] | None:
    """(crawl id, when, sources fetched, errors) of the newest crawl in the fetch log."""
    newest = session.execute(
        select(Fetch.crawl_id, Fetch.started_at).order_by(Fetch.started_at.desc()).limit(1)
    ).first()
    if newest is None:
        return None
    crawl_id = newest[0]
    fetched = session.scalar(select(func.count()).select_from(Fetch).where(Fetch.crawl_id == crawl_id)) or 0
    errors = session.scalar(
        select(func.count()).select_from(Fetch).where(Fetch.crawl_id == crawl_id, Fetch.outcome == "error")
    )
    return crawl_id, newest[1], int(fetched), int(errors or 0)
