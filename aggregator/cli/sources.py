"""Command-line verbs that maintain sources.toml: add (with feed discovery), test, enable, disable."""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click
from pydantic import ValidationError
from sqlalchemy import func, select

from aggregator.classify.tagging import classifier_dir, load_classifier
from aggregator.cli.opml import sources_export_opml, sources_import_opml
from aggregator.cli.options import pass_ctx
from aggregator.cli.output import fmt_time, one_line, report_problems, table
from aggregator.config.settings import describe_validation_error
from aggregator.config.source_file import append_source, set_enabled
from aggregator.config.sources import SourceCatalog, SourceConfig, Tier, language_code, source_id_for, source_ids
from aggregator.crawl.health import source_health
from aggregator.crawl.state import sync_sources
from aggregator.crawl.trial import discover, fetcher, try_source
from aggregator.errors import AggregatorError, ConfigError
from aggregator.models import Sighting
from aggregator.parse.entry import Entry
from aggregator.parse.sanitize import clean_html_to_text
from aggregator.services.context import Context
from aggregator.store.urls import feed_key, guid_key, http_url

if TYPE_CHECKING:
    from aggregator.classify.classifier import Classifier

LANGUAGES = ["en", "es"]
TIERS = [tier.value for tier in Tier]
PREVIEW_ADD = 5
PREVIEW_TEST = 10


@click.group()
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
    click.echo(table(rows, ["id", "kind", "lang", "tier", "fulltext", "enabled", "confidence", "url"]))
    report_problems(catalog)
    if catalog.problems:
        sys.exit(1)


