"""`aggregator run`: APScheduler jobs kept in the database, a clean stop on SIGTERM or SIGINT."""

from __future__ import annotations

import json
import logging
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, time, tzinfo
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, inspect, select

from aggregator.config.settings import Settings
from aggregator.digest import archive
from aggregator.models import Digest
from aggregator.schedule import jobs
from aggregator.spiders.process import stop_crawls

log = logging.getLogger("aggregator.schedule.scheduler")
JOB_TABLE = "apscheduler_jobs"


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class ZonedFormatter(logging.Formatter):
    """Plain log lines stamped in the reporter's zone (JSON lines keep UTC, for collectors)."""

    def __init__(self, fmt: str, zone: tzinfo) -> None:
        super().__init__(fmt)
        self.zone = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (logging's name)
        return datetime.fromtimestamp(record.created, self.zone).strftime(datefmt or "%Y-%m-%d %H:%M:%S %Z")


def configure_logging(fmt: str, *, verbose: bool = False, zone: tzinfo = UTC) -> None:
    """Log to stderr as plain lines (times in `zone`) or JSON objects."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(ZonedFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", zone))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("apscheduler.executors.default", "scrapy", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: str  # textual reference: the job store keeps this, not pickled code
    trigger: Any
    misfire_grace_time: int | None  # None: however late, run it (once: jobs coalesce)


def job_specs(settings: Settings) -> list[JobSpec]:
    digest_at = settings.digest.cutoff
    upkeep_at = time.fromisoformat(settings.schedule.maintenance_time)
    zone = settings.zone
    return [
        JobSpec("refresh", "aggregator.schedule.jobs:refresh", IntervalTrigger(seconds=settings.schedule.tick), 30),
        # A few minutes after closing, so a crawl that began before the closing time has stored its items.
        JobSpec(
            "digest",
            "aggregator.schedule.jobs:daily_digest",
            CronTrigger(hour=digest_at.hour, minute=digest_at.minute, second=30, timezone=zone),
            None,
        ),  # fmt: skip
        JobSpec(
            "retrain", "aggregator.schedule.jobs:retrain", IntervalTrigger(seconds=settings.schedule.retrain_every), 600
        ),
        JobSpec(
            "maintenance",
            "aggregator.schedule.jobs:maintain",
            CronTrigger(hour=upkeep_at.hour, minute=upkeep_at.minute, timezone=zone),
            6 * 3600,
        ),  # fmt: skip
    ]


def build_scheduler(engine: Any) -> Any:
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)},
        # Two workers: the digest can wait for a crawl's lock without holding up the next refresh tick.
        executors={"default": ThreadPoolExecutor(2)},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone=UTC,
    )


def register(scheduler: Any, specs: list[JobSpec], kwargs: dict[str, Any]) -> list[str]:
    """Add each job unless the store has it; a stored job keeps its next run time (so a missed digest runs once
    on start) unless its trigger changed in settings. Returns what changed, for the log."""
    changes = []
    for spec in specs:
        job = scheduler.get_job(spec.id)
        if job is None:
            scheduler.add_job(
                spec.func, spec.trigger, id=spec.id, name=spec.id, kwargs=kwargs,
                misfire_grace_time=spec.misfire_grace_time,
            )  # fmt: skip
            changes.append(f"added {spec.id}")
            continue
        if job.kwargs != kwargs or job.misfire_grace_time != spec.misfire_grace_time:
            job.modify(kwargs=kwargs, misfire_grace_time=spec.misfire_grace_time)
            changes.append(f"updated {spec.id}")
        if str(job.trigger) != str(spec.trigger):
            job.reschedule(spec.trigger)
            changes.append(f"rescheduled {spec.id}: {spec.trigger}")
    return changes


def run(obj: Any, *, once: bool = False) -> None:
    """Start the jobs and block until SIGTERM or SIGINT; then stop the crawl in flight and exit cleanly."""
    settings: Settings = obj.settings
    db = obj.database()
    kwargs = {"config_dir": str(obj.config_dir), "db_url": obj.db_url}
    scheduler = build_scheduler(db.engine)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start(paused=True)
        for change in register(scheduler, job_specs(settings), kwargs):
            log.info("job %s", change)
        if once:  # the jobs are registered (`status` shows them); refresh now and leave
            jobs.refresh(**kwargs)
            return
        _catch_up(obj, db, kwargs)
        # Refresh at once: waiting a whole tick after a start would leave the first minutes (or hours) unread.
        scheduler.modify_job("refresh", next_run_time=datetime.now(UTC))
        scheduler.resume()
        for job in scheduler.get_jobs():
            log.info("next %s: %s", job.id, job.next_run_time.astimezone(settings.zone) if job.next_run_time else "-")
        while not stop.wait(1.0):
            pass
    finally:
        if scheduler.running:
            scheduler.pause()
        stopped = stop_crawls()
        if stopped:
            log.info("stopped %d crawl process(es); their committed items are kept", stopped)
        if scheduler.running:
            scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        db.close()
        log.info("scheduler stopped")


def _catch_up(obj: Any, db: Any, kwargs: dict[str, Any]) -> None:
    """Build the newest closed digest now if an earlier run built digests but this one is missing (the process
    was down at the closing time). Idempotent: the archive keeps one digest per date."""

    with db.session() as session:
        built_before = session.scalar(select(func.count()).select_from(Digest)) or 0
        wanted = archive.newest_closed_date(session, obj.settings, datetime.now(UTC)).isoformat()
        have = session.scalar(select(func.count()).select_from(Digest).where(Digest.local_date == wanted))
    if built_before and not have:
        log.info("digest %s was missed while stopped: building it now", wanted)
        try:
            jobs.daily_digest(**kwargs)
        except Exception:  # logged; the digest job retries at its next run
            log.exception("digest %s: catch-up failed", wanted)


def job_rows(engine: Any) -> list[tuple[str, datetime | None, str]]:
    """(id, next run, trigger) of the jobs in the store, for `aggregator status`."""
    if not inspect(engine).has_table(JOB_TABLE):
        return []
    store = SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)
    return [(job.id, job.next_run_time, describe_trigger(job.trigger)) for job in store.get_all_jobs()]


def describe_trigger(trigger: Any) -> str:
    """A job's schedule in words: "every 1 min", "daily at 07:00 (America/Mexico_City)"."""
    if isinstance(trigger, IntervalTrigger):
        seconds = int(trigger.interval.total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if seconds >= size and seconds % size == 0:
                return f"every {seconds // size} {unit}"
        return f"every {seconds} s"
    if isinstance(trigger, CronTrigger):
        fields = {f.name: str(f) for f in trigger.fields}
        if fields["hour"].isdigit() and fields["minute"].isdigit() and fields["day"] == "*":
            return f"daily at {int(fields['hour']):02d}:{int(fields['minute']):02d} ({trigger.timezone})"
    return str(trigger)
