"""Run one crawl: make the classifier ready, crawl in a child process, tag what it left untagged, group stories."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aggregator.config.settings import Settings
from aggregator.config.sources import SourceCatalog
from aggregator.digest.archive import group_new_items
from aggregator.errors import AggregatorError
from aggregator.services.context import Context
from aggregator.services.entities import match_entities
from aggregator.services.tagging import ensure_classifier, tag_untagged
from aggregator.spiders.process import CrawlOutcome, crawl_sources
from aggregator.store.database import Database
from aggregator.stories.store import StoryReport

DNS_FAILED = "fetch: DNS lookup failed"  # aggregator.spiders.failures' words for an unresolvable host


@dataclass
class CrawlRun:
    """A crawl's outcome plus what happened to tagging around it."""

    outcome: CrawlOutcome
    tagging_problem: str | None = None  # why items were stored untagged, if they were
    caught_up: int = 0  # items the crawl left untagged and that were tagged afterwards
    catch_up_error: str | None = None
    stories: StoryReport | None = None  # how the new items were grouped (None when nothing was stored)
    entities_caught_up: int = 0  # items matched against entities.toml after the crawl (all of them once it changed)
    entity_error: str | None = None

    @property
    def network_down(self) -> str | None:
        """One line when every source failed to resolve its host: the network, not the sources, is at fault."""
        lines = self.outcome.lines
        if len(lines) < 2 or not all((line.error or "").startswith(DNS_FAILED) for line in lines):
            return None
        return (
            f"the network looks down: all {len(lines)} sources failed their DNS lookup; "
            "check this machine's connection and DNS before the sources"
        )


def run_crawl(
    ctx: Context,
    db: Database,
    catalog: SourceCatalog,
    wanted: list[str] | None = None,
    *,
    settings: Settings | None = None,
    on_plan: Callable[[Any], None] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    extra_scrapy_settings: dict[str, Any] | None = None,
    lock_fd: int | None = None,
) -> CrawlRun:
    """Crawl the due sources (or `wanted`) into `db`; the caller holds the crawl lock (`lock_fd`, passed on to the
    crawl process so that it holds the lock too)."""
    problem = ensure_classifier(ctx, db)  # trained here once, so the crawl process only reads it
    outcome = crawl_sources(
        db,
        settings or ctx.settings,
        catalog,
        wanted=wanted,
        on_event=on_event,
        on_plan=on_plan,
        extra_scrapy_settings=extra_scrapy_settings,
        lock_fd=lock_fd,
    )
    run = CrawlRun(outcome, tagging_problem=problem)
    if problem is None:
        try:
            run.caught_up = tag_untagged(ctx, db)  # items whose tagging the crawl could not finish
        except AggregatorError as exc:  # the crawl's items are stored; only their tags wait
            run.catch_up_error = " ".join(str(exc).split())
    try:
        run.entities_caught_up = match_entities(ctx, db).items  # what the crawl could not match, or a new file
    except AggregatorError as exc:  # the items are stored; only their mentions wait
        run.entity_error = " ".join(str(exc).split())
    if any(line.new for line in outcome.lines):
        # Stories as soon as items are stored: `story:` searches and an item's siblings need not wait for a digest.
        with db.session() as session:
            run.stories = group_new_items(session, settings or ctx.settings, now=datetime.now(UTC))
    return run
