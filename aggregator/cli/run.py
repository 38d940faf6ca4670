"""The `run` and `status` commands: the unattended scheduler and what it is doing."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from aggregator.cli.options import pass_ctx
from aggregator.cli.output import fmt_time, table
from aggregator.crawl.health import source_health
from aggregator.distributed.scheduler import run as run_distributed
from aggregator.distributed.status import distributed_status
from aggregator.schedule.jobs import last_crawl
from aggregator.schedule.scheduler import configure_logging, job_rows
from aggregator.schedule.scheduler import run as run_scheduler
from aggregator.services.context import Context
from aggregator.store.digests import newest_digests


@click.command()
@click.option("--log-format", type=click.Choice(["plain", "json"]), help="Log lines as text or JSON objects.")
@click.option("--once", is_flag=True, help="Register the jobs, refresh due sources once, and exit.")
@click.option("--distributed", is_flag=True, help="Only queue due sources for `aggregator worker`s (PostgreSQL).")
@pass_ctx
def run(obj: Context, log_format: str | None, once: bool, distributed: bool) -> None:
    """Run unattended: poll due sources, build (and mail) the daily digest, retrain on feedback, tidy the
    database. Stops cleanly on SIGTERM or Ctrl-C."""
    configure_logging(log_format or obj.settings.schedule.log_format, verbose=obj.verbose, zone=obj.settings.zone)
    if distributed:  # the scheduler alone: one leads (a database lock), workers crawl
        run_distributed(obj)
        return
    run_scheduler(obj, once=once)


@click.command()
@pass_ctx
def status(obj: Context) -> None:
    """The scheduler's jobs and next runs, the last crawl, the last digest and the sources that need care."""
    settings = obj.settings
    db = obj.database()
    now = datetime.now(UTC)
    jobs = job_rows(db.engine)
    with db.session() as session:
        crawl = last_crawl(session)
        digest = next(iter(newest_digests(session, 1)), None)
        health = source_health(session, now, stale_after=settings.stale_after)
        dist = distributed_status(session, settings, now) if db.dialect == "postgresql" else None
        digest_line = None
        if digest is not None:
            sent = f"mailed {fmt_time(digest.sent_at, settings)}" if digest.sent_at else "not mailed"
            digest_line = (
                f"last digest: {digest.local_date}, {digest.story_count} stories from {digest.item_count} items, "
                f"built {fmt_time(digest.built_at, settings)}, {sent}"
            )
    db.close()
    if jobs:
        rows = [[job_id, fmt_time(next_run, settings), trigger] for job_id, next_run, trigger in jobs]
        click.echo(table(rows, ["job", f"next run ({settings.timezone})", "schedule"]))
    else:
        click.echo("no scheduled jobs: `aggregator run` has not been started on this database")
    if crawl is None:
        click.echo("last crawl: none yet")
    else:
        crawl_id, started, fetched, errors = crawl
        click.echo(f"last crawl: {crawl_id} at {fmt_time(started, settings)}, {fetched} fetch(es), {errors} error(s)")
    click.echo(digest_line or "last digest: none yet")
    due = sum(1 for h in health if h.enabled and (h.next_check_at is None or h.next_check_at <= now))
    counts: dict[str, int] = {}
    for h in health:
        counts[h.status] = counts.get(h.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    click.echo(f"sources: {len(health)} ({summary}); {due} due now")
    for h in health:
        if h.status in ("failing", "stale", "warning"):
            why = h.warning or h.last_error or f"no new items for {settings.stale_after.days} days"
            click.echo(f"  {h.status}: {h.source_id}: {why[:100]}")
    from aggregator.cli.watch import show_watch_status  # here: `run` needs none of the watch commands

    show_watch_status(obj)
    if dist is not None:
        seen = f"{int(settings.distributed.worker_seen // 60)} min"
        click.echo(f"workers seen in the last {seen}: {len(dist.workers)}")
        for w in dist.workers:
            doing = f", crawling {w.current}" if w.current else ""
            click.echo(
                f"  {w.id}: concurrency {w.concurrency}, {w.batches_done} batch(es) done, "
                f"{w.batches_retried} put back, last seen {fmt_time(w.last_seen_at, settings)}{doing}"
            )
        waiting = dist.queue_problem if dist.queued is None else f"{dist.queued} batch(es) waiting"
        click.echo(f"queue {dist.queue}: {waiting}")
        if dist.oldest_due is None:
            click.echo("oldest due source: none")
        else:
            sid, since = dist.oldest_due
            when = "never fetched" if since is None else f"due since {fmt_time(since, settings)}"
            click.echo(f"oldest due source: {sid} ({when}); {dist.due} due now")
