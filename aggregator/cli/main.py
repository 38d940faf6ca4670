"""The `aggregator` command line: one clear line and a non-zero exit on any error."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from aggregator.config.settings import Settings, load_settings
from aggregator.config.sources import SourceCatalog, load_sources
from aggregator.errors import AggregatorError, ConfigError
from aggregator.store.database import Database

log = logging.getLogger("aggregator")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Context:
    """Options every command shares."""

    config_dir: Path
    db_url: str | None
    verbose: bool
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_dir)
        return self._settings

    def catalog(self) -> SourceCatalog:
        return load_sources(self.config_dir)

    def database(self) -> Database:
        return Database(self.settings.resolved_database_url(self.db_url))


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option(
    "--config",
    "config_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("AGGREGATOR_CONFIG", "config"),
    show_default="./config or $AGGREGATOR_CONFIG",
    help="Directory holding settings.toml, sources.toml and topics.toml.",
)
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="Database URL (default: $AGGREGATOR_DATABASE_URL, "
    "then settings.toml, then an SQLite file in the data directory).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log more, and show tracebacks on errors.")
@click.version_option(package_name="beat-aggregator")
@click.pass_context
def cli(ctx: click.Context, config_dir: Path, db_url: str | None, verbose: bool) -> None:
    """Follow the cartel, terrorism and border-security beat across outlets, in English and Spanish."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    ctx.obj = Context(config_dir=config_dir, db_url=db_url, verbose=verbose)


def main() -> None:
    """Entry point: run the CLI, turning errors into one line and an exit code."""
    verbose = "-v" in sys.argv or "--verbose" in sys.argv
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except AggregatorError as exc:
        if verbose:
            traceback.print_exc()
        click.echo("error: " + " ".join(str(exc).split()), err=True)  # always one line
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # the last line of defence: one line, traceback only on request
        if verbose:
            traceback.print_exc()
        click.echo(f"error: unexpected {type(exc).__name__}: {exc} (run with --verbose for details)", err=True)
        sys.exit(1)


def _fmt_time(value: datetime | None, settings: Settings) -> str:
    if value is None:
        return "-"
    return value.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M")


