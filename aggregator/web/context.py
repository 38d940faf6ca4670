"""What every request handler shares (settings, database, topics, the guard, templates) and how it gets it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from aggregator.classify.topics import TopicSet
from aggregator.config.settings import Settings
from aggregator.models import Source
from aggregator.store.database import Database
from aggregator.web.security import SESSION_COOKIE, Guard


@dataclass
class WebContext:
    settings: Settings
    db: Database
    topics: TopicSet
    guard: Guard
    templates: Jinja2Templates

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


def source_names(session: Session) -> dict[str, str]:
    """Source id to outlet name; the sources table holds one row per configured source, so this stays small."""
    return {row.id: row.name for row in session.execute(select(Source.id, Source.name))}
