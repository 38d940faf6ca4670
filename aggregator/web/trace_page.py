"""The "Trace a text" page: a form for a text (pasted), and its claims with the stored items that bear on them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from aggregator.config.sources import load_sources
from aggregator.search.query import QueryError
from aggregator.trace.reading import plain_text
from aggregator.trace.tracing import MAX_TEXT_CHARS, trace_text
from aggregator.web.context import Ctx, Db
from aggregator.web.security import same_origin

router = APIRouter(include_in_schema=False)


def _day(value: str, name: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise HTTPException(400, f"{name}: {value!r} is not a day like 2026-11-25") from exc


@router.get("/trace", response_class=HTMLResponse)
def trace_form(request: Request, ctx: Ctx) -> Response:
    return ctx.page(request, "trace.html.j2", text="", within="", since="", until="", limit=5, trace=None,
                    error=None)  # fmt: skip


@router.post("/trace", response_class=HTMLResponse)
def trace_post(
    request: Request,
    ctx: Ctx,
    session: Db,
    text: Annotated[str, Form(max_length=MAX_TEXT_CHARS)] = "",
    within: Annotated[str, Form(max_length=2000)] = "",
    since: Annotated[str, Form(max_length=10)] = "",
    until: Annotated[str, Form(max_length=10)] = "",
    limit: Annotated[int, Form(ge=1, le=20)] = 5,
) -> Response:
    """Trace a pasted text. Nothing is stored, so no login is needed; but, like every POST here, it must come
    from a page of this site (another site's page must not make the reporter's server do the work)."""
    if not same_origin(request):
        raise HTTPException(403, "refused: this request did not come from a page of this site")
    values: dict[str, Any] = {
        "text": text,
        "within": within,
        "since": since,
        "until": until,
        "limit": limit,
        "error": None,
    }
    try:
        trace = trace_text(
            session, plain_text(text), load_sources(ctx.settings.config_dir).sources, within=within,
            since=_day(since, "since"), until=_day(until, "until"), limit=limit, topics=ctx.topics,
            zone=ctx.settings.zone,
        )  # fmt: skip
    except QueryError as exc:
        return ctx.page(request, "trace.html.j2", status_code=400, **(values | {"trace": None, "error": exc}))
    return ctx.page(request, "trace.html.j2", **(values | {"trace": trace}))
