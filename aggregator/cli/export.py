"""The `export` command: every stored item, or a query's matches, with provenance as JSON lines, CSV or Parquet."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from aggregator.cli.options import pass_ctx
from aggregator.cli.query import QueryCommand, query_errors, query_topics
from aggregator.search.export import iter_items, write_csv, write_jsonl, write_parquet
from aggregator.services.context import Context


@click.command(cls=QueryCommand)
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
    if fmt == "parquet" and out_path is None:
        raise click.UsageError("--format parquet needs --out FILE (Parquet is a binary file, not a stream)")
    since_utc = since.replace(tzinfo=obj.settings.zone).astimezone(UTC) if since else None
    db = obj.database()
    with query_errors(), db.session() as session:
        # A bad query fails here, before any output.
        rows = iter_items(session, since=since_utc, query=query, topics=query_topics(obj), zone=obj.settings.zone)
        if fmt == "parquet":
            assert out_path is not None
            count = write_parquet(rows, out_path)
        elif out_path is None:
            count = (
                write_jsonl(rows, sys.stdout)
                if fmt == "jsonl"
                else write_csv(rows, sys.stdout, terminal=sys.stdout.isatty())
            )
        else:
            with open(out_path, "w", encoding="utf-8", newline="") as handle:
                count = (write_jsonl if fmt == "jsonl" else write_csv)(rows, handle)
    db.close()
    if out_path is not None:
        click.echo(f"exported {count} item(s) to {out_path}", err=True)
