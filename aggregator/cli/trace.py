"""The `trace` command: each claim of a text with the stored items that bear on it, and the outlets it names."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from aggregator.cli.options import parse_day, pass_ctx
from aggregator.cli.query import query_errors, query_topics
from aggregator.errors import AggregatorError
from aggregator.services.context import Context
from aggregator.trace.reading import decode, fetch_text, plain_text
from aggregator.trace.render import FORMATS, render_trace
from aggregator.trace.tracing import trace_text


@click.command()
@click.argument("source", metavar="FILE|URL|-")
@click.option("--since", type=str, callback=parse_day, help="Only items dated on or after this day (your timezone).")
@click.option("--until", type=str, callback=parse_day, help="Only items dated on or before this day (your timezone).")
@click.option("--limit", type=click.IntRange(1, 50), default=5, show_default=True, help="Matches per claim.")
@click.option("--within", "within", default="", metavar="QUERY",
              help="Narrow the collection with the query language, e.g. 'topic:cartels lang:es'.")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
@pass_ctx
def trace(
    obj: Context, source: str, since: date | None, until: date | None, limit: int, within: str, fmt: str,
    out: Path | None,
) -> None:  # fmt: skip
    """Trace a text to the stored items its claims could rest on, in English and Spanish.

    FILE is plain text, Markdown or HTML; - reads stdin; a URL is fetched through the crawl engine (robots.txt,
    politeness and the private-network rules of settings.toml) and its main text extracted. For each claim: the
    best-matching items with outlet, date, link and the item's sentence that matches best, quoted verbatim; the
    outlets the claim names and whether their own items match it; or that nothing in the collection matches.
    """
    settings = obj.settings
    if source.startswith(("http://", "https://")):
        text = fetch_text(source, settings)
    elif source == "-":
        text = plain_text(decode(sys.stdin.buffer.read()))
    else:
        path = Path(source)
        try:
            text = plain_text(decode(path.read_bytes()))
        except OSError as exc:
            raise AggregatorError(f"trace: cannot read {source}: {exc.strerror or exc}") from exc
    db = obj.database()
    with query_errors(), db.session() as session:
        result = trace_text(
            session, text, obj.catalog().sources, within=within, since=since, until=until, limit=limit,
            topics=query_topics(obj), zone=settings.zone,
        )  # fmt: skip
    db.close()
    rendered = render_trace(result, fmt, settings.zone)
    if out is not None:
        out.write_text(rendered, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(rendered, nl=False)
