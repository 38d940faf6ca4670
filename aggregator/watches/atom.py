"""The Atom channel: a feed per watch, DATA_DIR/watches/ID.atom, rebuilt from the delivery log on each batch."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.config.watches import WatchConfig
from aggregator.digest.atom import TAG_BASE, _el, _feed
from aggregator.errors import OutputError
from aggregator.models import WatchDelivery
from aggregator.watches.alerts import Alert, load_alerts

CHANNEL = "atom"


def feed_path(data_path: Path, watch_id: str) -> Path:
    return data_path / "watches" / f"{watch_id}.atom"


def _stamp(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def feed_bytes(watch: WatchConfig, entries: Sequence[tuple[Alert, datetime]], zone: tzinfo) -> bytes:
    """The feed, newest alert first; `entries` pairs each alert with when it was delivered. lxml escapes all text."""
    updated = max((sent for _, sent in entries), default=datetime(1970, 1, 1, tzinfo=UTC))
    root = _feed(f"watch:{watch.id}", f"Watch {watch.id}: {watch.query}", _stamp(updated), f"{watch.id}.atom")
    for alert, sent in entries:
        entry = _el(root, "entry")
        _el(entry, "id", f"{TAG_BASE}watch:{watch.id}:item:{alert.item_id}")
        _el(entry, "title", alert.title or alert.url)
        _el(entry, "updated", _stamp(sent))
        _el(entry, "published", _stamp(alert.when))
        _el(_el(entry, "author"), "name", alert.outlet)
        if alert.url.startswith(("http://", "https://")):
            _el(entry, "link", rel="alternate", href=alert.url)
        for topic in sorted(alert.topics):
            _el(entry, "category", term=topic)
        local = alert.when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        _el(entry, "summary", f"{alert.outlet}, {local}")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def write_feed(
    session: Session, data_path: Path, watch: WatchConfig, batch: Sequence[Alert], *, now: datetime, zone: tzinfo,
    keep: int,
) -> Path:  # fmt: skip
    """Write the watch's feed: `batch` (being delivered now) and the newest alerts it delivered before."""
    rows = session.execute(
        select(WatchDelivery.item_id, WatchDelivery.sent_at)
        .where(WatchDelivery.watch_id == watch.id, WatchDelivery.channel == CHANNEL, WatchDelivery.state == "sent")
        .order_by(WatchDelivery.sent_at.desc(), WatchDelivery.id.desc())
        .limit(keep)
    ).all()
    fresh = {a.item_id for a in batch}
    sent_at = {item_id: sent for item_id, sent in rows if item_id not in fresh and sent is not None}
    earlier = load_alerts(session, list(sent_at))
    entries = [(a, now) for a in reversed(batch)] + [(a, sent_at[a.item_id]) for a in earlier]
    path = feed_path(data_path, watch.id)
    _write_atomic(path, feed_bytes(watch, entries[:keep], zone))
    return path


def _write_atomic(path: Path, data: bytes) -> None:
    """Readers (the web app, a feed reader) see the old feed or the new one, never half of one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except OSError as exc:
        raise OutputError(f"watch: cannot write {path}: {exc}") from exc
