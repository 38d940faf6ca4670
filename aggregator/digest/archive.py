"""Keep digests: build each period once, write every format and the Atom feeds, mail it once."""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aggregator.classify.topics import TopicSet
from aggregator.config.settings import Settings
from aggregator.crawl.health import source_health
from aggregator.digest.atom import digests_feed, section_feed
from aggregator.digest.build import DigestOptions, Period, build_content, latest_closed_date, plan_period
from aggregator.digest.mail import build_message, send_message
from aggregator.digest.render import FORMATS, render
from aggregator.errors import AggregatorError, OutputError
from aggregator.models import Digest
from aggregator.store.digests import digest_on, newest_digests
from aggregator.stories.store import StoryReport, assign_stories


def options(settings: Settings, *, include_untagged: bool = False, per_section: int | None = None) -> DigestOptions:
    d = settings.digest
    return DigestOptions(
        zone=settings.zone,
        cutoff=d.cutoff,
        languages=tuple(d.languages),
        per_section=d.per_section if per_section is None else per_section,
        summary_sentences=d.summary_sentences,
        include_untagged=include_untagged,
    )


def newest_closed_date(session: Session, settings: Settings, now: datetime) -> date:
    """The newest local date whose digest has closed: by the clock, or a newer one in the archive (an archived
    digest is closed, and the demo closes its own at once)."""
    by_clock = latest_closed_date(now, options(settings))
    newest = newest_digests(session, 1)
    return max(by_clock, date.fromisoformat(newest[0].local_date)) if newest else by_clock


def group_new_items(session: Session, settings: Settings, *, now: datetime) -> StoryReport:
    return assign_stories(session, now=now, window=timedelta(seconds=settings.digest.story_window))


def _flagged_sources(session: Session, settings: Settings, now: datetime) -> list[dict[str, str]]:
    """Sources a maintainer should look at, for the digest's footer."""
    flagged = []
    for health in source_health(session, now=now, stale_after=settings.stale_after):
        if health.status == "failing":
            detail = f"{health.error_streak} failed fetch(es) in a row: {health.last_error or 'unknown error'}"
        elif health.status == "stale":
            detail = f"no new items for {settings.stale_after.days} days"
        elif health.status == "warning" and health.warning:
            detail = health.warning
        else:
            continue
        flagged.append({"id": health.source_id, "name": health.name, "status": health.status, "detail": detail})
    return flagged


@dataclass
class Built:
    digest: Digest
    created: bool  # False when the archive already held this period


def build(
    session: Session,
    settings: Settings,
    topics: TopicSet,
    local_date: date,
    *,
    now: datetime,
    rebuild: bool = False,
    end: datetime | None = None,
) -> Built:
    """The digest of `local_date`: the archived one, or built now and archived. Never two for one date."""
    opts = options(settings)
    period = plan_period(session, local_date, opts, now=now, end=end)
    stored = digest_on(session, local_date.isoformat())
    if stored is not None and not rebuild:
        return Built(stored, created=False)
    content = build_content(session, period, topics, opts, built_at=now)
    content["flagged_sources"] = _flagged_sources(session, settings, now)
    if stored is None:
        stored = Digest(
            local_date=local_date.isoformat(),
            timezone=opts.zone.key,
            period_start=period.start,
            period_end=period.end,
            message_id=f"<digest-{local_date.isoformat()}.{socket.gethostname() or 'localhost'}@beat-aggregator>",
            sent_at=None,
        )
        session.add(stored)
    stored.built_at = now
    stored.content = content
    stored.story_count = content["counts"]["shown"]
    stored.item_count = content["counts"]["new_items"]
    session.flush()
    return Built(stored, created=True)


def preview(
    session: Session, settings: Settings, topics: TopicSet, *, now: datetime, everything: bool
) -> dict[str, Any]:
    """What the next digest holds so far (from the end of the last one to now); nothing is stored."""
    opts = options(settings, include_untagged=everything, per_section=0 if everything else None)
    start = session.scalar(select(func.max(Digest.period_end))) or now - timedelta(days=1)
    period = Period(now.astimezone(opts.zone).date(), start, now)
    content = build_content(session, period, topics, opts, built_at=now)
    content["preview"] = True
    content["see_all"] = "aggregator digest --preview --all --format txt"  # this period is not archived yet
    content["flagged_sources"] = _flagged_sources(session, settings, now)
    return content


def everything_for(
    session: Session, settings: Settings, topics: TopicSet, local_date: date, *, now: datetime
) -> dict[str, Any]:
    """The period of `local_date` with every story, tagged or not, no section limit (not archived)."""
    opts = options(settings, include_untagged=True, per_section=0)
    period = plan_period(session, local_date, opts, now=now)
    return build_content(session, period, topics, opts, built_at=now)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that a reader never sees half of it, and a full disk leaves the old one in place."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise OutputError(f"digest: cannot write {path}: {exc.strerror or exc}") from exc


def write_outputs(session: Session, settings: Settings, content: dict[str, Any]) -> dict[str, Path]:
    """Every format of one digest into the output directory, and the Atom feeds of the archive."""
    out_dir = settings.digest_dir
    title = settings.digest.title
    written = {}
    for fmt in FORMATS:
        path = out_dir / f"digest-{content['date']}.{fmt}"
        write_atomic(path, render(content, fmt, title=title).encode("utf-8"))
        written[fmt] = path
    written.update(write_feeds(session, settings))
    return written


def write_feeds(session: Session, settings: Settings) -> dict[str, Path]:
    limit = settings.digest.feed_entries
    contents = [row.content for row in newest_digests(session, limit) if row.content]
    title = settings.digest.title
    out_dir = settings.digest_dir
    written = {"atom": out_dir / "digests.atom"}
    write_atomic(written["atom"], digests_feed(contents, title=title, self_name="digests.atom"))
    section_ids = {s["id"] for c in contents for s in c["sections"]}
    for section_id in sorted(section_ids):
        name = f"digests-{section_id}.atom"
        written[f"atom:{section_id}"] = out_dir / name
        write_atomic(out_dir / name, section_feed(contents, section_id, title=title, self_name=name, limit=limit))
    return written


def load(session: Session, local_date: str) -> Digest:
    row = digest_on(session, local_date)
    if row is None:
        raise AggregatorError(f"digest: no digest for {local_date} in the archive")
    return row


def send(session: Session, settings: Settings, digest: Digest, *, now: datetime, force: bool = False) -> bool:
    """Mail the digest unless it was mailed before (or `force`); records when and to whom."""
    if digest.sent_at is not None and not force:
        return False
    content = digest.content
    title = settings.digest.title
    subject = f"{title} — {content['date']}: {content['counts']['shown']} stories"
    message = build_message(
        settings.mail,
        subject,
        render(content, "txt", title=title),
        render(content, "html", title=title),
        date=now,
        message_id=digest.message_id,
    )
    send_message(settings.mail, message)
    digest.sent_at = now
    digest.sent_to = ", ".join(settings.mail.recipients)
    session.flush()
    return True
