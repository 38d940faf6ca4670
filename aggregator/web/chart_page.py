"""Topic volume over time: the chart page, the chart alone as an SVG file, and /api/volume."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from aggregator.models import Item, ItemTopic
from aggregator.parse.dates import AHEAD, bounded, shifted
from aggregator.search.query import QueryError
from aggregator.search.stats import Volume, volume
from aggregator.web.chart import Chart, line_chart
from aggregator.web.context import Ctx, Db, WebContext
from aggregator.web.schemas import ApiError, VolumeOut
from aggregator.web.sized_cache import SizedCache
from aggregator.web.volume_bounds import MAX_PERIODS, ParameterError, check_range, newest_periods, volume_bytes

router = APIRouter()

Per = Literal["topic", "source", "lang", "entity", "all"]
By = Literal["day", "week", "month"]
# The chart by day, without a since, shows this many days up to until (or the newest item): the plot draws at most
# MAX_POINTS periods, and three months of days still read as a line.
CHART_DAYS = 90

Q = Annotated[str, Query(max_length=2000, description="Count only the items matching this query (default: all).")]
Since = Annotated[date | None, Query(description="First local day counted (YYYY-MM-DD).")]
Until = Annotated[date | None, Query(description="Last local day counted, included (YYYY-MM-DD).")]


# Counting a million items takes seconds; the counts only change when items arrive or are (re)tagged, so the
# answer is kept, keyed by the newest item id and tagging time, for a few minutes at most. The cache is bounded by
# what its answers hold, not only by their number: a by-day answer per source can be megabytes.
CACHE_SECONDS, CACHE_ENTRIES, CACHE_BYTES = 600.0, 64, 32 * 1024 * 1024
CACHE: SizedCache[tuple[Any, ...], Volume] = SizedCache(
    sizeof=volume_bytes, max_bytes=CACHE_BYTES, max_entries=CACHE_ENTRIES, max_age=CACHE_SECONDS
)


def _newest_day(newest_seen: datetime | None, ctx: WebContext) -> date | None:
    """The latest local day an item can be counted under: a publication date counts up to AHEAD past the sighting."""
    if newest_seen is None:
        return None
    moment = newest_seen if newest_seen.tzinfo else newest_seen.replace(tzinfo=UTC)
    return bounded(shifted(moment, AHEAD)).astimezone(ctx.settings.zone).date()


def _volume(session: Session, ctx: WebContext, q: str, by: str, per: Per, since: date | None,
            until: date | None, *, chart: bool = False) -> Volume:  # fmt: skip
    """The counts for the request, at most MAX_PERIODS periods (ParameterError for a longer since..until).

    For the `chart`, by day without a since counts the CHART_DAYS days up to until or the newest item.
    """
    newest_id, newest_seen = session.execute(select(func.max(Item.id), func.max(Item.first_seen_at))).one()
    newest = _newest_day(newest_seen, ctx)
    end = until or newest
    if chart and by == "day" and since is None and end is not None:
        since = end - timedelta(days=CHART_DAYS - 1)
    check_range(by, since, until, newest)
    tagged = session.scalar(select(func.max(ItemTopic.classified_at)))
    key = (str(ctx.db.url), q.strip(), by, per, since, until, ctx.settings.timezone, newest_id, tagged)
    hit = CACHE.get(key)
    if hit is not None:
        return hit
    found = volume(session, q.strip() or None, by=by, per=None if per == "all" else per, zone=ctx.settings.zone,
                   since=since, until=until, topics=ctx.topics)  # fmt: skip
    found = newest_periods(found)
    CACHE.put(key, found)
    return found


VOLUME_API = (
    "How many items (all, or those matching q) per local day, week or month, per topic, source or language. "
    f"At most {MAX_PERIODS:,} periods: a longer since..until is refused (400, the error names the parameter). "
    f"Without since, only the newest {MAX_PERIODS:,} periods up to until (or the newest item) are answered."
)


def _chart(ctx: WebContext, found: Volume, per: Per) -> Chart:
    # Topics by the names topics.toml gives them; sources and languages by their ids.
    series = {ctx.topic_label(k): v for k, v in found.series.items()} if per == "topic" else found.series
    return line_chart(found.periods, series)


@router.get("/chart", response_class=HTMLResponse, include_in_schema=False)
def chart_page(
    request: Request, ctx: Ctx, session: Db, q: Q = "", by: By = "week", per: Per = "topic",
    since: Since = None, until: Until = None,
) -> Response:  # fmt: skip
    values: dict[str, Any] = {"q": q, "by": by, "per": per, "since": since, "until": until}
    values |= {"chart": None, "error": None, "chart_days": CHART_DAYS if by == "day" and since is None else None}
    try:
        found = _volume(session, ctx, q, by, per, since, until, chart=True)
    except (QueryError, ParameterError) as exc:
        return ctx.page(request, "chart.html.j2", status_code=400, **(values | {"error": exc}))
    return ctx.page(request, "chart.html.j2", **(values | {"chart": _chart(ctx, found, per)}))


@router.get("/chart.svg", include_in_schema=False)
def chart_svg(
    ctx: Ctx, session: Db, q: Q = "", by: By = "week", per: Per = "topic",
    since: Since = None, until: Until = None,
) -> Response:  # fmt: skip
    # A QueryError or ParameterError: the 400 error page.
    found = _volume(session, ctx, q, by, per, since, until, chart=True)
    svg = ctx.templates.get_template("chart.svg.j2").render(chart=_chart(ctx, found, per))
    return Response(svg, media_type="image/svg+xml")


@router.get("/api/volume", response_model=VolumeOut, tags=["api"],
            responses={400: {"model": ApiError, "description": "A malformed query, or too long a range."}},
            description=VOLUME_API)  # fmt: skip
def api_volume(
    ctx: Ctx, session: Db, q: Q = "", by: By = "week", per: Per = "topic",
    since: Since = None, until: Until = None,
) -> VolumeOut:  # fmt: skip
    """How many items (all, or those matching q) per local day, week or month, per topic, source or language."""
    found = _volume(session, ctx, q, by, per, since, until)
    return VolumeOut(query=q.strip() or None, by=by, per=None if per == "all" else per,
                     timezone=ctx.settings.timezone, periods=found.periods, series=found.series)  # fmt: skip