def parse_day(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """Click callback for options that take a local day (YYYY-MM-DD)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-25") from exc


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _report_problems(catalog: SourceCatalog) -> None:
    for problem in catalog.problems:
        click.echo(f"config error (source skipped): {problem.message}", err=True)


# crawl -----------------------------------------------------------------------------------------


@cli.command()
@click.option("--source", "-s", "sources", multiple=True, metavar="ID", help="Crawl these sources now, due or not.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display, only the summary.")
@pass_ctx
def crawl(obj: Context, sources: tuple[str, ...], quiet: bool) -> None:
    """Crawl the sources that are due (or the named ones) once and print a summary per source."""

    catalog = obj.catalog()
    _report_problems(catalog)
    unknown = sorted(set(sources) - set(catalog.by_id()))
    if unknown:
        raise ConfigError(f"crawl: unknown source id(s): {', '.join(unknown)} (see `aggregator sources list`)")
    from aggregator.schedule.jobs import crawl_lock

    with crawl_lock(obj.settings.data_path):  # never two crawls at once, whether started by hand or by `run`
        db = obj.database()
        outcome = _run_crawl(obj, db, catalog, list(sources) or None, quiet=quiet)
        db.close()
    failed = [line for line in outcome.lines if line.outcome == "error"]
    if outcome.exit_code != 0:
        raise AggregatorError(f"crawl: the crawl process exited with code {outcome.exit_code}; see {outcome.log_path}")
    if failed and len(failed) == outcome.planned:
        raise AggregatorError(f"crawl: all {len(failed)} source(s) failed")


def _run_crawl(
    obj: Context,
    db: Database,
    catalog: SourceCatalog,
    wanted: list[str] | None,
    *,
    quiet: bool,
    extra_scrapy_settings: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> Any:
    from aggregator.spiders.process import crawl_sources

    settings = settings or obj.settings
    state: dict[str, Any] = {"done": 0, "total": 0, "bar": None}
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

    from aggregator.cli.topics import ensure_classifier, tag_untagged

    tagging = ensure_classifier(obj, db, quiet=quiet)  # trained here once, so the crawl only reads it
    outcome = crawl_sources(
        db,
        settings,
        catalog,
        wanted=wanted,
        on_event=on_event,
        on_plan=on_plan,
        extra_scrapy_settings=extra_scrapy_settings,
    )
    if show:
        click.echo("", err=True)
    if tagging:
        try:
            caught_up = tag_untagged(obj, db)  # items whose tagging the crawl could not finish
        except AggregatorError as exc:  # the crawl's items are stored; only their tags wait
            click.echo(f"warning: items stay untagged: {' '.join(str(exc).split())}", err=True)
        else:
            if caught_up and not quiet:
                click.echo(f"tagged {caught_up} item(s) the crawl left untagged", err=True)
    if outcome.planned == 0:
        click.echo("no source is due; use --source ID to crawl one now")
        return outcome
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
    click.echo(_table(rows, ["source", "outcome", "http", "new", "updated", "unchanged", "dupes", "error"]))
    totals = [sum(getattr(line, k) for line in outcome.lines) for k in ("new", "updated", "unchanged")]
    errors = sum(1 for line in outcome.lines if line.outcome == "error")
    missing = outcome.planned - len(outcome.lines)
    click.echo(
        f"{len(outcome.lines)} source(s): {totals[0]} new, {totals[1]} updated, {totals[2]} unchanged, "
        f"{errors} with errors" + (f", {missing} not reached" if missing else "")
    )
    return outcome


# sources ---------------------------------------------------------------------------------------


@cli.group()
def sources() -> None:
    """Inspect, add, test, enable and disable sources; import and export OPML."""


@sources.command("list")
@pass_ctx
def sources_list(obj: Context) -> None:
    """List the sources in sources.toml (and report invalid entries)."""
    catalog = obj.catalog()
    rows = [
        [
            s.id,
            s.kind.value,
            s.language,
            s.tier.value,
            "yes" if s.fulltext else "no",
            "yes" if s.enabled else "no",
            s.confidence.value,
            s.url,
        ]
        for s in catalog.sources
    ]
    click.echo(_table(rows, ["id", "kind", "lang", "tier", "fulltext", "enabled", "confidence", "url"]))
    _report_problems(catalog)
    if catalog.problems:
        sys.exit(1)


@sources.command("check")
@pass_ctx
def sources_check(obj: Context) -> None:
    """Health per source: last success, last error, error streak, items in the last 7 days."""
    from aggregator.crawl.health import source_health
    from aggregator.crawl.state import sync_sources

    catalog = obj.catalog()
    _report_problems(catalog)
    db = obj.database()
    with db.session() as session:
        sync_sources(session, catalog)
        health = source_health(session, datetime.now(UTC), stale_after=obj.settings.stale_after)
    db.close()
    s = obj.settings
    rows = [
        [
            h.source_id,
            h.status,
            _fmt_time(h.last_success_at, s),
            str(h.error_streak),
            str(h.items_7d),
            str(h.avg_latency_ms if h.avg_latency_ms is not None else "-"),
            _fmt_time(h.next_check_at, s),
            (h.last_error or "")[:80],
        ]
        for h in health
    ]
    click.echo(
        _table(
            rows,
            [
                "source",
                "status",
                f"last success ({s.timezone})",
                "errors",
                "items 7d",
                "avg ms",
                "next check",
                "last error",
            ],
        )
    )
    bad = sum(1 for h in health if h.status == "failing")
    click.echo(f"{len(health)} source(s), {bad} failing")


# export ----------------------------------------------------------------------------------------


# Not at the top: this line belongs to `export`; cli_query does not import this module.
from aggregator.cli.query import QueryCommand, query_errors  # noqa: E402


@cli.command(cls=QueryCommand)
@click.argument("query", required=False)
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet"]), default="jsonl", show_default=True)
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), help="Only items first seen since.")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: stdout; required for parquet).",
)
@pass_ctx
def export(obj: Context, query: str | None, fmt: str, since: datetime | None, out_path: Path | None) -> None:
    """Export every stored item, or those matching QUERY, with topics, story and provenance (JSON lines, CSV, Parquet).

    QUERY is in the query language of `aggregator search` (quote it for the shell); the rows are in id order.
    """
    from aggregator.search.export import iter_items, write_csv, write_jsonl, write_parquet

    if fmt == "parquet" and out_path is None:
        raise click.UsageError("--format parquet needs --out FILE (Parquet is a binary file, not a stream)")
    since_utc = since.replace(tzinfo=obj.settings.zone).astimezone(UTC) if since else None
    db = obj.database()
    with query_errors(), db.session() as session:
        rows = iter_items(session, since=since_utc, query=query)  # a bad query fails here, before any output
        if fmt == "parquet":
            assert out_path is not None
            count = write_parquet(rows, out_path)
        elif out_path is None:
            count = (write_jsonl if fmt == "jsonl" else write_csv)(rows, sys.stdout)
        else:
            with open(out_path, "w", encoding="utf-8", newline="") as handle:
                count = (write_jsonl if fmt == "jsonl" else write_csv)(rows, handle)
    db.close()
    if out_path is not None:
        click.echo(f"exported {count} item(s) to {out_path}", err=True)


# demo ------------------------------------------------------------------------------------------


@cli.command()
@click.option("--keep-serving", is_flag=True, help="Keep the demo outlets' server running after the crawl.")
@click.option("--run", "scheduler", is_flag=True, help="Then run the scheduler on the demo outlets until Ctrl-C.")
@pass_ctx
def demo(obj: Context, keep_serving: bool, scheduler: bool) -> None:
    """Run the whole pipeline offline on sample outlets served from 127.0.0.1."""
    from aggregator.demo import run_demo

    run_demo(obj, keep_serving=keep_serving, crawl=_run_crawl, scheduler=scheduler)


# The other command groups live in their own modules; importing them registers them on `cli`.
import aggregator.cli.digest  # noqa: E402,F401
import aggregator.cli.opml  # noqa: E402,F401
import aggregator.cli.run  # noqa: E402,F401
import aggregator.cli.search  # noqa: E402,F401
import aggregator.cli.serve  # noqa: E402,F401
import aggregator.cli.sources  # noqa: E402,F401
import aggregator.cli.stats  # noqa: E402,F401
import aggregator.cli.topics  # noqa: E402,F401

if __name__ == "__main__":
    main()
