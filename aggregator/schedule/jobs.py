"""What the scheduler runs: refresh due sources, the daily digest, retraining, database upkeep."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from aggregator.errors import AggregatorError

log = logging.getLogger("aggregator.schedule.jobs")


class Busy(AggregatorError):
    """Another process holds the crawl lock."""


@contextmanager
def crawl_lock(data_path: Path, *, wait: float = 0.0) -> Iterator[None]:
    """One crawl (or digest build) at a time per data directory, across processes; waits up to `wait` seconds."""
    data_path.mkdir(parents=True, exist_ok=True)
    path = data_path / "crawl.lock"
    with open(path, "a+") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise Busy(f"busy: a crawl is already running ({holder}; lock {path})") from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _context(config_dir: str, db_url: str | None) -> Any:
    from aggregator.cli.main import Context

    return Context(config_dir=Path(config_dir), db_url=db_url, verbose=False)


@dataclass
class RefreshResult:
    planned: int = 0
    new: int = 0
    errors: int = 0
    skipped: bool = False


def refresh(config_dir: str, db_url: str | None = None) -> RefreshResult:
    """Crawl the sources that are due, tag what came in and group it into stories."""
    from aggregator.cli.digest import prepare
    from aggregator.cli.topics import ensure_classifier
    from aggregator.spiders.process import crawl_sources

    obj = _context(config_dir, db_url)
    catalog = obj.catalog()
    for problem in catalog.problems:
        log.warning("sources: %s", problem)
    result = RefreshResult()
    try:
        with crawl_lock(obj.settings.data_path):
            db = obj.database()
            try:
                ensure_classifier(obj, db, quiet=True)
                outcome = crawl_sources(db, obj.settings, catalog)
                result.planned = outcome.planned
                result.new = sum(line.new for line in outcome.lines)
                result.errors = sum(1 for line in outcome.lines if line.outcome == "error")
                if outcome.exit_code != 0:
                    log.error("crawl %s: crawl process exited with %s; see %s", outcome.crawl_id,
                              outcome.exit_code, outcome.log_path)  # fmt: skip
                for line in outcome.lines:
                    if line.outcome == "error":
                        log.warning("source %s: %s", line.source_id, line.error)
                prepare(obj, db, now=datetime.now(UTC))
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
    from aggregator.cli.digest import prepare
    from aggregator.cli.topics import _topics
    from aggregator.digest import archive
    from aggregator.digest.build import latest_closed_date

    obj = _context(config_dir, db_url)
    settings = obj.settings
    now = now or datetime.now(UTC)
    # Waits for a crawl in flight: items it has fetched before the closing time belong in this digest.
    with crawl_lock(settings.data_path, wait=1800):
        db = obj.database()
        try:
            prepare(obj, db, now=now)
            with db.session() as session:
                local_date = latest_closed_date(now, archive.options(settings))
                built = archive.build(session, settings, _topics(obj), local_date, now=now)
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
    from aggregator.classify.tagging import labels_since_training, load_classifier, tag_items, train_classifier
    from aggregator.cli.topics import _topics
    from aggregator.models import Item

    obj = _context(config_dir, db_url)
    topics = _topics(obj)
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
    obj = _context(config_dir, db_url)
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
    from aggregator.models import Fetch

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
