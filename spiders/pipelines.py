"""The item pipeline: every spider's output goes through aggregator's ingest into the database."""

from __future__ import annotations

import gc
import json
import logging
import random
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from aggregator.config.settings import Settings
from aggregator.crawl.polling import PollPolicy
from aggregator.crawl.state import ERROR, OK, FetchReport, insert_fetch_log, record_crash, record_fetch
from aggregator.errors import AggregatorError
from aggregator.models import Item, Source
from aggregator.parse.entry import Entry
from aggregator.spiders.items import ArticleFailed, ArticleFetched
from aggregator.store.database import Database, error_line
from aggregator.store.ingest import IngestResult, mark_fulltext_failed, store_article
from aggregator.store.sizes import cut_warning

log = logging.getLogger(__name__)

BATCH_ENTRIES = 500
BATCH_REPORTS = 100
BATCH_SECONDS = 1.0


class StorePipeline:
    """Stores each FetchReport in one transaction (items and source state together), then queues the
    article pages of new items for full-text sources."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.db: Database | None = None
        self.buffered: dict[str, list[Entry]] = defaultdict(list)
        self.pending: list[FetchReport] = []
        self.pending_entries = 0
        self.articles_queued = 0
        # Loaded on the first items to tag (a re-crawl of unchanged feeds never pays for it); False once it failed.
        self.classifier: Any = None
        self.entity_matcher: Any = None  # the same, for entities.toml
        # What tagging cost this crawl (classifier load included), said when the spider closes: `aggregator crawl`
        # shows it, and bench/crawl.py reads it (steadier than comparing two crawls on a shared machine).
        self.tagged = 0
        self.tagging_cpu = 0.0
        self.last_flush = time.monotonic()
        self.rng = random.Random()

    @classmethod
    def from_crawler(cls, crawler: Any) -> StorePipeline:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline._on_idle, signal=signals.spider_idle)
        return pipeline

    def _on_idle(self) -> None:
        # Before the spider closes, store what is batched: it may queue article pages to fetch.
        if self.pending:
            queued = self.articles_queued
            self._flush()
            if self.articles_queued > queued:
                raise DontCloseSpider

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
        # What is alive now (Scrapy's engine, the settings, the plan) lives as long as the crawl: out of the cycle
        # collector's reach, its full collections stop rescanning it.
        gc.freeze()

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
            _note_cuts(report)
            self._store_report(report)
        self.buffered.clear()
        self._flush()
        if self.db is not None:
            self.db.close()
        if self.tagged:
            self._emit({"event": "tagging", "items": self.tagged, "cpu_seconds": round(self.tagging_cpu, 4)})

    def process_item(self, item: Any) -> Any:
        if isinstance(item, FetchReport):
            self._queue_report(item)
        elif isinstance(item, Entry):
            self.buffered[item.source_id].append(item)
        elif isinstance(item, ArticleFetched):
            self._store_article(item)
        elif isinstance(item, ArticleFailed):
            self._article_failed(item)
        return item

    def _queue_report(self, report: FetchReport) -> None:
        # Reports are stored a few hundred entries at a time, in one transaction: each source's items and
        # state still go in all or nothing (a kill loses at most the last batch, which the next crawl
        # fetches again), and SQLite's per-commit cost (WAL frames, FTS5 segments) is paid once per batch.
        _note_cuts(report)
        self.pending.append(report)
        self.pending_entries += len(report.entries)
        if (
            self.pending_entries >= BATCH_ENTRIES
            or len(self.pending) >= BATCH_REPORTS
            or time.monotonic() - self.last_flush > BATCH_SECONDS
        ):
            self._flush()

    def _flush(self) -> None:
        self.last_flush = time.monotonic()
        reports, self.pending, self.pending_entries = self.pending, [], 0
        if not reports or self.db is None:
            return
        now = datetime.now(UTC)
        results = []
        try:
            with self.db.session() as session:
                # One SELECT loads every source row, one INSERT writes every log line.
                list(session.scalars(select(Source).where(Source.id.in_({r.source_id for r in reports}))))
                log_rows: list[dict[str, Any]] = []
                for report in reports:
                    task = self.tasks.get(report.source_id)
                    results.append(
                        record_fetch(
                            session,
                            report,
                            crawl_id=self.spider.plan.crawl_id,
                            policy=self.policy,
                            now=now,
                            fulltext=bool(task and task.fulltext),
                            rng=self.rng,
                            fetch_log=log_rows,
                        )
                    )
                insert_fetch_log(session, log_rows)
                tagged = self._classify(
                    session, [i for r in results for i in r.new_rows], [i for r in results for i in r.updated_ids]
                )
        except (SQLAlchemyError, AggregatorError, ValueError, KeyError):
            log.warning("store: a batch of %d reports failed; storing them one by one", len(reports), exc_info=True)
            for report in reports:
                self._store_report(report)
            return
        self.tagged += tagged  # counted once committed: a batch stored again one by one is tagged again
        for report, result in zip(reports, results, strict=True):
            self._after_store(report, result)

    def _after_store(self, report: FetchReport, result: IngestResult) -> None:
        self._emit(
            {
                "event": "fetch",
                "source_id": report.source_id,
                "outcome": report.outcome,
                "status": report.http_status,
                "error": report.error,
                "primary": report.primary,
                "stored": True,
                "new": result.new,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "duplicates": result.duplicates,
            }
        )
        task = self.tasks.get(report.source_id)
        if task and task.fulltext and result.new_rows:
            self._queue_articles(report.source_id, result.new_ids)
        if task and task.fulltext and result.updated_ids and self.settings.capture.enabled:
            self._queue_refetches(report.source_id, result.updated_ids)

    def _store_report(self, report: FetchReport) -> None:
        """One report in its own transaction: the fallback when a batch fails."""
        assert self.db is not None
        task = self.tasks.get(report.source_id)
        for attempt in (1, 2):
            try:
                with self.db.session() as session:
                    result = record_fetch(
                        session,
                        report,
                        crawl_id=self.spider.plan.crawl_id,
                        policy=self.policy,
                        now=datetime.now(UTC),
                        fulltext=bool(task and task.fulltext),
                        rng=self.rng,
                    )
                    tagged = self._classify(session, result.new_rows, result.updated_ids)
                self.tagged += tagged
                break
            except IntegrityError as exc:
                # Another writer stored one of these entries between our lookup and insert: look again.
                if attempt == 2:
                    self._crash(report.source_id, f"store: {error_line(exc)}")
                    return
            except (SQLAlchemyError, AggregatorError, ValueError, KeyError) as exc:
                self._crash(report.source_id, f"store: {error_line(exc)}")
                return
        self._after_store(report, result)

    def _classify(self, session: Session, new_rows: list[dict[str, Any]], updated_ids: list[int]) -> int:
        """Tag and match entities in the items just stored, in the transaction that stores them: readers never see a
        new item untagged, and no second commit and re-opened session are paid per batch. Each runs in a savepoint:
        a classifier or entities.toml problem costs tags or mentions (the parent catches up after the crawl), never
        the items. Returns how many items were tagged."""
        if not new_rows and not updated_ids:
            return 0
        tagged = self._tag(session, new_rows, updated_ids)
        self._match_entities(session, new_rows, updated_ids)
        return tagged

    def _tag(self, session: Session, new_rows: list[dict[str, Any]], updated_ids: list[int]) -> int:
        if self.classifier is False:
            return 0
        started = time.process_time()
        try:
            # Here, not at the top: a crawl with nothing to tag never loads the classifier's modules.
            from aggregator.classify.tagging import tag_items, tag_new_items

            if self.classifier is None:
                self.classifier = self._load_classifier()
            now = datetime.now(UTC)
            with session.begin_nested():
                tagged = tag_new_items(session, self.classifier, new_rows, now=now)
                tagged += tag_items(session, self.classifier, updated_ids, now=now)
        except Exception as exc:  # a classifier problem must cost tags, not the crawl
            log.warning("classify: tagging disabled for this crawl: %s", error_line(exc))
            self.classifier = False
            tagged = 0
        self.tagging_cpu += time.process_time() - started  # all of it: work lost to a rollback was spent too
        return tagged

    def _match_entities(self, session: Session, new_rows: list[dict[str, Any]], updated_ids: list[int]) -> None:
        if self.entity_matcher is False:
            return
        try:
            # Here, not at the top: as for the classifier, a crawl that stores nothing never builds the matcher.
            from aggregator.classify.entities import matcher_for
            from aggregator.classify.entity_tagging import match_items, match_new_items, sync_entities
            from aggregator.config.entities import load_entities

            with session.begin_nested():
                if self.entity_matcher is None:
                    entities = load_entities(Path(self.settings.config_dir))
                    sync_entities(session, entities)
                    self.entity_matcher = matcher_for(entities)
                if self.entity_matcher.ids:  # an empty entities.toml: nothing to find (the parent's catch-up marks)
                    now = datetime.now(UTC)
                    match_new_items(session, self.entity_matcher, new_rows, now=now)
                    match_items(session, self.entity_matcher, updated_ids, now=now)
        except Exception as exc:  # an entities.toml problem must cost mentions, not the crawl
            log.warning("entities: matching disabled for this crawl: %s", error_line(exc))
            self.entity_matcher = False

    def _load_classifier(self) -> Any:
        # Here, not at the top: the classifier (numpy and all) is loaded only when a crawl has items to tag.
        from aggregator.classify.tagging import load_classifier
        from aggregator.classify.topics import load_topics

        topics = load_topics(Path(self.settings.config_dir))
        # The parent trained and saved one before starting the crawl; here it is only read.
        classifier = load_classifier(self.settings, topics, train_if_missing=False)
        gc.freeze()  # the classifier's vocabulary and rules live as long as the crawl too (see open_spider)
        return classifier

    def _queue_articles(self, source_id: str, new_ids: list[int]) -> None:
        assert self.db is not None
        with self.db.session() as session:
            rows = session.execute(
                select(Item.id, Item.url).where(Item.id.in_(new_ids), Item.fulltext_state == "pending")
            ).all()
        limit = self.settings.crawl.fulltext_per_source
        for item_id, url in rows[:limit]:
            self.crawler.engine.crawl(self.spider.article_request(source_id, item_id, url))
            self.articles_queued += 1

    def _queue_refetches(self, source_id: str, updated_ids: list[int]) -> None:
        """Fetch again the article pages of items whose feed entry changed: the edited page is captured as a new
        version, and its text replaces the stored one."""
        assert self.db is not None
        with self.db.session() as session:
            rows = session.execute(
                select(Item.id, Item.url).where(Item.id.in_(updated_ids), Item.fulltext_state == "done")
            ).all()
        for item_id, url in rows[: self.settings.crawl.fulltext_per_source]:
            self.crawler.engine.crawl(self.spider.article_request(source_id, item_id, url, refetch=True))
            self.articles_queued += 1

    def _store_article(self, item: Any) -> None:
        assert self.db is not None
        try:
            with self.db.session() as session:
                kept = store_article(session, item.item_id, item.article, now=datetime.now(UTC), refetch=item.refetch)
                self._classify(session, [], [kept])  # the full text says more than the teaser it was first tagged on
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
        """The source's fetch could not be stored: say so on its row if the database lets us, and to the parent
        in any case (a read-only or full database keeps even this from being recorded)."""
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
                "stored": False,
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


def _note_cuts(report: FetchReport) -> None:
    """Add to the report's warnings (the fetch log) that storing will cut some of its entries' fields to size."""
    warning = cut_warning(report.entries)
    if warning:
        report.warnings.append(warning)
