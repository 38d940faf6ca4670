"""The `entities` command: the entities of entities.toml named by the most items (all, or a query's matches)."""

from __future__ import annotations

import json
from datetime import date, datetime, time

import click

from aggregator.cli.options import parse_day, pass_ctx
from aggregator.cli.output import table
from aggregator.cli.query import QueryCommand, query_errors, query_topics
from aggregator.config.entities import load_entities
from aggregator.models import Item
from aggregator.search.hits import matching, prepare
from aggregator.search.query import parse
from aggregator.services.context import Context
from aggregator.services.entities import match_entities
from aggregator.store.entities import top_entities
from aggregator.text import show_controls


@click.command(cls=QueryCommand)
@click.argument("query", required=False)
@click.option("--since", callback=parse_day, metavar="YYYY-MM-DD", help="Only items first seen since this local day.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=30, show_default=True, help="Entities to list.")
@click.option("--rematch", is_flag=True, help="Match every stored item against entities.toml again first.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_ctx
def entities(obj: Context, query: str | None, since: date | None, limit: int, rematch: bool, fmt: str) -> None:
    """List the most mentioned entities, with their item counts (over all items, or those matching QUERY).

    Items are matched against entities.toml as they are crawled, and all of them again on the next crawl after
    the file changes; --rematch does it now. `aggregator search entity:ID` lists one entity's items.
    """
    for problem in load_entities(obj.config_dir).problems:
        click.echo(f"config error (entity skipped): {problem.message}", err=True)
    db = obj.database()
    try:
        if rematch:
            run = match_entities(obj, db, everything=True)
            click.echo(f"matched {run.items} item(s): {run.mentions} mention(s) stored", err=True)
        start = datetime.combine(since, time(), obj.settings.zone) if since is not None else None
        with query_errors(), db.session() as session:
            ids = None
            if query is not None:
                compiled = prepare(session, parse(query), query_topics(obj), obj.settings.zone)
                ids = matching(compiled, Item.id)
            counts = top_entities(session, item_ids=ids, since=start, limit=limit)
    finally:
        db.close()
    if fmt == "json":
        body = [{"entity_id": c.entity_id, "name": c.name, "kind": c.kind, "items": c.items} for c in counts]
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    if not counts:
        click.echo("no entity is named by the items asked about")
        return
    rows = [[str(c.items), c.entity_id, c.kind, show_controls(c.name, breaks=True)] for c in counts]
    click.echo(table(rows, ["items", "entity", "kind", "name"]))
