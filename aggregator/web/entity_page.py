"""The entity page: how often an entity is named over time, the outlets that name it most, who it appears with."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from aggregator.search.hits import search
from aggregator.search.stats import volume
from aggregator.store.entities import co_mentioned, entity_outlets, entity_rows
from aggregator.store.sources import source_names
from aggregator.web.context import Ctx, Db

router = APIRouter()
RECENT = 20
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


@router.get("/entities/{entity_id}", response_class=HTMLResponse)
def entity_page(
    request: Request, ctx: Ctx, session: Db, entity_id: Annotated[str, Path(max_length=64)]
) -> Response:  # fmt: skip
    entity = entity_rows(session).get(entity_id) if _ID.fullmatch(entity_id) else None
    if entity is None:
        raise HTTPException(404, f"no entity {entity_id!r} (entities.toml names them)")
    query = f"entity:{entity.id}"
    by_month = volume(session, query, by="month", per=None, zone=ctx.settings.zone, topics=ctx.topics)
    counts = list(zip(by_month.periods, by_month.series.get("all", []), strict=True))
    names = source_names(session)
    outlets = [(names.get(sid, sid), sid, n) for sid, n in entity_outlets(session, entity.id)]
    recent = search(session, query, sort="date", limit=RECENT, topics=ctx.topics, zone=ctx.settings.zone)
    parent = entity_rows(session).get(entity.parent) if entity.parent else None
    return ctx.page(
        request,
        "entity.html.j2",
        entity=entity,
        parent=parent,
        aliases=(entity.details or {}).get("aliases", []),
        tags=(entity.details or {}).get("tags", []),
        counts=counts,
        peak=max((n for _, n in counts), default=0),
        outlets=outlets,
        together=co_mentioned(session, entity.id),
        recent=recent,
        query=query,
    )
