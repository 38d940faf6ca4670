"""The JSON API under /api: search, items, digests, volume and sources, described at /openapi.json."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from aggregator.crawl.health import source_health
from aggregator.search.highlight import MARK_END, MARK_START
from aggregator.search.hits import MAX_LIMIT, search
from aggregator.store.digests import digest_on, newest_digests
from aggregator.web.context import Ctx, Db, ItemId
from aggregator.web.item_view import load_item
from aggregator.web.markup import marked
from aggregator.web.pages import Form
from aggregator.web.schemas import (
    ApiError,
    DigestOut,
    DigestSummaryOut,
    EntityOut,
    HitOut,
    ItemOut,
    OutletItemOut,
    SearchOut,
    SightingOut,
    SourceOut,
    StoryOut,
    TopicOut,
)

BAD_QUERY: dict[int | str, dict[str, Any]] = {400: {"model": ApiError, "description": "A malformed query."}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ApiError, "description": "Nothing with that id."}}

router = APIRouter(prefix="/api", tags=["api"])


@router.get("/search", response_model=SearchOut, responses=BAD_QUERY)
def api_search(
    ctx: Ctx,
    session: Db,
    form: Form,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> SearchOut:
    """Items matching a query (the query language, plus optional filter parameters), one page at a time."""
    if form.empty:
        raise HTTPException(400, "search: give a query (q) or at least one filter")
    text = form.query_text()
    page = search(session, text, sort=form.sort, limit=limit, offset=offset, topics=ctx.topics, zone=ctx.settings.zone)
    hits = [
        HitOut(
            item_id=h.item_id, title=h.title, url=h.url, source_id=h.source_id, language=h.language,
            published_at=h.published_at, first_seen_at=h.first_seen_at, story_id=h.story_id, topics=h.topics,
            score=h.score, snippet=h.snippet.replace(MARK_START, "").replace(MARK_END, ""),
            snippet_html=str(marked(h.snippet)), entities=list(h.entities),
        )
        for h in page.hits
    ]  # fmt: skip
    return SearchOut(query=text, total=page.total, total_exact=page.total_exact, ranked=page.ranked, offset=offset,
                     hits=hits)  # fmt: skip


@router.get("/items/{item_id}", response_model=ItemOut, responses=NOT_FOUND)
def api_item(ctx: Ctx, session: Db, item_id: ItemId) -> ItemOut:
    """One item: its text, its topics with their explanations, its story's other items, every source that carried it."""
    view = load_item(session, item_id, ctx.topics)
    if view is None:
        raise HTTPException(404, f"no item with id {item_id}")
    item, story = view.item, view.story
    return ItemOut(
        id=item.id, title=item.title, url=item.url, canonical_url=item.canonical_url, source_id=item.source_id,
        source_name=view.source_name, language=item.language, authors=item.authors, published_at=item.published_at,
        first_seen_at=item.first_seen_at, summary_text=item.summary_text, text=item.text,
        topics=[
            TopicOut(topic=v.topic, label=ctx.topic_label(v.topic), score=v.score, passed=v.passed, method=v.method,
                     model_passed=v.model_passed, explanation=v.explanation, your_label=v.label)
            for v in view.verdicts
        ],
        story=None if story is None else StoryOut(
            id=story.id, title=story.title, first_seen_at=story.first_seen_at, last_seen_at=story.last_seen_at,
            item_count=story.item_count, source_count=story.source_count, first_source_id=story.first_source_id,
            other_items=[OutletItemOut.model_validate(s) for s in view.siblings],
        ),
        sightings=[SightingOut.model_validate(s) for s in view.sightings],
        entities=[EntityOut.model_validate(e) for e in view.entities],
    )  # fmt: skip


@router.get("/digests", response_model=list[DigestSummaryOut])
def api_digests(session: Db) -> list[DigestSummaryOut]:
    """Every archived digest, newest first (without its content)."""
    return [DigestSummaryOut.model_validate(row) for row in newest_digests(session)]


@router.get("/digests/{local_date}", response_model=DigestOut, responses=NOT_FOUND)
def api_digest(session: Db, local_date: str) -> DigestOut:
    """One archived digest with its content (sections, stories, outlets, summaries), by its local date."""
    row = digest_on(session, local_date)
    if row is None:
        raise HTTPException(404, f"no digest for {local_date} in the archive")
    return DigestOut.model_validate(row)


@router.get("/sources", response_model=list[SourceOut])
def api_sources(ctx: Ctx, session: Db) -> list[SourceOut]:
    """Health of every configured source, worst first (what `aggregator sources check` prints)."""
    health = source_health(session, datetime.now(UTC), stale_after=ctx.settings.stale_after)
    return [SourceOut.model_validate(h) for h in health]
