"""Command-line verbs for OPML, the subscription lists feed readers exchange: import-opml and export-opml."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from pydantic import ValidationError

from aggregator.cli.options import pass_ctx
from aggregator.cli.output import one_line, report_problems
from aggregator.config.opml import export_opml, parse_opml
from aggregator.config.settings import describe_validation_error
from aggregator.config.source_file import append_source
from aggregator.config.sources import AUTO, Confidence, SourceConfig, Tier, language_code, source_id_for, source_ids
from aggregator.errors import AggregatorError, ConfigError
from aggregator.services.context import Context
from aggregator.store.urls import feed_key


@click.command("import-opml")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--tier", type=click.Choice([t.value for t in Tier]), default="news", show_default=True, help="For every feed."
)
@click.option(
    "--language",
    default=AUTO,
    show_default=True,
    help="For feeds whose outline gives no language: a code (en, es...) or auto (each item's own, from its text).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be added; write nothing.")
@pass_ctx
def sources_import_opml(obj: Context, file: Path, tier: str, language: str, dry_run: bool) -> None:
    """Append every new feed of an OPML file (a feed reader's export) to sources.toml; folders become tags.

    Exits non-zero when not one feed could be added (an OPML whose feeds are all configured already is no error).
    """
    default_language = AUTO if language.strip().lower() == AUTO else language_code(language)
    if default_language is None:
        raise click.BadParameter(
            f"{language!r} is neither a language code (en, es...) nor auto", param_hint="--language"
        )
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"import-opml: {file}: cannot read: {exc.strerror or exc}") from exc
    result = parse_opml(data, str(file))
    for problem in result.problems:
        click.echo(f"problem: {problem}", err=True)
    catalog = obj.catalog()
    report_problems(catalog)
    known = {feed_key(s.url): s.id for s in catalog.sources}
    taken = source_ids(catalog)
    added = duplicates = skipped = 0
    for feed in result.feeds:
        key = feed_key(feed.url)
        if key in known:
            click.echo(f"skip  {feed.url}: already configured as source '{known[key]}'")
            duplicates += 1
            continue
        entry: dict[str, Any] = {
            "id": source_id_for(feed.html_url or feed.url, taken),
            "name": feed.title,
            "kind": "feed",
            "url": feed.url,
            "language": language_code(feed.language) or default_language,
            "tier": tier,
            # Nobody has fetched the URL yet: `sources add` tries a feed first, an OPML line is only a claim.
            "confidence": Confidence.LOW.value,
            "notes": f"imported from {file.name}",
        }
        if feed.tags:  # an outline outside any folder has none, and the key stays out of the file
            entry["tags"] = list(feed.tags)
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
    if not added and (skipped or not result.feeds):
        raise ConfigError(f"import-opml: {file}: no feed could be added")


@click.command("export-opml")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout).")
@pass_ctx
def sources_export_opml(obj: Context, out_path: Path | None) -> None:
    """Write the configured feed sources as OPML 2.0, for a feed reader (folders: first tag, else tier)."""
    catalog = obj.catalog()
    report_problems(catalog)
    outlets = [_WithSite(source) for source in catalog.sources]
    data = export_opml(outlets, "beat-aggregator sources", created=datetime.now(UTC))
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


class _WithSite:
    """A configured source as OPML wants it: with an htmlUrl, the feed's site (its origin: sources.toml has no
    separate site address), so a reader can link to the outlet."""

    def __init__(self, source: SourceConfig) -> None:
        self._source = source
        parts = urlsplit(source.url)
        self.html_url = f"{parts.scheme}://{parts.netloc}/"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)
