"""The requests that change data: logging in with the web token, logging out, and "about T / not about T"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from aggregator.classify.tagging import add_label
from aggregator.models import Item
from aggregator.web.context import Ctx, Db, ItemId, WebContext
from aggregator.web.security import SESSION_AGE, SESSION_COOKIE, TOKEN_ENV, local_path, same_origin

router = APIRouter(include_in_schema=False)


DISABLED = f"feedback is off: set [web] token in settings.toml (or {TOKEN_ENV}) to turn it on"


def _check_origin(request: Request, ctx: WebContext) -> None:
    if not ctx.guard.enabled:
        raise HTTPException(403, DISABLED)
    if not same_origin(request):
        raise HTTPException(403, "refused: this request did not come from a page of this site")


def require_change_allowed(request: Request, ctx: Ctx, csrf: Annotated[str, Form(max_length=128)] = "") -> None:
    """Every check a data-changing POST must pass: feedback on, same origin, a valid session, its CSRF token."""
    _check_origin(request, ctx)
    cookie = request.cookies.get(SESSION_COOKIE)
    if ctx.guard.session_nonce(cookie) is None:
        raise HTTPException(403, "log in with the web token first (your session is missing or has expired)")
    if not ctx.guard.csrf_matches(cookie, csrf):
        raise HTTPException(403, "refused: the form's security token is missing or wrong; reload the page")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ctx: Ctx, next: str = "/") -> Response:
    return ctx.page(request, "login.html.j2", next=local_path(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    ctx: Ctx,
    token: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    _check_origin(request, ctx)
    client = request.client.host if request.client else ""
    # Checked before the token: while an address waits, even the right token is not confirmed to it.
    wait = ctx.throttle.retry_after(client)
    if wait:
        error = f"too many wrong tokens from your address: try again in {wait} s"
        page = ctx.page(request, "login.html.j2", status_code=429, next=local_path(next), error=error)
        page.headers["Retry-After"] = str(wait)
        return page
    if not ctx.guard.token_matches(token):
        ctx.throttle.failed(client)
        return ctx.page(request, "login.html.j2", status_code=403, next=local_path(next), error="wrong token")
    ctx.throttle.succeeded(client)
    response = RedirectResponse(local_path(next), status_code=303)
    # HttpOnly: no script can read it; SameSite=Strict: no other site's page can make the browser send it.
    response.set_cookie(
        SESSION_COOKIE, ctx.guard.new_session(), max_age=SESSION_AGE, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@router.post("/logout", dependencies=[Depends(require_change_allowed)])
def logout() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response


@router.post("/items/{item_id}/feedback", dependencies=[Depends(require_change_allowed)])
def feedback(
    item_id: ItemId,
    ctx: Ctx,
    session: Db,
    topic: Annotated[str, Form(max_length=64)],
    value: Annotated[Literal["yes", "no"], Form()],
) -> Response:
    """Store "item is (not) about topic" as a label: the stored tag follows it now, the next training learns it."""
    if session.get(Item, item_id) is None:
        raise HTTPException(404, f"no item with id {item_id}")
    add_label(session, ctx.topics, item_id, topic, value == "yes", now=datetime.now(UTC), origin="web")
    return RedirectResponse(f"/items/{item_id}?{urlencode({'saved': topic})}", status_code=303)
