"""Decide what one crawl will fetch: the due sources with their conditional-GET state and pending pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aggregator.config.settings import Settings
from aggregator.config.sources import SourceCatalog
from aggregator.crawl.state import due_source_ids, sync_sources
from aggregator.models import Source
from aggregator.store.database import Database
from aggregator.store.ingest import pending_articles


@dataclass(frozen=True)
class CrawlTask:
    """One source to fetch in this crawl (picklable: it crosses into the crawl process)."""

    source_id: str
    kind: str
    url: str
    language: str
    fulltext: bool
    options: dict[str, Any]
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    pending_articles: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class CrawlPlan:
    """Everything the crawl process needs; it reads nothing else from config."""

    crawl_id: str
    database_url: str
    settings: dict[str, Any]
    tasks: list[CrawlTask]
    # Scrapy settings laid over the ones derived from settings.toml (tests and benchmarks use this).
    extra_scrapy_settings: dict[str, Any] = field(default_factory=dict)


def build_plan(
    db: Database,
    settings: Settings,
    catalog: SourceCatalog,
    *,
    crawl_id: str,
    now: datetime,
    wanted: list[str] | None = None,
) -> CrawlPlan:
    """Sync config into the sources table and pick the sources to crawl now."""
    configs = catalog.by_id()
    with db.session() as session:
        sync_sources(session, catalog)
        ids = [sid for sid in due_source_ids(session, now, wanted) if sid in configs]
        rows = {s.id: s for s in session.query(Source).filter(Source.id.in_(ids))}
        fulltext_ids = [sid for sid in ids if configs[sid].fulltext]
        pending = pending_articles(session, fulltext_ids, limit_per_source=settings.crawl.fulltext_per_source)
    tasks = []
    for sid in ids:
        cfg, row = configs[sid], rows[sid]
        tasks.append(
            CrawlTask(
                source_id=sid,
                kind=cfg.kind.value,
                url=cfg.url,
                language=cfg.language,
                fulltext=cfg.fulltext,
                options=dict(cfg.options),
                etag=row.etag,
                last_modified=row.last_modified,
                body_hash=row.body_hash,
                pending_articles=pending.get(sid, []),
            )
        )
    return CrawlPlan(
        crawl_id=crawl_id,
        database_url=db.url,
        settings=settings.model_dump(mode="json"),
        tasks=tasks,
    )
