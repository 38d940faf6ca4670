"""What every request handler shares (settings, database, topics, the guard, templates) and how it gets it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from aggregator.classify.topics import TopicSet
from aggregator.config.settings import Settings
from aggregator.store.database import Database
from aggregator.web.security import SESSION_COOKIE, Guard, LoginThrottle

# The largest id a table can hold: SQLite's rowid has 64 bits, PostgreSQL's INTEGER 32. A larger one names
# nothing, and the drivers raise on it (a 500), so it is a 404 before any query.
MAX_ID = {"sqlite": 2**63 - 1, "postgresql": 2**31 - 1}


@dataclass
class WebContext:
    settings: Settings
    db: Database
    topics: TopicSet
    guard: Guard
    templates: Jinja2Templates
    throttle: LoginThrottle

    def topic_label(self, topic_id: str) -> str:
        for topic in self.topics.topics:
            if topic.id == topic_id:
                return topic.label
        for cross in self.topics.cross_topics:
            if cross.id == topic_id:
                return cross.label
        return topic_id

    def page(self, request: Request, name: str, status_code: int = 200, **values: Any) -> Response:
        """Render a page template with what the layout needs (the session's CSRF token, the zone)."""
        csrf = self.guard.csrf_token(request.cookies.get(SESSION_COOKIE))
        context = {
            "csrf": csrf,
            "logged_in": csrf is not None,
            "feedback_enabled": self.guard.enabled,
            "zone": self.settings.timezone,
            "topic_label": self.topic_label,
            **values,
        }
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)


def web(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.web
    return ctx


def db_session(request: Request) -> Iterator[Session]:
    """One session per request, committed at its end (rolled back on error)."""
    with web(request).db.session() as session:
        yield session


# "function" scope: the transaction commits before the response leaves, so a client that follows the redirect
# after a POST (or another connection) sees what it stored.
Db = Annotated[Session, Depends(db_session, scope="function")]
Ctx = Annotated[WebContext, Depends(web)]


def path_item_id(request: Request, item_id: int) -> int:
    """The {item_id} of the path, or a 404 for one no item can have (zero, negative, beyond the column's range)."""
    if not 0 < item_id <= MAX_ID.get(web(request).db.dialect, 2**31 - 1):
        raise HTTPException(404, f"no item with id {item_id}")
    return item_id


ItemId = Annotated[int, Depends(path_item_id)]
