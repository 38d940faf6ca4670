"""Each watch's Atom feed, /watches/ID.atom, as the watches wrote it under the data directory."""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException
from starlette.responses import Response

from aggregator.watches.atom import feed_path
from aggregator.web.context import Ctx

router = APIRouter(include_in_schema=False)
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # a watch id (config.watches): nothing that could name a path


@router.get("/watches/{watch_id}.atom")
def watch_feed(ctx: Ctx, watch_id: str) -> Response:
    if not _ID.match(watch_id):
        raise HTTPException(404, "no such watch")
    path = feed_path(ctx.settings.data_path, watch_id)
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        raise HTTPException(404, f"watch {watch_id} has delivered no alert yet") from None
    return Response(body, media_type="application/atom+xml")
