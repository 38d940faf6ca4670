"""`aggregator worker`: take batches from the queue and crawl each through the same engine as `aggregator crawl`.

Each batch runs `services.crawl.run_crawl` (the Scrapy child process, then tagging and story grouping) on the worker
that took it. Tagging happens in the crawl process as each item is stored, and grouping right after, because both
read what the batch just wrote and cost less than the fetch itself: a task of their own would send every item
through the broker and read it back. Full-text pages are fetched inside the batch too, since they go to the same
hosts and must obey the same per-host politeness and host lock. Grouping is serialised across workers by a
PostgreSQL transaction lock (stories.store), so two workers never put one event in two stories.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError

from aggregator.crawl.state import due_source_ids
from aggregator.distributed.app import TASK_NAME, make_app, open_database, require_celery
from aggregator.distributed.locks import host_locks
from aggregator.models import Worker
from aggregator.services.context import Context
from aggregator.services.crawl import run_crawl
from aggregator.store.database import Database

log = logging.getLogger(__name__)
NOT_REACHED_RETRIES = 3  # a batch whose crawl process died before reporting on every source is tried again


class WorkerState:
    """This worker process: its context, database, heartbeat row and the batches it is crawling now."""

    def __init__(self, ctx: Context, db: Database, concurrency: int) -> None:
        self.ctx = ctx
        self.db = db
        self.concurrency = concurrency
        self.id = f"{socket.gethostname()}:{os.getpid()}"
        self.started = datetime.now(UTC)
        self.active: dict[int, str] = {}
        self.lock = threading.Lock()

    def beat(self, *, done: int = 0, retried: int = 0) -> None:
        """Record that this worker is alive (and what it just finished)."""
        with self.lock:
            current = "; ".join(self.active.values())[:2000] or None
        now = datetime.now(UTC)
        values = {
            "id": self.id,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "concurrency": self.concurrency,
            "queue": self.ctx.settings.distributed.queue,
            "started_at": self.started,
            "last_seen_at": now,
            "batches_done": done,
            "batches_retried": retried,
            "current": current,
        }
        statement = insert(Worker).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[Worker.id],
            set_={
                "last_seen_at": now,
                "current": current,
                "batches_done": Worker.batches_done + done,
                "batches_retried": Worker.batches_retried + retried,
            },
        )
        try:
            with self.db.session() as session:
                session.execute(statement)
        except SQLAlchemyError as exc:  # the next beat tries again; the crawl does not wait for it
            log.warning("worker: heartbeat: %s", " ".join(str(exc).split())[:200])

    def heartbeat(self, stop: threading.Event) -> None:
        while not stop.wait(self.ctx.settings.distributed.heartbeat):
            self.beat()

    def crawl(self, sources: list[str], hosts: list[str]) -> str:
        """Crawl what is still due of one batch, holding its hosts; returns "locked", "done" or "incomplete"."""
        with host_locks(self.db.engine, hosts) as held:
            if not held:
                return "locked"
            now = datetime.now(UTC)
            with self.db.session() as session:
                wanted = set(sources)
                # A batch delivered again (its worker was killed, or the broker lost the ack) skips what was done.
                due = [sid for sid in due_source_ids(session, now) if sid in wanted]
            if not due:
                log.info("worker: batch of %d source(s): nothing left to do", len(sources))
                return "done"
            with self.lock:
                self.active[threading.get_ident()] = f"{len(due)} source(s) on {', '.join(hosts[:3])}"
            try:
                catalog = self.ctx.catalog()
                run = run_crawl(self.ctx, self.db, catalog, wanted=due)
            finally:
                with self.lock:
                    self.active.pop(threading.get_ident(), None)
        outcome = run.outcome
        new = sum(line.new for line in outcome.lines)
        log.info(
            "worker: crawled %d source(s) (%s): %d new item(s), %d error(s)%s",
            len(due), outcome.crawl_id, new, sum(1 for line in outcome.lines if line.outcome == "error"),
            f", {len(outcome.not_reached)} not reached" if outcome.not_reached else "",
        )  # fmt: skip
        return "incomplete" if outcome.not_reached else "done"


def register(app: Any, state: WorkerState) -> None:
    """Define the crawl task on `app`, bound to this process's state."""
    retry_after = state.ctx.settings.distributed.lock_retry

    @app.task(name=TASK_NAME, bind=True, max_retries=None, acks_late=True)
    def crawl_batch(self: Any, sources: list[str], hosts: list[str]) -> None:
        result = state.crawl(sources, hosts)
        if result == "done":
            state.beat(done=1)
            return
        if result == "incomplete" and self.request.retries >= NOT_REACHED_RETRIES:
            log.warning("worker: giving up on the unreached sources of a batch; they stay due for the scheduler")
            state.beat(done=1)
            return
        state.beat(retried=1)
        # A new message, sent before this one is acknowledged: the batch is never lost in between.
        raise self.retry(countdown=retry_after, max_retries=None)


def run(ctx: Context, concurrency: int, *, loglevel: str = "INFO") -> None:
    """Serve the queue until SIGTERM (Celery's warm shutdown: batches in progress finish first) or Ctrl-C."""
    require_celery()
    settings = ctx.settings
    db = open_database(settings.resolved_database_url(ctx.db_url))
    app = make_app(settings)
    state = WorkerState(ctx, db, concurrency)
    register(app, state)
    state.beat()
    stop = threading.Event()
    threading.Thread(target=state.heartbeat, args=(stop,), name="heartbeat", daemon=True).start()
    try:
        # Threads, not forked processes: every batch's crawl already runs in a child process of its own, and a
        # thread dies with the worker, so a killed worker leaves no crawl behind holding a host.
        app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency}",
                f"--loglevel={loglevel}",
                f"--queues={settings.distributed.queue}",
                f"--hostname=aggregator-{state.id.replace(':', '-')}@%h",
                "--without-gossip",
                "--without-mingle",
            ]
        )
    finally:
        stop.set()
        db.close()