@sources.command("check")
@pass_ctx
def sources_check(obj: Context) -> None:
    """Health per source: last success, last error, error streak, items in the last 7 days."""
    catalog = obj.catalog()
    report_problems(catalog)
    db = obj.database()
    with db.session() as session:
        sync_sources(session, catalog)
        health = source_health(session, datetime.now(UTC), stale_after=obj.settings.stale_after)
    db.close()
    s = obj.settings
    disabled = {source.id for source in catalog.sources if not source.enabled}
    rows = [
        [
            h.source_id,
            h.status,
            fmt_time(h.last_success_at, s),
            str(h.error_streak),
            str(h.items_7d),
            str(h.avg_latency_ms if h.avg_latency_ms is not None else "-"),
            fmt_time(h.next_check_at, s) if h.source_id not in disabled else "disabled",
            (h.warning or h.last_error or "")[:80],
        ]
        for h in health
    ]
    click.echo(
        table(
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


# add -------------------------------------------------------------------------------------------


@sources.command("add")
@click.argument("url")
@click.option("--id", "source_id", metavar="ID", help="Source id (default: a slug of the site's host).")
@click.option("--name", help="Name shown to readers (default: the feed's title).")
@click.option("--language", type=click.Choice(LANGUAGES), help="Language (default: the one the feed declares).")
@click.option("--tier", type=click.Choice(TIERS), default="news", show_default=True)
@click.option("--topic-hint", "topic_hints", multiple=True, metavar="TOPIC", help="A topic this source is about.")
@click.option("--yes", "-y", is_flag=True, help="Append without asking for confirmation.")
@pass_ctx
def sources_add(
    obj: Context,
    url: str,
    source_id: str | None,
    name: str | None,
    language: str | None,
    tier: str,
    topic_hints: tuple[str, ...],
    yes: bool,
) -> None:
    """Find the feed of a site (or check a feed URL), preview it, and append it to sources.toml."""
    given = http_url(url if "://" in url or url.lower().startswith("feed:") else f"https://{url}")  # a bare domain
    if given is None:
        raise ConfigError(f"add: not an http(s) URL or a domain: {url!r}")
    catalog = obj.catalog()
    report_problems(catalog)
    taken = source_ids(catalog)
    if source_id is not None and source_id in taken:
        raise ConfigError(f"add: source id '{source_id}' already exists{_describe(catalog, source_id)}")
    if topic_hints:
        _check_topics(obj, topic_hints)
    _refuse_duplicate(catalog, given)
    click.echo(f"fetching {given} ...", err=True)
    try:
        trial = discover(given, fetcher(obj.settings))
    except AggregatorError as exc:
        raise type(exc)(f"add: {exc}") from exc
    _refuse_duplicate(catalog, trial.url)
    via = "" if trial.found_via == "the URL given" else f" (found via {trial.found_via})"
    fetch = trial.fetch
    click.echo(
        f"found a {trial.kind} at {trial.url}{via}: {trial.format}, {len(trial.entries)} entries, "
        f"HTTP {fetch.status} in {fetch.elapsed_ms} ms" + (f', titled "{trial.title}"' if trial.title else "")
    )
    for warning in trial.warnings:
        click.echo(f"warning: {warning}", err=True)
    _preview(obj, trial.entries[:PREVIEW_ADD], f"newest {min(PREVIEW_ADD, len(trial.entries))}")
    language = language or language_code(trial.language)
    if language is None:
        raise ConfigError("add: the feed does not declare its language; pass --language en or --language es")
    source_id = source_id or source_id_for(given, taken, title=trial.title)
    today = datetime.now(UTC).astimezone(obj.settings.zone).date().isoformat()
    entry: dict[str, Any] = {
        "id": source_id,
        "name": name or trial.title or (urlsplit(given).hostname or given),
        "kind": trial.kind,
        "url": trial.url,
        "language": language,
        "tier": tier,
        "notes": f"added with `aggregator sources add {given}` on {today}" + via,
    }
    if topic_hints:
        # Stored as a per-source option: SourceConfig keeps `options` free-form for each kind's needs.
        entry["options"] = {"topic_hints": list(dict.fromkeys(topic_hints))}
    try:
        SourceConfig.model_validate(entry)
    except ValidationError as exc:  # e.g. an --id that is not a slug: say so before asking
        raise ConfigError(f"add: {describe_validation_error(exc, 'new source')}") from exc
    click.echo(f"new source for {catalog.path}:")
    for key, value in entry.items():
        click.echo(f"  {key} = {json.dumps(value, ensure_ascii=False)}")
    if not yes and not click.confirm(f"append it to {catalog.path}?", default=False):
        click.echo(f"nothing written to {catalog.path}")
        return
    append_source(catalog.path, entry)
    click.echo(
        f"added source '{source_id}' to {catalog.path}; `aggregator sources test {source_id}` tries it, "
        f"`aggregator crawl -s {source_id}` crawls it now"
    )


def _describe(catalog: SourceCatalog, source_id: str) -> str:
    found = catalog.by_id().get(source_id)
    return f" ('{found.name}', {found.url})" if found else ""


def _refuse_duplicate(catalog: SourceCatalog, url: str) -> None:

    key = feed_key(url)
    for source in catalog.sources:
        if key is not None and feed_key(source.url) == key:
            raise ConfigError(
                f"add: {url} is already configured as source '{source.id}' ('{source.name}', {source.url})"
            )


def _check_topics(obj: Context, wanted: Sequence[str]) -> None:

    known = obj.topics().ids
    unknown = [t for t in wanted if t not in known]
    if unknown:
        raise ConfigError(f"add: unknown topic(s) {', '.join(unknown)}; topics.toml has {', '.join(known)}")


# test ------------------------------------------------------------------------------------------


@sources.command("test")
@click.argument("source_id", metavar="ID")
@pass_ctx
def sources_test(obj: Context, source_id: str) -> None:
    """Fetch and parse one source now and show what a crawl would store; nothing is written anywhere."""
    catalog = obj.catalog()
    source = catalog.by_id().get(source_id)
    if source is None:
        problem = next((p.message for p in catalog.problems if p.source_id == source_id), None)
        raise ConfigError(problem or f"test: unknown source id '{source_id}' (see `aggregator sources list`)")
    try:
        trial = try_source(source, fetcher(obj.settings))
    except AggregatorError as exc:
        raise type(exc)(f"test {source_id}: {exc}") from exc
    fetch = trial.fetch
    moved = f" (redirected to {fetch.final_url})" if fetch.final_url and fetch.final_url != source.url else ""
    click.echo(
        f"{source_id}: GET {source.url}{moved}: HTTP {fetch.status} in {fetch.elapsed_ms} ms, "
        f"{len(fetch.body):,} bytes, {trial.format}" + ("" if source.enabled else " (the source is disabled)")
    )
    for warning in trial.warnings:
        click.echo(f"warning: {warning}", err=True)
    known = _stored(obj, source_id, trial.entries)
    if known is None:
        click.echo(f"a crawl would find {len(trial.entries)} entries")
    else:
        click.echo(
            f"a crawl would find {len(trial.entries)} entries: {len(trial.entries) - known} new, "
            f"{known} already stored from this source"
        )
    _preview(obj, trial.entries[:PREVIEW_TEST], f"newest {min(PREVIEW_TEST, len(trial.entries))}")


def _stored(obj: Context, source_id: str, entries: list[Entry]) -> int | None:
    """How many of `entries` this source has already brought (by guid, as ingest dedupes); None if unknown."""
    if not entries:
        return 0

    guids = list({guid_key(e.guid or e.url) for e in entries})
    try:
        db = obj.database()
        try:
            with db.session() as session:  # read only: the test stores nothing
                return sum(
                    session.scalar(
                        select(func.count())
                        .select_from(Sighting)
                        .where(Sighting.source_id == source_id, Sighting.guid.in_(guids[i : i + 500]))
                    )
                    or 0
                    for i in range(0, len(guids), 500)
                )
        finally:
            db.close()
    except AggregatorError as exc:
        click.echo(f"warning: cannot tell which entries are already stored: {one_line(exc)}", err=True)
        return None


# preview ---------------------------------------------------------------------------------------


def _preview(obj: Context, entries: list[Entry], heading: str) -> None:
    """A table of entries: date in the reporter's timezone, title, the topics the classifier gives each."""
    if not entries:
        click.echo("no entries")
        return
    topics = _predict(obj, entries)
    rows = [
        [fmt_time(e.published_at, obj.settings), _short(e.title or e.url, 80), topics[i] if topics else "-"]
        for i, e in enumerate(entries)
    ]
    click.echo(f"{heading}:")
    click.echo(table(rows, [f"published ({obj.settings.timezone})", "title", "topics"]))


def _predict(obj: Context, entries: list[Entry]) -> list[str] | None:
    """Passed topics per entry, or None (with a warning) when there is no classifier to ask."""
    try:
        clf = _classifier(obj)
        verdicts = clf.predict(
            [
                {"title": e.title, "summary_text": clean_html_to_text(e.summary_html), "text": e.text,
                 "language": e.language}
                for e in entries
            ]
        )  # fmt: skip
    except (AggregatorError, OSError, ValueError) as exc:
        click.echo(f"warning: no topics in the preview: {one_line(exc)}", err=True)
        return None
    return [", ".join(topic for topic, r in verdict.items() if r.passed) or "-" for verdict in verdicts]


def _classifier(obj: Context) -> Classifier:
    """The saved classifier; trained as a crawl would train it (with the stored labels) when missing or stale."""
    topics = obj.topics()
    saved = classifier_dir(obj.settings) / "classifier.json"
    try:
        current = json.loads(saved.read_text(encoding="utf-8")).get("topics_fingerprint") == topics.fingerprint
    except (OSError, ValueError, AttributeError):
        current = False
    if current:  # no database needed to read it
        return load_classifier(obj.settings, topics, train_if_missing=False)
    click.echo("training the topic classifier (first use, or topics.toml changed)...", err=True)
    db = obj.database()
    try:
        with db.session() as session:  # only read: the reporter's labels are training data
            return load_classifier(obj.settings, topics, session=session)
    finally:
        db.close()


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# enable / disable ------------------------------------------------------------------------------


@sources.command("disable")
@click.argument("source_id", metavar="ID")
@pass_ctx
def sources_disable(obj: Context, source_id: str) -> None:
    """Stop crawling a source (sets enabled = false in sources.toml; its items stay)."""
    _set_enabled(obj, source_id, False)


@sources.command("enable")
@click.argument("source_id", metavar="ID")
@pass_ctx
def sources_enable(obj: Context, source_id: str) -> None:
    """Crawl a disabled source again (sets enabled = true in sources.toml)."""
    _set_enabled(obj, source_id, True)


def _set_enabled(obj: Context, source_id: str, enabled: bool) -> None:

    path = obj.config_dir / "sources.toml"
    before = _enabled_in_file(path, source_id)
    set_enabled(path, source_id, enabled)  # ConfigError (one line) for an unknown id or an unreadable file
    state = "enabled" if enabled else "disabled"
    if before is enabled:
        click.echo(f"source '{source_id}' is already {state}; {path} unchanged")
        return
    was = "disabled" if enabled else "enabled"
    then = "crawls include it again" if enabled else "crawls skip it from now on; its items stay"
    click.echo(f"source '{source_id}': {was} -> {state} in {path} ({then})")


def _enabled_in_file(path: Path, source_id: str) -> bool | None:
    try:
        tables = tomllib.loads(path.read_bytes().decode("utf-8")).get("source", [])
    except (OSError, ValueError):
        return None  # set_enabled reports the problem
    for entry in tables if isinstance(tables, list) else []:
        if isinstance(entry, dict) and entry.get("id") == source_id:
            value = entry.get("enabled", True)
            return value if isinstance(value, bool) else None
    return None


sources.add_command(sources_import_opml)
sources.add_command(sources_export_opml)
