"""Command-line verbs for OPML, the subscription lists feed readers exchange: import-opml and export-opml."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from aggregator.cli.main import Context, _report_problems, pass_ctx, sources
from aggregator.config.sources import SourceConfig, Tier
from aggregator.errors import AggregatorError, ConfigError


@sources.command("import-opml")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--tier", type=click.Choice([t.value for t in Tier]), default="news", show_default=True, help="For every feed."
)
@click.option("--language", type=click.Choice(["en", "es"]), help="Language of feeds the OPML gives none for.")
@click.option("--dry-run", is_flag=True, help="Show what would be added; write nothing.")
@pass_ctx
def sources_import_opml(obj: Context, file: Path, tier: str, language: str | None, dry_run: bool) -> None:
    """Append every new feed of an OPML file (a feed reader's export) to sources.toml; folders become tags."""
    from pydantic import ValidationError

    from aggregator.cli.sources import language_code, one_line, source_id_for, source_ids
    from aggregator.config.opml import parse_opml
    from aggregator.config.settings import describe_validation_error
    from aggregator.config.source_file import append_source
    from aggregator.crawl.discovery import feed_key

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"import-opml: {file}: cannot read: {exc.strerror or exc}") from exc
    result = parse_opml(data, str(file))
    for problem in result.problems:
        click.echo(f"problem: {problem}", err=True)
    catalog = obj.catalog()
    _report_problems(catalog)
    known = {feed_key(s.url): s.id for s in catalog.sources}
    taken = source_ids(catalog)
    added = duplicates = skipped = 0
    for feed in result.feeds:
        key = feed_key(feed.url)
        if key in known:
            click.echo(f"skip  {feed.url}: already configured as source '{known[key]}'")
            duplicates += 1
            continue
        lang = language_code(feed.language) or language
        if lang is None:
            click.echo(f"skip  {feed.url}: the OPML gives no language; pass --language en or --language es")
            skipped += 1
            continue
        entry: dict[str, Any] = {
            "id": source_id_for(feed.html_url or feed.url, taken),
            "name": feed.title,
            "kind": "feed",
            "url": feed.url,
            "language": lang,
            "tier": tier,
            "notes": f"imported from {file.name}",
            "tags": list(feed.tags) or None,
        }
        try:
            if dry_run:
                SourceConfig.model_validate(entry | {"tags": feed.tags})
            else:
                append_source(catalog.path, entry)
        except ValidationError as exc:
            click.echo(f"skip  {feed.url}: {describe_validation_error(exc, 'invalid entry')}")
            skipped += 1
            continue
        except ConfigError as exc:
            click.echo(f"skip  {feed.url}: {one_line(exc)}")
            skipped += 1
            continue
        taken.add(entry["id"])
        known[key] = entry["id"]
        added += 1
        folders = f"  [{' / '.join(feed.tags)}]" if feed.tags else ""
        click.echo(f"{'would add' if dry_run else 'added'}  {entry['id']}  {feed.url}{folders}")
    click.echo(
        f"{len(result.feeds)} feed(s) in {file.name}: {added} {'would be added' if dry_run else 'added'}, "
        f"{duplicates} already configured, {skipped} skipped, {len(result.problems)} problem(s) in the file"
        + (" (dry run: nothing written)" if dry_run else "")
    )


@sources.command("export-opml")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout).")
@pass_ctx
def sources_export_opml(obj: Context, out_path: Path | None) -> None:
    """Write the configured feed sources as OPML 2.0, for a feed reader (folders: first tag, else tier)."""
    from aggregator.config.opml import export_opml

    catalog = obj.catalog()
    _report_problems(catalog)
    data = export_opml(catalog.sources, "beat-aggregator sources", created=datetime.now(UTC))
    if out_path is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        try:
            out_path.write_bytes(data)
        except OSError as exc:
            raise AggregatorError(f"export-opml: {out_path}: cannot write: {exc.strerror or exc}") from exc
    feeds = sum(1 for s in catalog.sources if s.kind.value == "feed")
    others = len(catalog.sources) - feeds
    left_out = (
        f"; {others} sitemap/listing/spider source(s) left out: feed readers cannot follow them" if others else ""
    )
    click.echo(f"exported {feeds} feed source(s)" + (f" to {out_path}" if out_path else "") + left_out, err=True)
