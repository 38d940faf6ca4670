"""The `stats` command: items (all, or a query's matches) per day, week or month, per topic, source or language."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime

import click

from aggregator.cli.options import parse_day, pass_ctx
from aggregator.cli.output import table
from aggregator.cli.query import QueryCommand, query_errors, query_topics
from aggregator.search.export import csv_cell
from aggregator.search.stats import BY, PER, Volume
from aggregator.search.stats import volume as count_volume
from aggregator.services.context import Context

BAR = 40  # characters of the longest bar in a table without --per


@click.command(cls=QueryCommand)
@click.argument("query", required=False)
@click.option("--by", type=click.Choice(BY), default="day", show_default=True,
              help="Period: local day (2026-11-24), ISO week (2026-W48) or month (2026-11).")  # fmt: skip
@click.option("--per", type=click.Choice(PER), help="One series per topic (passed tags), source, language or entity.")
@click.option("--since", callback=parse_day, metavar="YYYY-MM-DD",
              help="First local day counted (default: the first item).")  # fmt: skip
@click.option("--until", callback=parse_day, metavar="YYYY-MM-DD",
              help="Last local day counted (default: the last item).")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@pass_ctx
def stats(
    obj: Context, query: str | None, by: str, per: str | None, since: date | None, until: date | None, fmt: str
) -> None:
    """Count items, or those matching QUERY, per period in your timezone (by publication date, else first seen).

    Periods without items are listed with zeros, so a chart has no gaps. Per topic, an item counts under each
    topic it passed; per source, under the outlet that stored it first.
    """
    if since is not None and until is not None and since > until:
        raise click.UsageError(f"--since {since} is after --until {until}")
    settings = obj.settings
    db = obj.database()
    with query_errors(), db.session() as session:
        found = count_volume(
            session, query, by=by, per=per, zone=settings.zone, since=since, until=until, topics=query_topics(obj)
        )
    db.close()
    if fmt == "json":
        body = {
            "query": query, "by": by, "per": per, "timezone": settings.timezone, "since": _iso(since),
            "until": _iso(until), "periods": found.periods, "series": found.series,
        }  # fmt: skip
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow([by, *(csv_cell(name, terminal=sys.stdout.isatty()) for name in found.series)])
        for i, period in enumerate(found.periods):
            writer.writerow([period, *(counts[i] for counts in found.series.values())])
    else:
        _printtable(found, by, per, query, settings.timezone)


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _printtable(found: Volume, by: str, per: str | None, query: str | None, zone: str) -> None:
    what = "items" + (f" matching {query!r}" if query else "")
    click.echo(f"{what} per {by} ({zone})" + (f", per {per}" if per else ""))
    if not found.periods:
        click.echo("no items")
        return
    names = list(found.series)
    columns = [[str(n) for n in found.series[name]] for name in names]
    totals = [str(sum(found.series[name])) for name in names]
    if per is None:
        names, columns, totals = ["items"], columns[:1], totals[:1]
    widths = [max(len(name), len(total)) for name, total in zip(names, totals, strict=True)]
    rows = [
        [period, *(column[i].rjust(w) for column, w in zip(columns, widths, strict=True))]
        for i, period in enumerate(found.periods)
    ]
    rows.append(["total", *(t.rjust(w) for t, w in zip(totals, widths, strict=True))])
    headers = [by, *(name.rjust(w) for name, w in zip(names, widths, strict=True))]
    if per is None:
        peak = max(found.series["all"]) or 1
        for row, count in zip(rows, found.series["all"], strict=False):
            row.append("█" * round(BAR * count / peak))
        rows[-1].append("")
        headers.append("")
    click.echo("\n".join(line.rstrip() for line in table(rows, headers).splitlines()))
