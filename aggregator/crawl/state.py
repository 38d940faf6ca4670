"""Keep the `sources` table in step with config, record each fetch, and say which sources are due."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from aggregator.config.sources import SourceCatalog, SourceConfig
from aggregator.crawl.polling import PollPolicy, adaptive_interval, next_check, publish_rate
from aggregator.models import Fetch, Source
from aggregator.parse.entry import Entry
from aggregator.store.ingest import IngestResult, storable_text, store_entries

# Outcomes of one fetch, as stored in fetches.outcome.
OK, NOT_MODIFIED, UNCHANGED, ERROR = "ok", "not_modified", "unchanged", "error"


@dataclass
class FetchReport:
    """Everything one fetch of a source produced; built by the crawl, stored by `record_fetch`."""

    source_id: str
    url: str
    started_at: datetime
    outcome: str
    http_status: int | None = None
    bytes: int = 0
    duration_ms: int = 0
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    feed_title: str | None = None
    ttl_seconds: float | None = None
    max_age_seconds: float | None = None
    retry_after_seconds: float | None = None
    warnings: list[str] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    duplicate_guids: int = 0
    # False for follow-up fetches of a source (child sitemaps): they add entries, not source state.
    primary: bool = True


def sync_sources(session: Session, catalog: SourceCatalog) -> None:
    """Upsert every configured source; sources gone from config stay (their items do) but are disabled."""
    existing = {s.id: s for s in session.scalars(select(Source))}
    for cfg in catalog.sources:
        row = existing.get(cfg.id)
        values = _config_values(cfg)
        if row is None:
            session.add(Source(id=cfg.id, error_count=0, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
            if row.url != cfg.url:
                row.etag = row.last_modified = row.body_hash = None
    configured = {c.id for c in catalog.sources}
    invalid = {p.source_id for p in catalog.problems if p.source_id}
    for sid, row in existing.items():
        # A source whose config entry is broken keeps its state; only removed ones go dormant.
        if sid not in configured and sid not in invalid:
            row.in_config = False
    session.flush()


def _config_values(cfg: SourceConfig) -> dict[str, Any]:
    return {
        "name": cfg.name,
        "kind": cfg.kind.value,
        "url": cfg.url,
        "language": cfg.language,
        "tier": cfg.tier.value,
        "enabled": cfg.enabled,
        "in_config": True,
        "interval_seconds": cfg.poll_interval,
    }


def due_source_ids(session: Session, now: datetime, wanted: list[str] | None = None) -> list[str]:
    """Ids of enabled, configured sources whose next check has come (or the named ones, due or not)."""
    query = select(Source.id).where(Source.in_config.is_(True))
    if wanted:
        query = query.where(Source.id.in_(wanted))
    else:
        query = query.where(Source.enabled.is_(True), or_(Source.next_check_at.is_(None), Source.next_check_at <= now))
    return list(session.scalars(query.order_by(Source.next_check_at.is_(None).desc(), Source.next_check_at)))


def record_fetch(
    session: Session,
    report: FetchReport,
    *,
    crawl_id: str,
    policy: PollPolicy,
    now: datetime,
    fulltext: bool = False,
    rng: random.Random | None = None,
    fetch_log: list[dict[str, Any]] | None = None,
) -> IngestResult:
    """Store the report's entries and the source's new state in the caller's transaction.

    With `fetch_log`, the fetch-log row is appended there for the caller to insert in bulk.
    """
    source = session.get(Source, report.source_id)
    if source is None:
        raise KeyError(f"store: unknown source {report.source_id!r}")
    result = store_entries(session, report.source_id, report.entries, now=now, fulltext=fulltext)
    failed = report.outcome == ERROR
    warning = "warning: " + "; ".join(report.warnings)[:2000] if report.warnings else None
    row = _fetch_row(report, result, crawl_id, warning)
    if fetch_log is None:
        session.execute(insert(Fetch), [row])
    else:
        fetch_log.append(row)
    if not report.primary:
        if failed:
            source.last_error, source.last_error_at = storable_text(report.error or "") or None, now
        elif result.new:
            source.last_new_item_at = now
        return result
    previous_fetch = source.last_fetch_at
    source.last_fetch_at = now
    source.last_status = report.http_status
    if failed:
        source.error_count = (source.error_count or 0) + 1
        source.last_error = storable_text(report.error or "") or None
        source.last_error_at = now
    else:
        source.error_count = 0
        source.last_success_at = now
        if report.outcome == OK:
            source.etag = report.etag
            source.last_modified = report.last_modified
            source.body_hash = report.body_hash
            if report.feed_title:
                source.feed_title = storable_text(report.feed_title)[:1000]
        if result.new:
            source.last_new_item_at = now
        if previous_fetch is not None:  # a first fetch brings the backlog, not the rate
            hours = (now - previous_fetch).total_seconds() / 3600
            source.publish_rate = publish_rate(source.publish_rate, result.new, hours)
    # A poll_interval from sources.toml is the maintainer's word; otherwise the source's own pace decides.
    interval = source.interval_seconds or adaptive_interval(source.publish_rate, policy)
    source.next_check_at, _ = next_check(
        now,
        policy,
        interval=interval,
        error_count=source.error_count,
        ttl=report.ttl_seconds,
        max_age=report.max_age_seconds,
        retry_after_seconds=report.retry_after_seconds,
        rng=rng,
    )
    return result


def _fetch_row(report: FetchReport, result: IngestResult, crawl_id: str, warning: str | None) -> dict[str, Any]:
    return {
        "crawl_id": crawl_id,
        "source_id": report.source_id,
        "url": storable_text(report.url),
        "started_at": report.started_at,
        "outcome": report.outcome,
        "http_status": report.http_status,
        "bytes": report.bytes,
        "duration_ms": report.duration_ms,
        "entries": len(report.entries),
        "new": result.new,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "duplicates": result.duplicates + report.duplicate_guids,
        "error": storable_text(e) if (e := report.error or warning) else None,
    }


def insert_fetch_log(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert fetch-log rows gathered with `record_fetch(..., fetch_log=rows)`."""
    if rows:
        session.execute(insert(Fetch.__table__), rows)  # type: ignore[arg-type]


def record_crash(session: Session, source_id: str, message: str, *, now: datetime) -> None:
    """Store an unexpected failure on the source row without touching its items."""
    session.execute(
        update(Source)
        .where(Source.id == source_id)
        .values(last_error=storable_text(message)[:2000], last_error_at=now, error_count=Source.error_count + 1)
    )
