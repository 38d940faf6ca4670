"""Build the web app: database, templates, security headers, error pages, and the page, feedback and API routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from aggregator.classify.topics import load_topics
from aggregator.config.settings import Settings
from aggregator.errors import AggregatorError, StorageError
from aggregator.search.query import QueryError
from aggregator.store.database import Database
from aggregator.web import (
    api,
    captures,
    chart_page,
    entity_page,
    feedback,
    pages,
    suggest_page,
    trace_page,
    watch_feed,
)
from aggregator.web.context import WebContext
from aggregator.web.markup import environment
from aggregator.web.security import Guard, LoginThrottle, web_token
from aggregator.web.volume_bounds import ParameterError

# Pages need no script at all, so the browser is told to run none; images only from here (a feed's <img> would
# tell its outlet who is reading). Every response gets it: there is no Swagger UI page (/docs) whose script from a
# CDN would need an exception; the API is described by /openapi.json alone.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

DESCRIPTION = """Read-only JSON access to what the aggregator stores: search (the query language of the search
page), items with their topics, stories and provenance, the digest archive, topic volume over time and source
health. Times are UTC (ISO 8601); the HTML pages show them in the reporter's timezone."""


def create_app(
    settings: Settings,
    db_url: str,
    *,
    token: str | None = None,
    allowed_hosts: Sequence[str] | None = None,
    throttle: LoginThrottle | None = None,
) -> FastAPI:
    """The app on the database at `db_url`. `token` (default: $AGGREGATOR_WEB_TOKEN, else [web] token) enables
    feedback; `allowed_hosts` limits the Host header (against DNS rebinding when serving on 127.0.0.1); `throttle`
    counts wrong tokens on the login form (default: 5 a minute per client address).
    Raises ConfigError for a token shorter than security.MIN_TOKEN_LENGTH."""
    guard = Guard(web_token(token, settings.web.token))
    db = Database(db_url)
    templates = Jinja2Templates(env=environment(settings.zone))
    throttle = throttle if throttle is not None else LoginThrottle()
    ctx = WebContext(settings, db, load_topics(settings.config_dir), guard, templates, throttle)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        db.close()

    app = FastAPI(
        title="beat-aggregator",
        version=version("beat-aggregator"),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.web = ctx
    for router in (pages.router, chart_page.router, feedback.router, api.router):
        app.include_router(router)
    app.include_router(entity_page.router)
    app.include_router(captures.router)
    app.include_router(watch_feed.router)
    app.include_router(trace_page.router)
    app.include_router(suggest_page.router)
    _add_error_handlers(app, ctx)
    app.middleware("http")(_security_headers)
    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    return app


async def _security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")  # searches never leak to the outlets clicked
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", CSP)
    return response


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/openapi.json"


def _add_error_handlers(app: FastAPI, ctx: WebContext) -> None:
    def error(
        request: Request, status: int, message: str, pointer: str | None = None, parameter: str | None = None
    ) -> Response:
        if _wants_json(request):
            body = {"error": message, "pointer": pointer} | ({"parameter": parameter} if parameter else {})
            return JSONResponse(body, status_code=status)
        return ctx.page(request, "error.html.j2", status_code=status, status=status, message=message, pointer=pointer)

    async def on_query_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, QueryError)
        return error(request, 400, str(exc), exc.pointer())

    async def on_bad_parameter(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ParameterError)
        return error(request, 400, str(exc), parameter=exc.parameter)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        response = error(request, exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    async def on_invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if _wants_json(request):
            return JSONResponse({"error": "invalid request", "detail": jsonable(exc)}, status_code=422)
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return error(request, 400, f"invalid request: {problems}")

    async def on_aggregator_error(request: Request, exc: Exception) -> Response:
        # Storage trouble is the server's (503: try again); anything else (an unknown topic...) is the request's.
        return error(request, 503 if isinstance(exc, StorageError) else 400, " ".join(str(exc).split()))

    app.add_exception_handler(QueryError, on_query_error)
    app.add_exception_handler(ParameterError, on_bad_parameter)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(AggregatorError, on_aggregator_error)


def jsonable(exc: RequestValidationError) -> list[dict[str, object]]:
    return [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
