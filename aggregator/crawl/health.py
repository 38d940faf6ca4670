"""Per-source health and per-crawl summaries, read from the sources, fetches and items tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aggregator.models import Fetch, Item, Sighting, Source

# A source with nothing new for this long is flagged as possibly stale.
STALE_AFTER = timedelta(days=14)

# Guid churn: a feed whose last CHURN_FETCHES fetches (after an earlier one) each brought mostly guids never seen
# (CHURN_NEW_SHARE of at least CHURN_MIN_ENTRIES entries) while its size stayed within CHURN_SIZE_SPREAD, and whose
# new guids are mostly (CHURN_REPEAT_SHARE) articles it brought before: the same link, or the same title.
CHURN_FETCHES = 3
CHURN_NEW_SHARE = 0.8
CHURN_MIN_ENTRIES = 5
CHURN_SIZE_SPREAD = 0.2
CHURN_REPEAT_SHARE = 0.5
_READ_OUTCOMES = ("ok", "unchanged", "not_modified")  # fetches that read the feed (errors say nothing of its guids)


@dataclass(frozen=True)
class CrawlLine:
    """One source's result in one crawl."""

    source_id: str
    outcome: str
    http_status: int | None
    new: int
    updated: int
    unchanged: int
    duplicates: int
    fetches: int
    error: str | None


def crawl_summary(session: Session, crawl_id: str) -> list[CrawlLine]:
    """Aggregate the fetches of one crawl per source; the primary fetch's outcome wins."""
    rows = session.execute(select(Fetch).where(Fetch.crawl_id == crawl_id).order_by(Fetch.id)).scalars()
    lines: dict[str, CrawlLine] = {}
    for f in rows:
        prev = lines.get(f.source_id)
        if prev is None:
            lines[f.source_id] = CrawlLine(
                f.source_id, f.outcome, f.http_status, f.new, f.updated, f.unchanged, f.duplicates, 1, f.error
            )
            continue
        lines[f.source_id] = CrawlLine(
            f.source_id,
            prev.outcome if prev.outcome == "error" or f.outcome != "error" else "partial",
            prev.http_status,
            prev.new + f.new,
            prev.updated + f.updated,
            prev.unchanged + f.unchanged,
            prev.duplicates + f.duplicates,
            prev.fetches + 1,
            prev.error or f.error,
        )
    return sorted(lines.values(), key=lambda line: line.source_id)


@dataclass(frozen=True)
class SourceHealth:
    """What `sources check` shows for one source."""

    source_id: str
    name: str
    kind: str
    enabled: bool
    status: str
    last_success_at: datetime | None
    last_error: str | None
    error_streak: int
    items_7d: int
    items_total: int
    avg_latency_ms: int | None
    next_check_at: datetime | None
    warning: str | None = None  # what looks wrong while fetches succeed (guid churn)


def source_health(session: Session, now: datetime, *, stale_after: timedelta = STALE_AFTER) -> list[SourceHealth]:
    """Health of every configured source, worst first."""
    week_ago = now - timedelta(days=7)
    recent = dict(
        session.execute(
            select(Sighting.source_id, func.count()).where(Sighting.seen_at >= week_ago).group_by(Sighting.source_id)
        ).all()
    )
    total = dict(session.execute(select(Sighting.source_id, func.count()).group_by(Sighting.source_id)).all())
    latency: dict[str, float | None] = dict(
        session.execute(
            select(Fetch.source_id, func.avg(Fetch.duration_ms))
            .where(Fetch.started_at >= week_ago, Fetch.outcome != "error")
            .group_by(Fetch.source_id)
        ).all()
    )
    out = []
    sources = list(session.scalars(select(Source).where(Source.in_config.is_(True))))
    churn = guid_churn(session, [s.id for s in sources if s.kind == "feed" and s.enabled], since=week_ago)
    for s in sources:
        status = _status(s, now, stale_after)
        warning = churn.get(s.id) if status == "ok" else None
        out.append(
            SourceHealth(
                source_id=s.id,
                name=s.name,
                kind=s.kind,
                enabled=s.enabled,
                status="warning" if warning else status,
                last_success_at=s.last_success_at,
                last_error=s.last_error,
                error_streak=s.error_count,
                items_7d=int(recent.get(s.id, 0)),
                items_total=int(total.get(s.id, 0)),
                avg_latency_ms=_as_int(latency.get(s.id)),
                next_check_at=s.next_check_at,
                warning=warning,
            )
        )
    order = {"failing": 0, "stale": 1, "never": 2, "warning": 3, "ok": 4, "disabled": 5}
    return sorted(out, key=lambda h: (order.get(h.status, 9), h.source_id))


