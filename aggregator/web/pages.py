"""The HTML pages: search, item, digest archive, source health (the volume chart is in chart_page.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from aggregator.config.sources import Tier
from aggregator.crawl.health import source_health
from aggregator.digest.render import render
from aggregator.models import Digest, Item
from aggregator.search.hits import search
from aggregator.search.query import QueryError, parse, positive_texts
from aggregator.store.digests import digest_on
from aggregator.store.sources import source_names
from aggregator.web.context import Ctx, Db, ItemId, WebContext
from aggregator.web.item_view import load_item
from aggregator.web.markup import document_background, document_body, highlighted, marked
from aggregator.web.search_form import MAX_PAGE, PER_PAGE, SearchForm, Sort, topic_choices

router = APIRouter(include_in_schema=False)


def search_form(
    q: Annotated[str, Query(max_length=2000, description="Query-language text.")] = "",
    topic: Annotated[str, Query(max_length=64, description="Adds topic:VALUE.")] = "",
    lang: Annotated[str, Query(max_length=64, description="Adds lang:VALUE.")] = "",
    source: Annotated[str, Query(max_length=64, description="Adds source:VALUE.")] = "",
    tier: Annotated[str, Query(max_length=64, description="Adds tier:VALUE.")] = "",
    since: Annotated[str, Query(max_length=64, description="Adds since:VALUE (YYYY, YYYY-MM or YYYY-MM-DD).")] = "",
    until: Annotated[str, Query(max_length=64, description="Adds until:VALUE (the day itself included).")] = "",
    sort: Sort = "relevance",
) -> SearchForm:
    return SearchForm(q=q, topic=topic, lang=lang, source=source, tier=tier, since=since, until=until, sort=sort)


Form = Annotated[SearchForm, Depends(search_form)]


def _choices(session: Session, ctx: WebContext) -> dict[str, Any]:
    # The languages items have (detected per item), not what sources declare ("auto" is no language).
    stored = {code for code in session.scalars(select(Item.language).distinct()) if code}
    languages = sorted({"en", "es"} | stored)
    return {
        "sources": sorted(source_names(session).items(), key=lambda kv: kv[1].lower()),
        "tiers": [t.value for t in Tier],
        "languages": languages,
        "topics": topic_choices(ctx.topics),
    }


@router.get("/", response_class=HTMLResponse)
def search_page(
    request: Request, ctx: Ctx, session: Db, form: Form, page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1
) -> Response:
    values: dict[str, Any] = {"form": form, "page": page, "per_page": PER_PAGE, "query": "", **_choices(session, ctx)}
    values |= {"result": None, "rows": [], "error": None}
    if form.empty:
        return ctx.page(request, "search.html.j2", **values)
    try:
        text = form.query_text()
        result = search(
            session, text, sort=form.sort, limit=PER_PAGE, offset=(page - 1) * PER_PAGE, topics=ctx.topics,
            zone=ctx.settings.zone,
        )  # fmt: skip
    except QueryError as exc:
        # A malformed query is the researcher's to fix: the page says where, with the form still filled in.
        return ctx.page(request, "search.html.j2", status_code=400, **(values | {"error": exc}))
    terms = positive_texts(parse(text).root)
    names = source_names(session)
    rows = [(hit, highlighted(hit.title, terms), marked(hit.snippet), names.get(hit.source_id, hit.source_id))
            for hit in result.hits]  # fmt: skip
    pages = max(1, min(MAX_PAGE, -(-result.total // PER_PAGE)))
    return ctx.page(request, "search.html.j2", **(values | {"result": result, "rows": rows, "query": text,
                                                            "pages": pages}))  # fmt: skip


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(
    request: Request, ctx: Ctx, session: Db, item_id: ItemId, q: Annotated[str, Query(max_length=2000)] = "",
    saved: str = "",
) -> Response:  # fmt: skip
    view = load_item(session, item_id, ctx.topics)
    if view is None:
        raise HTTPException(404, f"no item with id {item_id}")
    terms = []
    if q.strip():
        try:
            terms = positive_texts(parse(q).root)
        except QueryError:
            terms = []  # the search page reports a bad query; here it only means nothing is highlighted
    item = view.item
    return ctx.page(
        request,
        "item.html.j2",
        view=view,
        item=item,
        q=q,
        title_html=highlighted(item.title, terms),
        text_html=highlighted(item.text, terms) if item.text else None,
        feedback_topics=[(t.id, t.label) for t in ctx.topics.topics],
        saved=saved if saved in ctx.topics.ids else "",
    )


@router.get("/digests", response_class=HTMLResponse)
def digests_page(request: Request, ctx: Ctx, session: Db) -> Response:
    rows = session.execute(
        select(Digest.local_date, Digest.period_start, Digest.period_end, Digest.story_count, Digest.item_count,
               Digest.sent_at).order_by(Digest.period_end.desc())
    ).all()  # fmt: skip
    return ctx.page(request, "digests.html.j2", digests=rows)


@router.get("/digests/{local_date}", response_class=HTMLResponse)
def digest_page(request: Request, ctx: Ctx, session: Db, local_date: str) -> Response:
    row = digest_on(session, local_date)
    if row is None or not row.content:
        raise HTTPException(404, f"no digest for {local_date} in the archive")
    # The digest renderer escapes every value from a feed (the same HTML is mailed); the page embeds its body.
    page = render(row.content, "html", title=ctx.settings.digest.title)
    return ctx.page(request, "digest.html.j2", digest=row, body=document_body(page),
                    background=document_background(page))  # fmt: skip


@router.get("/sources", response_class=HTMLResponse)
def sources_page(request: Request, ctx: Ctx, session: Db) -> Response:
    health = source_health(session, datetime.now(UTC), stale_after=ctx.settings.stale_after)
    counts: dict[str, int] = {}
    for h in health:
        counts[h.status] = counts.get(h.status, 0) + 1
    return ctx.page(request, "sources.html.j2", health=health, counts=sorted(counts.items()))
