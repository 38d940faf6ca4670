"""The item pipeline: every spider's output goes through aggregator's ingest into the database."""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from aggregator.database import Database
from aggregator.entry import Entry
from aggregator.ingest import mark_fulltext_failed, store_article
from aggregator.polling import PollPolicy
from aggregator.settings import Settings
from aggregator.source_state import ERROR, OK, FetchReport, insert_fetch_log, record_crash, record_fetch
from models import Item, Source

log = logging.getLogger(__name__)

STATE_BATCH = 100
STATE_FLUSH_SECONDS = 1.0


class StorePipeline:
    """Stores each FetchReport in one transaction (items and source state together), then queues the
    article pages of new items for full-text sources."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.db: Database | None = None
        self.buffered: dict[str, list[Entry]] = defaultdict(list)
        self.pending_states: list[FetchReport] = []
        self.last_flush = time.monotonic()
        self.rng = random.Random()

    @classmethod
    def from_crawler(cls, crawler: Any) -> StorePipeline:
        return cls(crawler)

    @property
    def spider(self) -> Any:
        return self.crawler.spider

    def open_spider(self) -> None:
        plan = self.spider.plan
        settings = Settings.model_validate(plan.settings)
        self.settings = settings
        self.policy = PollPolicy(
            settings.crawl.default_interval, settings.crawl.min_interval, settings.crawl.max_interval
        )
        self.db = Database(plan.database_url, migrate_schema=False)
        self.tasks = {t.source_id: t for t in plan.tasks}

    def close_spider(self) -> None:
        # Site spiders yield bare entries; they are stored as one fetch when the spider ends.
        for source_id, entries in list(self.buffered.items()):
            task = self.tasks.get(source_id)
            report = FetchReport(
                source_id=source_id,
                url=task.url if task else "",
                started_at=datetime.now(UTC),
                outcome=OK,
                entries=entries,
            )
            self._store_report(report)
        self.buffered.clear()
        self._flush_states()
        if self.db is not None:
            self.db.close()

    def process_item(self, item: Any) -> Any:
        from spiders.items import ArticleFailed, ArticleFetched

        if isinstance(item, FetchReport):
            if item.entries:
                self._store_report(item)
            else:
                self._queue_state(item)
        elif isinstance(item, Entry):
            self.buffered[item.source_id].append(item)
        elif isinstance(item, ArticleFetched):
            self._store_article(item)
        elif isinstance(item, ArticleFailed):
            self._article_failed(item)
        return item

    def _queue_state(self, report: FetchReport) -> None:
        # Reports without entries (304, unchanged, errors) only touch the source row: they are stored
        # together, because one transaction per source would dominate a re-crawl of hundreds of feeds.
        # A kill before the flush loses nothing but the fact that these sources were checked.
        self.pending_states.append(report)
        if len(self.pending_states) >= STATE_BATCH or time.monotonic() - self.last_flush > STATE_FLUSH_SECONDS:
            self._flush_states()

    def _flush_states(self) -> None:
        self.last_flush = time.monotonic()
        reports, self.pending_states = self.pending_states, []
        if not reports or self.db is None:
            return
        now = datetime.now(UTC)
        try:
            with self.db.session() as session:
                # One SELECT loads every source row, one INSERT writes every log line.
                list(session.scalars(select(Source).where(Source.id.in_({r.source_id for r in reports}))))
                log_rows: list[dict[str, Any]] = []
                for report in reports:
                    record_fetch(
                        session,
                        report,
                        crawl_id=self.spider.plan.crawl_id,
                        policy=self.policy,
                        now=now,
                        rng=self.rng,
                        fetch_log=log_rows,
                    )
                insert_fetch_log(session, log_rows)
        except (SQLAlchemyError, ValueError, KeyError):
            log.exception("store: batch of %d source states failed; storing them one by one", len(reports))
            for report in reports:
                self._store_report(report)
            return
        for report in reports:
            self._emit(
                {
                    "event": "fetch",
                    "source_id": report.source_id,
                    "outcome": report.outcome,
                    "status": report.http_status,
                    "error": report.error,
                    "primary": report.primary,
                    "new": 0,
                    "updated": 0,
                    "unchanged": 0,
                    "duplicates": 0,
                }
            )

    def _store_report(self, report: FetchReport) -> None:
        assert self.db is not None
        task = self.tasks.get(report.source_id)
        fulltext = bool(task and task.fulltext)
        now = datetime.now(UTC)
        new_ids: list[int] = []
        for attempt in (1, 2):
            try:
                with self.db.session() as session:
                    result = record_fetch(
                        session,
                        report,
                        crawl_id=self.spider.plan.crawl_id,
                        policy=self.policy,
                        now=now,
                        fulltext=fulltext,
                        rng=self.rng,
                    )
                    new_ids = result.new_ids
                    counts = {
                        "new": result.new,
                        "updated": result.updated,
                        "unchanged": result.unchanged,
                        "duplicates": result.duplicates,
                    }
                break
            except IntegrityError as exc:
                # Another writer stored one of these entries between our lookup and insert: look again.
                if attempt == 2:
                    self._crash(report.source_id, f"store: {exc.orig}")
                    return
            except (SQLAlchemyError, ValueError, KeyError) as exc:
                self._crash(report.source_id, f"store: {type(exc).__name__}: {exc}")
                return
        self._emit(
            {
                "event": "fetch",
                "source_id": report.source_id,
                "outcome": report.outcome,
                "status": report.http_status,
                "error": report.error,
                "primary": report.primary,
                **counts,
            }
        )
        if fulltext and new_ids:
            self._queue_articles(report.source_id, new_ids)

    def _queue_articles(self, source_id: str, new_ids: list[int]) -> None:
        assert self.db is not None
        with self.db.session() as session:
            rows = session.execute(
                select(Item.id, Item.url).where(Item.id.in_(new_ids), Item.fulltext_state == "pending")
            ).all()
        limit = self.settings.crawl.fulltext_per_source
        for item_id, url in rows[:limit]:
            self.crawler.engine.crawl(self.spider.article_request(source_id, item_id, url))

    def _store_article(self, item: Any) -> None:
        assert self.db is not None
        try:
            with self.db.session() as session:
                store_article(session, item.item_id, item.article, now=datetime.now(UTC))
        except SQLAlchemyError as exc:
            log.error("store: article %s of %s: %s", item.item_id, item.source_id, exc)
        self._emit({"event": "article", "source_id": item.source_id, "ok": True})

    def _article_failed(self, item: Any) -> None:
        assert self.db is not None
        try:
            with self.db.session() as session:
                mark_fulltext_failed(
                    session,
                    item.item_id,
                    item.error,
                    max_attempts=self.settings.crawl.fulltext_attempts,
                    now=datetime.now(UTC),
                )
        except SQLAlchemyError as exc:
            log.error("store: article failure %s of %s: %s", item.item_id, item.source_id, exc)
        self._emit({"event": "article", "source_id": item.source_id, "ok": False, "error": item.error})

    def _crash(self, source_id: str, message: str) -> None:
        log.error("%s: %s", source_id, message)
        assert self.db is not None
        try:
            with self.db.session() as session:
                record_crash(session, source_id, message, now=datetime.now(UTC))
        except SQLAlchemyError:
            log.exception("store: could not record the failure of %s", source_id)
        self._emit(
            {
                "event": "fetch",
                "source_id": source_id,
                "outcome": ERROR,
                "error": message,
                "primary": True,
                "new": 0,
                "updated": 0,
                "unchanged": 0,
                "duplicates": 0,
            }
        )

    def _emit(self, event: dict[str, Any]) -> None:
        if self.spider.progress == "stdout":
            sys.stdout.write(json.dumps(event) + "\n")
            sys.stdout.flush()