def guid_churn(session: Session, source_ids: list[str], *, since: datetime) -> dict[str, str]:
    """Feeds whose guids changed on every fetch since `since` (see CHURN_*), each with the note to show."""
    if not source_ids:
        return {}
    recent = (
        select(
            Fetch.source_id,
            Fetch.started_at,
            Fetch.outcome,
            Fetch.entries,
            Fetch.new,
            (Fetch.entries - Fetch.updated - Fetch.unchanged).label("new_guids"),
            func.row_number().over(partition_by=Fetch.source_id, order_by=Fetch.id.desc()).label("rank"),
        )
        .where(Fetch.source_id.in_(source_ids), Fetch.started_at >= since, Fetch.outcome.in_(_READ_OUTCOMES))
        .subquery()
    )
    rows = session.execute(select(recent).where(recent.c.rank <= CHURN_FETCHES + 1).order_by(recent.c.rank))
    fetches: dict[str, list[Any]] = {}
    for row in rows:
        fetches.setdefault(row.source_id, []).append(row)
    notes = {}
    for source_id, history in fetches.items():
        if len(history) <= CHURN_FETCHES:  # the first fetch of a feed brings all of it: never a sign
            continue
        window, before = history[:CHURN_FETCHES], history[CHURN_FETCHES]
        sizes = [f.entries for f in window]
        if not all(
            f.outcome == "ok" and f.entries >= CHURN_MIN_ENTRIES and f.new_guids >= CHURN_NEW_SHARE * f.entries
            for f in window
        ) or max(sizes) > min(sizes) * (1 + CHURN_SIZE_SPREAD):
            continue
        new_guids = sum(f.new_guids for f in window)
        if _repeats(session, source_id, before.started_at, window[-1].started_at) < CHURN_REPEAT_SHARE * new_guids:
            continue  # mostly articles never seen: a busy feed, not a churning one
        per_fetch = round(sum(f.new for f in window) / CHURN_FETCHES)
        what = f"{per_fetch} new items" if per_fetch else f"{round(new_guids / CHURN_FETCHES)} new guids (no new items)"
        notes[source_id] = f"guid churn: {what} per fetch, the feed's guids change on every fetch"
    return notes


def _repeats(session: Session, source_id: str, since: datetime, window_start: datetime) -> int:
    """Guids the source brought since `window_start` for an article it had brought since `since` under another guid:
    the same item (its link matched), or another item with the same title."""
    rows = session.execute(
        select(Sighting.item_id, Sighting.seen_at, Item.title)
        .join(Item, Item.id == Sighting.item_id)
        .where(Sighting.source_id == source_id, Sighting.seen_at >= since)
        .order_by(Sighting.id)
    )
    items: set[int] = set()
    titles: dict[str, int] = {}
    repeats = 0
    for item_id, seen_at, title in rows:
        if seen_at >= window_start and (item_id in items or titles.get(title, item_id) != item_id):
            repeats += 1
        items.add(item_id)
        if title:
            titles.setdefault(title, item_id)
    return repeats


def _as_int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _status(s: Source, now: datetime, stale_after: timedelta) -> str:
    if not s.enabled:
        return "disabled"
    if s.error_count > 0:
        return "failing"
    if s.last_success_at is None:
        return "never"
    newest = s.last_new_item_at or s.last_success_at
    if s.last_new_item_at is None or now - newest > stale_after:
        return "stale"
    return "ok"


def item_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Item)) or 0)
