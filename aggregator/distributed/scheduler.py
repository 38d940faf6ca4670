"""`aggregator run --distributed`: the scheduler alone. It leads (a database lock), and each tick queues the due
sources in batches by host for the workers; it crawls nothing itself."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from aggregator.crawl.state import due_source_ids, sync_sources
from aggregator.distributed.app import TASK_NAME, make_app, open_database, require_celery
from aggregator.distributed.batches import Batch, host_of, make_batches
from aggregator.distributed.locks import holds_lead, leadership
from aggregator.models import Source
from aggregator.services.context import Context
from aggregator.store.database import Database

log = logging.getLogger(__name__)


class Queued:
    """What this scheduler has queued and not yet seen crawled: a host with a batch in flight gets no second one
    (its new due sources wait a tick) until that batch's sources are no longer due, have all been fetched since it
    was queued, or `requeue_after` passes."""

    def __init__(self, requeue_after: float) -> None:
        self.requeue_after = requeue_after
        self.hosts: dict[str, tuple[float, datetime, set[str]]] = {}

    def sources(self) -> set[str]:
        """The ids of every source in flight."""
        return {sid for _, _, ids in self.hosts.values() for sid in ids}

    def pending(self, due: set[str], now: float, fetched: Mapping[str, datetime | None]) -> set[str]:
        """Hosts still in flight; forgets the others. `fetched`: when each source in flight was last fetched (a
        source crawled and due again at once, before a tick saw it not due, must not wait for `requeue_after`)."""
        for host, (at, queued_at, ids) in list(self.hosts.items()):
            crawled = all((when := fetched.get(sid)) is not None and when >= queued_at for sid in ids)
            if now - at >= self.requeue_after or not ids & due or crawled:
                del self.hosts[host]
        return set(self.hosts)

    def add(self, batch: Batch, host_sources: dict[str, set[str]], now: float, queued_at: datetime) -> None:
        for host in batch.hosts:
            self.hosts[host] = (now, queued_at, host_sources[host])


def tick(ctx: Context, db: Database, app: Any, queued: Queued) -> int:
    """Queue the due sources not already in flight; returns how many batches were sent."""
    catalog = ctx.catalog()
    configs = catalog.by_id()
    now = datetime.now(UTC)
    with db.session() as session:
        sync_sources(session, catalog)
        due = [sid for sid in due_source_ids(session, now) if sid in configs]
        in_flight = queued.sources()
        last_fetch = select(Source.id, Source.last_fetch_at).where(Source.id.in_(in_flight))
        fetched = dict(session.execute(last_fetch).tuples().all()) if in_flight else {}
    hosts = {sid: host_of(configs[sid].url) for sid in due}
    busy = queued.pending(set(due), time.monotonic(), fetched)
    fresh = [(sid, hosts[sid]) for sid in due if hosts[sid] not in busy]
    host_sources: dict[str, set[str]] = {}
    for sid, host in fresh:
        host_sources.setdefault(host, set()).add(sid)
    sent = 0
    for batch in make_batches(fresh, ctx.settings.distributed.batch_size):
        # Retried briefly here; a broker that stays away is tried again next tick (nothing is marked queued).
        app.send_task(
            TASK_NAME,
            kwargs=batch.message(),
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.5, "interval_step": 1.0, "interval_max": 2.0},
        )
        queued.add(batch, host_sources, time.monotonic(), now)
        sent += 1
    if sent:
        log.info("scheduler: queued %d source(s) in %d batch(es); %d due in all", len(fresh), sent, len(due))
    return sent


def run(ctx: Context) -> None:
    """Lead (or wait to lead), then tick until SIGTERM or Ctrl-C."""
    require_celery()
    settings = ctx.settings
    db = open_database(settings.resolved_database_url(ctx.db_url))
    app = make_app(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.warning("scheduler: stopping (signal %d)", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        while not stop.is_set():
            _lead(ctx, db, app, stop)
    finally:
        db.close()


def _lead(ctx: Context, db: Database, app: Any, stop: threading.Event) -> None:
    """One spell of leadership: ends when told to stop or when the database connection (and so the lead) is lost."""
    queued = Queued(ctx.settings.distributed.requeue_after)
    try:
        with leadership(db.engine, stop) as conn:
            while conn is not None and not stop.is_set():
                if not holds_lead(conn):
                    log.warning("scheduler: lost the lead (database restarted?); waiting for it again")
                    return
                try:
                    tick(ctx, db, app, queued)
                except SQLAlchemyError as exc:
                    log.warning("scheduler: database: %s", " ".join(str(exc).split())[:300])
                except Exception as exc:  # the broker is away: kombu's errors, tried again next tick
                    log.warning("scheduler: broker: %s: %s; trying again next tick", type(exc).__name__, exc)
                stop.wait(ctx.settings.schedule.tick)
    except SQLAlchemyError as exc:
        log.warning("scheduler: database unreachable: %s", " ".join(str(exc).split())[:300])
        stop.wait(ctx.settings.schedule.tick)
