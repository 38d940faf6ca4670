"""Topic volume over time: the chart page, the chart alone as an SVG file, and /api/volume."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from aggregator.models import Item, ItemTopic
from aggregator.search.query import QueryError
from aggregator.search.stats import Volume, volume
from aggregator.web.chart import Chart, line_chart
from aggregator.web.context import Ctx, Db, WebContext
from aggregator.web.schemas import ApiError, VolumeOut

router = APIRouter()

Per = Literal["topic", "source", "lang", "all"]

Q = Annotated[str, Query(max_length=2000, description="Count only the items matching this query (default: all).")]
Since = Annotated[date | None, Query(description="First local day counted (YYYY-MM-DD).")]
Until = Annotated[date | None, Query(description="Last local day counted, included (YYYY-MM-DD).")]


# Counting a million items takes seconds; the counts only change when items arrive or are (re)tagged, so the
# answer is kept, keyed by the newest item id and tagging time, for a few minutes at most.
_CACHE: OrderedDict[tuple[Any, ...], tuple[float, Volume]] = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHE_SECONDS, CACHE_ENTRIES = 600.0, 64


def _volume(session: Session, ctx: WebContext, q: str, by: str, per: Per, since: date | None,
            until: date | None) -> Volume:  # fmt: skip
    state = (session.scalar(select(func.max(Item.id))), session.scalar(select(func.max(ItemTopic.classified_at))))
    key = (str(ctx.db.url), q.strip(), by, per, since, until, ctx.settings.timezone, state[0], state[1])
    now = time.monotonic()
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            _CACHE.move_to_end(key)
            return hit[1]
    found = volume(session, q.strip() or None, by=by, per=None if per == "all" else per, zone=ctx.settings.zone,
                   since=since, until=until)  # fmt: skip
    with _CACHE_LOCK:
        _CACHE[key] = (now, found)
        while len(_CACHE) > CACHE_ENTRIES:
            _CACHE.popitem(last=False)
    return found


def _chart(ctx: WebContext, found: Volume, per: Per) -> Chart:
    # Topics by the names topics.toml gives them; sources and languages by their ids.
    series = {ctx.topic_label(k): v for k, v in found.series.items()} if per == "topic" else found.series
    return line_chart(found.periods, series)


@router.get("/chart", response_class=HTMLResponse, include_in_schema=False)
def chart_page(
    request: Request, ctx: Ctx, session: Db, q: Q = "", by: Literal["week", "month"] = "week", per: Per = "topic",
    since: Since = None, until: Until = None,
) -> Response:  # fmt: skip
    values: dict[str, Any] = {"q": q, "by": by, "per": per, "since": since, "until": until}
    values |= {"chart": None, "error": None}
    try:
        found = _volume(session, ctx, q, by, per, since, until)
    except QueryError as exc:
        return ctx.page(request, "chart.html.j2", status_code=400, **(values | {"error": exc}))
    return ctx.page(request, "chart.html.j2", **(values | {"chart": _chart(ctx, found, per)}))


@router.get("/chart.svg", include_in_schema=False)
def chart_svg(
    ctx: Ctx, session: Db, q: Q = "", by: Literal["week", "month"] = "week", per: Per = "topic",
    since: Since = None, until: Until = None,
) -> Response:  # fmt: skip
    found = _volume(session, ctx, q, by, per, since, until)  # a QueryError becomes the 400 error page
    svg = ctx.templates.get_template("chart.svg.j2").render(chart=_chart(ctx, found, per))
    return Response(svg, media_type="image/svg+xml")


@router.get("/api/volume", response_model=VolumeOut, tags=["api"],
            responses={400: {"model": ApiError, "description": "A malformed query."}})  # fmt: skip
def api_volume(
    ctx: Ctx, session: Db, q: Q = "", by: Literal["day", "week", "month"] = "week", per: Per = "topic",
    since: Since = None, until: Until = None,
) -> VolumeOut:  # fmt: skip
    """How many items (all, or those matching q) per local day, week or month, per topic, source or language."""
    found = _volume(session, ctx, q, by, per, since, until)
    return VolumeOut(query=q.strip() or None, by=by, per=None if per == "all" else per,
                     timezone=ctx.settings.timezone, periods=found.periods, series=found.series)  # fmt: skip
