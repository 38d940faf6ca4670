"""The `crawl` command: fetch what is due (or the named sources) once, with progress and a summary per source."""

from __future__ import annotations

import sys
from typing import Any

import click

from aggregator.cli.options import pass_ctx
from aggregator.cli.output import report_problems, table
from aggregator.cli.watch import report_watches
from aggregator.config.settings import Settings
from aggregator.config.sources import SourceCatalog
from aggregator.errors import AggregatorError, ConfigError, StorageError
from aggregator.services.context import Context
from aggregator.services.crawl import run_crawl
from aggregator.services.lock import crawl_lock
from aggregator.services.watching import run_watches, watch_mark
from aggregator.spiders.process import CrawlOutcome
from aggregator.store.database import Database


@click.command()
@click.option("--source", "-s", "sources", multiple=True, metavar="ID", help="Crawl these sources now, due or not.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display, only the summary.")
@pass_ctx
def crawl(obj: Context, sources: tuple[str, ...], quiet: bool) -> None:
    """Crawl the sources that are due (or the named ones) once and print a summary per source."""
    catalog = obj.catalog()
    report_problems(catalog)
    unknown = sorted(set(sources) - set(catalog.by_id()))
    if unknown:
        raise ConfigError(f"crawl: unknown source id(s): {', '.join(unknown)} (see `aggregator sources list`)")
    with crawl_lock(obj.settings.data_path) as lock_fd:  # never two crawls at once, by hand or by `run`
        db = obj.database()
        mark = watch_mark(db)  # the watches look at what this crawl stores
        outcome = crawl_and_report(obj, db, catalog, list(sources) or None, quiet=quiet, lock_fd=lock_fd)
        report_watches(run_watches(obj, db, start_after=mark), obj.settings.zone, quiet=quiet)
        db.close()
    if outcome.exit_code != 0:
        raise AggregatorError(f"crawl: the crawl process exited with code {outcome.exit_code}; see {outcome.log_path}")
    if outcome.unstored:
        first = next(iter(outcome.unstored.values()))
        raise StorageError(
            f"crawl: {len(outcome.unstored)} source(s) could not be stored: "
            f"{', '.join(sorted(outcome.unstored))} ({first})"
        )
    if outcome.not_reached:
        raise AggregatorError(
            f"crawl: {len(outcome.not_reached)} source(s) not reached: {', '.join(outcome.not_reached)}; "
            f"see {outcome.log_path}"
        )
    failed = outcome.failed
    if failed and len(failed) == outcome.planned:
        raise AggregatorError(f"crawl: all {len(failed)} source(s) failed")


def crawl_and_report(
    obj: Context,
    db: Database,
    catalog: SourceCatalog,
    wanted: list[str] | None,
    *,
    quiet: bool,
    extra_scrapy_settings: dict[str, Any] | None = None,
    settings: Settings | None = None,
    lock_fd: int | None = None,
) -> CrawlOutcome:
    """Run one crawl through the service layer, showing progress on a terminal and a table of what came in."""
    state: dict[str, Any] = {"done": 0, "total": 0}
    show = not quiet and sys.stderr.isatty()

    def on_plan(plan: Any) -> None:
        state["total"] = len(plan.tasks)
        if not quiet:
            click.echo(f"crawling {len(plan.tasks)} source(s)...", err=True)

    def on_event(event: dict[str, Any]) -> None:
        if event.get("event") == "fetch" and event.get("primary"):
            state["done"] += 1
            if show:
                click.echo(f"\r  {state['done']}/{state['total']} sources fetched", nl=False, err=True)

    run = run_crawl(
        obj, db, catalog, wanted, settings=settings, on_plan=on_plan, on_event=on_event,
        extra_scrapy_settings=extra_scrapy_settings, lock_fd=lock_fd,
    )  # fmt: skip
    outcome = run.outcome
    if show:
        click.echo("", err=True)
    if run.tagging_problem and not quiet:
        click.echo(f"warning: items will not be tagged: {run.tagging_problem}", err=True)
    if outcome.tagged and not quiet:
        per_item = outcome.tagging_cpu / outcome.tagged * 1000
        click.echo(f"tagged {outcome.tagged} item(s) by topic in the crawl ({per_item:.2f} CPU ms per item)", err=True)
    if run.catch_up_error:
        click.echo(f"warning: items stay untagged: {run.catch_up_error}", err=True)
    elif run.caught_up and not quiet:
        click.echo(f"tagged {run.caught_up} item(s) the crawl left untagged", err=True)
    if outcome.planned == 0:
        click.echo("no source is due; use --source ID to crawl one now")
        return outcome
    if run.network_down:
        click.echo(f"warning: {run.network_down}", err=True)
    rows = [
        [
            line.source_id,
            line.outcome,
            str(line.http_status or "-"),
            str(line.new),
            str(line.updated),
            str(line.unchanged),
            str(line.duplicates),
            (line.error or "")[:90],
        ]
        for line in outcome.lines
    ]
    click.echo(table(rows, ["source", "outcome", "http", "new", "updated", "unchanged", "dupes", "error"]))
    totals = [sum(getattr(line, k) for line in outcome.lines) for k in ("new", "updated", "unchanged")]
    errors = sum(1 for line in outcome.lines if line.outcome == "error")
    missing = outcome.not_reached
    click.echo(
        f"{len(outcome.lines)} source(s): {totals[0]} new, {totals[1]} updated, {totals[2]} unchanged, "
        f"{errors} with errors" + (f", {len(missing)} not reached ({', '.join(missing)})" if missing else "")
    )
    return outcome
