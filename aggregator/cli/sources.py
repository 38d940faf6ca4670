"""Command-line verbs that maintain sources.toml: add (with feed discovery), test, enable, disable."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from aggregator.cli.main import Context, _fmt_time, _report_problems, _table, pass_ctx, sources
from aggregator.config.sources import SourceCatalog, SourceConfig, Tier
from aggregator.errors import AggregatorError, ConfigError
from aggregator.parse.entry import Entry

if TYPE_CHECKING:
    from aggregator.classify.classifier import Classifier

LANGUAGES = ["en", "es"]
TIERS = [tier.value for tier in Tier]
PREVIEW_ADD = 5
PREVIEW_TEST = 10
# Second-level labels under a country code (example.com.mx), as in aggregator.crawl.discovery.
_SECOND_LEVEL = {"co", "com", "org", "net", "gov", "gob", "ac", "edu", "nic", "or", "ne"}
# Host prefixes that name a server, not the outlet: www.elpais.com and feeds.elpais.com are both "elpais".
_SERVER_LABELS = {"www", "www2", "m", "mobile", "amp", "feeds", "feed", "rss"}


def source_id_for(url: str, taken: Iterable[str] = ()) -> str:
    """A source id from the URL's host, unique among `taken`: `borderreport` for https://www.borderreport.com/,
    `insightcrime-es` for es.insightcrime.org, then `borderreport-2` and so on."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    labels = host.split(".")
    if re.fullmatch(r"[\d.]+|[0-9a-f:]+", host) or len(labels) < 2:
        slug = host  # an IP address or a bare host name: nothing to drop
    else:
        size = 2 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 1
        name, *subdomains = reversed(labels[:-size])
        slug = "-".join([name, *(label for label in subdomains if label not in _SERVER_LABELS)])
    slug = re.sub(r"[^a-z0-9_-]+", "-", slug).strip("-_")[:60] or "source"
    used = set(taken)
    candidate, n = slug, 2
    while candidate in used:
        candidate, n = f"{slug}-{n}", n + 1
    return candidate


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
    from pydantic import ValidationError

    from aggregator.config.settings import describe_validation_error
    from aggregator.config.source_file import append_source
    from aggregator.crawl.discovery import http_url
    from aggregator.crawl.trial import discover, fetcher

    given = http_url(url)
    if given is None:
        raise ConfigError(f"add: not an http(s) URL: {url!r}")
    catalog = obj.catalog()
    _report_problems(catalog)
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
    source_id = source_id or source_id_for(given, taken)
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


def source_ids(catalog: SourceCatalog) -> set[str]:
    """Every id in sources.toml, including those of entries that failed validation: the file still holds them."""
    return {s.id for s in catalog.sources} | {p.source_id for p in catalog.problems if p.source_id}


def _describe(catalog: SourceCatalog, source_id: str) -> str:
    found = catalog.by_id().get(source_id)
    return f" ('{found.name}', {found.url})" if found else ""


def _refuse_duplicate(catalog: SourceCatalog, url: str) -> None:
    from aggregator.crawl.discovery import feed_key

    key = feed_key(url)
    for source in catalog.sources:
        if key is not None and feed_key(source.url) == key:
            raise ConfigError(
                f"add: {url} is already configured as source '{source.id}' ('{source.name}', {source.url})"
            )


def _check_topics(obj: Context, wanted: Sequence[str]) -> None:
    from aggregator.classify.topics import load_topics

    known = load_topics(obj.config_dir).ids
    unknown = [t for t in wanted if t not in known]
    if unknown:
        raise ConfigError(f"add: unknown topic(s) {', '.join(unknown)}; topics.toml has {', '.join(known)}")


def language_code(code: str | None) -> str | None:
    """The primary subtag sources.toml wants, from what feeds and OPML files say: en-US, EN, en_us."""
    primary = re.split(r"[-_]", code.strip())[0].lower() if code else ""
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else None


# test ------------------------------------------------------------------------------------------


@sources.command("test")
@click.argument("source_id", metavar="ID")
@pass_ctx
def sources_test(obj: Context, source_id: str) -> None:
    """Fetch and parse one source now and show what a crawl would store; nothing is written anywhere."""
    from aggregator.crawl.trial import fetcher, try_source

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
    from sqlalchemy import func, select

    from aggregator.models import Sighting
    from aggregator.store.urls import guid_key

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
        [_fmt_time(e.published_at, obj.settings), _short(e.title or e.url, 80), topics[i] if topics else "-"]
        for i, e in enumerate(entries)
    ]
    click.echo(f"{heading}:")
    click.echo(_table(rows, [f"published ({obj.settings.timezone})", "title", "topics"]))


def _predict(obj: Context, entries: list[Entry]) -> list[str] | None:
    """Passed topics per entry, or None (with a warning) when there is no classifier to ask."""
    from aggregator.parse.sanitize import clean_html_to_text

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
    from aggregator.classify.tagging import classifier_dir, load_classifier
    from aggregator.classify.topics import load_topics

    topics = load_topics(obj.config_dir)
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


def one_line(exc: Exception) -> str:
    """An error message on one line, as every command prints errors."""
    return " ".join(str(exc).split())


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
    from aggregator.config.source_file import set_enabled

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
    for table in tables if isinstance(tables, list) else []:
        if isinstance(table, dict) and table.get("id") == source_id:
            value = table.get("enabled", True)
            return value if isinstance(value, bool) else None
    return None
