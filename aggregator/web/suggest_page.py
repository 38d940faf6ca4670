"""The "needs your call" list: the items `label --suggest` proposes, with the classifier's reason and yes/no buttons."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from aggregator.classify.suggest import suggest_labels
from aggregator.classify.tagging import add_label
from aggregator.models import Item, ItemTopic
from aggregator.web.context import Ctx, Db, ItemId
from aggregator.web.feedback import require_change_allowed
from aggregator.web.item_view import verdict

router = APIRouter(include_in_schema=False)

MAX_SUGGESTIONS = 100


@router.get("/suggest", response_class=HTMLResponse)
def suggest_page(
    request: Request,
    ctx: Ctx,
    session: Db,
    n: Annotated[int, Query(ge=1, le=MAX_SUGGESTIONS)] = 20,
    saved: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The items whose labels would teach the classifier most, least sure first."""
    found = suggest_labels(session, list(ctx.topics.ids), n)
    rows = []
    for s in found:
        tag = session.get(ItemTopic, (s.item_id, s.topic))
        rows.append((s, verdict(tag, None) if tag is not None else None))
    return ctx.page(request, "suggest.html.j2", rows=rows, n=n, saved=saved if saved in ctx.topics.ids else "")


@router.post("/suggest/{item_id}", dependencies=[Depends(require_change_allowed)])
def answer(
    item_id: ItemId,
    ctx: Ctx,
    session: Db,
    topic: Annotated[str, Form(max_length=64)],
    value: Annotated[Literal["yes", "no"], Form()],
    n: Annotated[int, Form(ge=1, le=MAX_SUGGESTIONS)] = 20,
) -> Response:
    """Store the answer as the item page's feedback does, and come back to the list (the answered item leaves it)."""
    if session.get(Item, item_id) is None:
        raise HTTPException(404, f"no item with id {item_id}")
    add_label(session, ctx.topics, item_id, topic, value == "yes", now=datetime.now(UTC), origin="web")
    return RedirectResponse(f"/suggest?{urlencode({'n': n, 'saved': topic})}", status_code=303)
