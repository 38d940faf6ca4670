"""How each watch's channels are doing, for `watch list` and `status`: waiting, failing, last sent, next try."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aggregator.config.watches import WatchConfig
from aggregator.models import WatchCursor, WatchDelivery
from aggregator.watches.match import PENDING, SENT


@dataclass(frozen=True)
class ChannelHealth:
    watch_id: str
    channel: str
    pending: int
    sent: int
    last_sent_at: datetime | None
    next_attempt_at: datetime | None
    attempts: int  # the most tries of a waiting alert
    last_error: str | None
    query_error: str | None  # the watch's query could not run

    @property
    def status(self) -> str:
        if self.query_error:
            return "broken"
        if self.last_error:
            return "failing"
        return "waiting" if self.pending else "ok"


def watch_health(session: Session, watches: Sequence[WatchConfig]) -> list[ChannelHealth]:
    """One row per configured watch and channel, in file order."""
    ids = [w.id for w in watches]
    counts = session.execute(
        select(
            WatchDelivery.watch_id,
            WatchDelivery.channel,
            WatchDelivery.state,
            func.count(),
            func.max(WatchDelivery.sent_at),
            func.min(WatchDelivery.next_attempt_at),
            func.max(WatchDelivery.attempts),
        )  # fmt: skip
        .where(WatchDelivery.watch_id.in_(ids))
        .group_by(WatchDelivery.watch_id, WatchDelivery.channel, WatchDelivery.state)
    ).all()
    stats: dict[tuple[str, str, str], tuple[int, datetime | None, datetime | None, int]] = {
        (w, c, s): (int(n), last, nxt, int(tries or 0)) for w, c, s, n, last, nxt, tries in counts
    }
    errors = dict(
        session.execute(
            select(WatchDelivery.watch_id + ":" + WatchDelivery.channel, func.max(WatchDelivery.last_error))
            .where(WatchDelivery.watch_id.in_(ids), WatchDelivery.state == PENDING)
            .group_by(WatchDelivery.watch_id, WatchDelivery.channel)
        ).all()
    )
    cursors = select(WatchCursor.watch_id, WatchCursor.error).where(WatchCursor.watch_id.in_(ids))
    broken: dict[str, str | None] = {w: e for w, e in session.execute(cursors).all()}
    rows = []
    for watch in watches:
        for channel in watch.deliver:
            waiting = stats.get((watch.id, channel, PENDING), (0, None, None, 0))
            done = stats.get((watch.id, channel, SENT), (0, None, None, 0))
            rows.append(
                ChannelHealth(
                    watch.id,
                    channel,
                    pending=waiting[0],
                    sent=done[0],
                    last_sent_at=done[1],
                    next_attempt_at=waiting[2],
                    attempts=waiting[3],
                    last_error=errors.get(f"{watch.id}:{channel}"),
                    query_error=broken.get(watch.id),
                )  # fmt: skip
            )
    return rows
