"""Deliver the queued alerts that are due, channel by channel; a row is marked sent in the send's transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from aggregator.config.settings import Settings
from aggregator.config.watches import WatchConfig
from aggregator.errors import AggregatorError, NotDelivered
from aggregator.models import WatchDelivery
from aggregator.store.database import Database
from aggregator.watches import atom, mail, notify, webhook
from aggregator.watches.alerts import Alert, load_alerts
from aggregator.watches.match import PENDING, SENT
from aggregator.watches.timing import quiet_until, retry_at

log = logging.getLogger(__name__)


@dataclass
class ChannelRun:
    """What one watch's channel did in one pass."""

    watch_id: str
    channel: str
    sent: int = 0
    messages: int = 0
    error: str | None = None
    held_until: datetime | None = None  # quiet hours


Send = Callable[[Session, WatchConfig, Sequence[Alert], int], None]


def _sender(settings: Settings, channel: str, now: datetime) -> Send:
    zone = settings.zone

    def by_mail(_session: Session, watch: WatchConfig, alerts: Sequence[Alert], batch: int) -> None:
        mail.send_alerts(settings.mail, watch, alerts, zone=zone, now=now, batch=batch)

    def by_webhook(_session: Session, watch: WatchConfig, alerts: Sequence[Alert], batch: int) -> None:
        body = webhook.payload(watch, alerts)
        webhook.post(watch.webhook, body, settings=settings.watches, crawl=settings.crawl, delivery=batch,
                     user_agent=settings.crawl.user_agent)  # fmt: skip

    def by_atom(session: Session, watch: WatchConfig, alerts: Sequence[Alert], _batch: int) -> None:
        atom.write_feed(session, settings.data_path, watch, alerts, now=now, zone=zone,
                        keep=settings.watches.feed_entries)  # fmt: skip

    return {"mail": by_mail, "webhook": by_webhook, "atom": by_atom}[channel]  # notify: see _send_notify


def deliver_due(db: Database, settings: Settings, watches: Sequence[WatchConfig], *, now: datetime) -> list[ChannelRun]:
    """Send what is due for every watch and channel; one failing channel is recorded and the others go on."""
    runs = []
    for watch in watches:
        held = quiet_until(watch, now, settings.zone)
        for channel in watch.deliver:
            run = ChannelRun(watch.id, channel, held_until=held)
            if held is None:
                try:
                    deliver_channel(db, settings, watch, channel, now=now, run=run)
                except Exception as exc:  # a storage fault or a bug in one channel must not stop the others
                    log.exception("watch %s: %s delivery failed", watch.id, channel)
                    run.error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            runs.append(run)
    return runs


def _group(watch: WatchConfig, channel: str) -> list[ColumnElement[bool]]:
    return [WatchDelivery.watch_id == watch.id, WatchDelivery.channel == channel, WatchDelivery.state == PENDING]


def deliver_channel(
    db: Database, settings: Settings, watch: WatchConfig, channel: str, *, now: datetime, run: ChannelRun
) -> None:
    """Send the channel's pending alerts, max_per_message at a time, once the oldest of them is due.

    Each message is its own transaction: the rows it lists are read (locked on PostgreSQL, so a second process
    skips them), sent, and marked sent in that transaction. A failure records the error and the next attempt on
    every pending row of the channel and stops there until then. Notify rows remember which URLs took them: a
    retry goes to the others only.
    """
    send = None if channel == "notify" else _sender(settings, channel, now)
    while True:
        with db.session() as session:
            group = _group(watch, channel)
            due = session.scalar(select(func.min(WatchDelivery.next_attempt_at)).where(*group))
            if due is None or due > now:
                return
            chosen = select(WatchDelivery.id, WatchDelivery.item_id, WatchDelivery.delivered_to).where(*group)
            # A feed is no message: one rewrite takes every pending alert (the feed keeps the newest feed_entries).
            size = settings.watches.feed_entries if channel == "atom" else watch.max_per_message
            chosen = chosen.order_by(WatchDelivery.id.desc() if channel == "atom" else WatchDelivery.id).limit(size)
            if db.dialect == "postgresql":
                chosen = chosen.with_for_update(skip_locked=True)
            rows = session.execute(chosen).all()
            if not rows:
                return
            ids = [row[0] for row in rows]
            alerts = load_alerts(session, sorted(row[1] for row in rows))
            if send is None:
                ids, error = _send_notify(session, settings, watch, rows, alerts, run)
                _mark_sent(session, ids, now)
                if error is None:
                    continue
                run.error = " ".join(error.split())
                _record_failure(session, watch, channel, settings, now, run.error)
                return
            try:
                if alerts:
                    send(session, watch, alerts, ids[0])
            except AggregatorError as exc:
                run.error = " ".join(str(exc).split())
                _record_failure(session, watch, channel, settings, now, run.error)
                return
            if channel == "atom":  # older pending alerts fall off the feed as they would have on their own
                ids = list(session.scalars(select(WatchDelivery.id).where(*group, WatchDelivery.id <= max(ids))))
            _mark_sent(session, ids, now)
        run.sent += len(alerts)
        run.messages += 1 if alerts else 0


