"""What `aggregator status` says about distributed crawling: live workers, the queue's length, the oldest due source."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aggregator.config.settings import Settings
from aggregator.models import Source, Worker


@dataclass(frozen=True)
class DistributedStatus:
    workers: list[Worker]  # heard from within `[distributed] worker_seen`
    queue: str
    queued: int | None  # batches waiting in the queue; None when the broker could not be asked
    queue_problem: str | None
    oldest_due: tuple[str, datetime | None] | None  # (source id, due since; None = never fetched)
    due: int


def distributed_status(session: Session, settings: Settings, now: datetime) -> DistributedStatus | None:
    """None when no worker has ever run on this database (distributed mode is not in use)."""
    if session.scalar(select(func.count()).select_from(Worker)) == 0:
        return None
    dist = settings.distributed
    since = now - timedelta(seconds=dist.worker_seen)
    workers = list(session.scalars(select(Worker).where(Worker.last_seen_at >= since).order_by(Worker.id)))
    due_filter = (
        Source.in_config.is_(True),
        Source.enabled.is_(True),
        (Source.next_check_at.is_(None)) | (Source.next_check_at <= now),
    )
    due = session.scalar(select(func.count()).select_from(Source).where(*due_filter)) or 0
    oldest = session.execute(
        select(Source.id, Source.next_check_at)
        .where(*due_filter)
        .order_by(Source.next_check_at.is_(None).desc(), Source.next_check_at)
        .limit(1)
    ).first()
    queued, problem = queue_length(settings)
    return DistributedStatus(workers, dist.queue, queued, problem, (oldest[0], oldest[1]) if oldest else None, int(due))


def queue_length(settings: Settings, *, timeout: float = 3.0) -> tuple[int | None, str | None]:
    """Messages waiting in the crawl queue (a passive declare: nothing is created), or why it is unknown."""
    try:
        kombu = importlib.import_module("kombu")
    except ImportError:
        return None, "kombu is not installed (pip install 'beat-aggregator[distributed]')"
    dist = settings.distributed
    try:
        with kombu.Connection(dist.resolved_broker_url, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1)
            declared = conn.default_channel.queue_declare(queue=dist.queue, passive=True)
            return int(declared.message_count), None
    except Exception as exc:  # the broker's many errors (refused, not found, access) all read as one line here
        text = " ".join(str(exc).split())[:200]
        if "NOT_FOUND" in text:
            return 0, None  # no worker or scheduler has declared it yet: nothing waits
        return None, f"broker: {type(exc).__name__}: {text}"
