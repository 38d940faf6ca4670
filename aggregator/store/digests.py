"""Queries on the `digests` table: the archive of built digests, one per local date."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.models import Digest


def digest_on(session: Session, local_date: str) -> Digest | None:
    """The archived digest of a local date (YYYY-MM-DD), or None when none was built for it."""
    return session.scalar(select(Digest).where(Digest.local_date == local_date))


def newest_digests(session: Session, limit: int | None = None) -> list[Digest]:
    """Archived digests, newest period first; all of them, or the newest `limit`."""
    query = select(Digest).order_by(Digest.period_end.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))