def _mark_sent(session: Session, ids: Sequence[int], now: datetime) -> None:
    if ids:
        session.execute(
            update(WatchDelivery)
            .where(WatchDelivery.id.in_(ids))
            .values(state=SENT, sent_at=now, attempts=WatchDelivery.attempts + 1, last_error=None)
        )


def _send_notify(
    session: Session,
    settings: Settings,
    watch: WatchConfig,
    rows: Sequence[Any],
    alerts: Sequence[Alert],
    run: ChannelRun,
) -> tuple[list[int], str | None]:
    """Send each notify URL the alerts of `rows` it has not taken yet (one message per set of alerts), and record
    on each row the URLs that took it. Returns the rows every URL has now taken, and the error; `run` counts the
    messages and the alerts every URL has.
    """
    keys = {url: notify.target_key(url) for url in watch.notify}
    had = {item_id: set((taken or "").split()) for _, item_id, taken in rows}
    groups: dict[tuple[int, ...], list[str]] = {}  # the alerts a URL still needs -> the URLs that need just those
    for url in watch.notify:
        need = tuple(a.item_id for a in alerts if keys[url] not in had[a.item_id])
        if need:
            groups.setdefault(need, []).append(url)
    by_item = {a.item_id: a for a in alerts}
    errors, zone = [], settings.zone
    for need, urls in groups.items():
        subset = [by_item[i] for i in need]
        try:
            notify.send(urls, notify.title(watch, subset), notify.body(subset, zone), crawl=settings.crawl)
            reached = urls
        except AggregatorError as exc:
            errors.append(str(exc))
            reached = exc.reached if isinstance(exc, NotDelivered) else []
        run.messages += 1 if reached else 0
        for item_id in need:
            had[item_id].update(keys[url] for url in reached)
    everyone = set(keys.values())
    complete = {item_id for item_id, took in had.items() if item_id not in by_item or everyone <= took}
    run.sent += len(complete & by_item.keys())
    for row_id, item_id, taken in rows:  # the others keep the URLs that took them, for the retry
        now_taken = " ".join(sorted(had[item_id])) or None
        if item_id not in complete and now_taken != (taken or None):
            session.execute(update(WatchDelivery).where(WatchDelivery.id == row_id).values(delivered_to=now_taken))
    return [row_id for row_id, item_id, _ in rows if item_id in complete], "; ".join(errors) or None


def _record_failure(session: Session, watch: WatchConfig, channel: str, settings: Settings, now: datetime,
                    error: str) -> None:  # fmt: skip
    group = _group(watch, channel)
    tries = int(session.scalar(select(func.max(WatchDelivery.attempts)).where(*group)) or 0) + 1
    session.execute(
        update(WatchDelivery)
        .where(*group)
        .values(
            attempts=WatchDelivery.attempts + 1,
            next_attempt_at=retry_at(tries, now, settings.watches.retry_max),
            last_error=error[:2000],
        )
    )
