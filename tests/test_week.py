"""A week of scheduler time on a fake clock: each source polled at its own pace, one digest a day, no gaps.

The clock and the network are simulated (a week of real time cannot be waited for); everything else is the real
thing: polling state in the database, `record_fetch`, story grouping and the digest archive.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from aggregator.config.settings import DigestSettings, Settings
from aggregator.crawl.polling import PollPolicy
from aggregator.crawl.state import ERROR, OK, UNCHANGED, FetchReport, due_source_ids, record_fetch
from aggregator.digest import archive
from aggregator.digest.build import closing_time, latest_closed_date
from aggregator.models import Digest, Item, Source
from aggregator.parse.entry import Entry
from aggregator.store.database import Database
from aggregator.stories.store import assign_stories
from tests.digestdata import REPO, add_source, topics, utc

START = utc(2026, 3, 2, 0, 0)  # a Monday; the week crosses the US DST change of 8 March in New York
STEP = timedelta(minutes=5)


def publishes(source_id: str, start: datetime, end: datetime) -> list[datetime]:
    """When each simulated source publishes, in (start, end]."""
    times = []
    t = START
    gap = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "every6h": timedelta(hours=6)}.get(source_id)
    while gap and t <= end:
        if start < t <= end:
            times.append(t)
        t += gap
    return times


def test_a_week_of_scheduler_time(tmp_path: Path) -> None:
    settings = Settings(timezone="America/New_York", data_dir=str(tmp_path), digest=DigestSettings(time="07:00"))
    settings.config_dir = REPO / "config"
    policy = PollPolicy(default=1800, minimum=300, maximum=86400)
    db = Database(f"sqlite:///{tmp_path}/week.sqlite")
    ids = ["hourly", "every6h", "daily", "silent", "broken"]
    with db.session() as session:
        for sid in ids:
            add_source(session, sid)
    rng = random.Random(5)
    polls: dict[str, list[datetime]] = {sid: [] for sid in ids}
    last_fetch: dict[str, datetime] = {}
    published = 0
    now = START
    end = START + timedelta(days=7)
    while now < end:
        with db.session() as session:
            for sid in due_source_ids(session, now):
                polls[sid].append(now)
                if sid == "broken":
                    report = FetchReport(sid, f"https://{sid}.example/feed", now, ERROR, error="fetch: HTTP 503")
                else:
                    fresh = publishes(sid, last_fetch.get(sid, START - timedelta(seconds=1)), now)
                    published += len(fresh)
                    entries = [
                        Entry(source_id=sid, url=f"https://{sid}.example/{t:%Y%m%d%H%M}", title=f"{sid} {t:%d %H:%M}",
                              guid=f"{sid}-{t:%Y%m%d%H%M}", text=f"Report {sid} zq{t:%d%H%M}x", published_at=t)
                        for t in fresh
                    ]  # fmt: skip
                    report = FetchReport(sid, f"https://{sid}.example/feed", now, OK if fresh else UNCHANGED,
                                         http_status=200, entries=entries)  # fmt: skip
                record_fetch(session, report, crawl_id=f"c{now:%d%H%M}", policy=policy, now=now, rng=rng)
                last_fetch[sid] = now
        with db.session() as session:
            # What the digest job does at each tick: build the newest closed digest if the archive lacks it.
            day = latest_closed_date(now, archive.options(settings))
            if (
                closing_time(day, archive.options(settings)) > START
                and session.scalar(select(func.count()).select_from(Digest).where(Digest.local_date == day.isoformat()))
                == 0
            ):
                assign_stories(session, now=now, window=timedelta(hours=72))
                archive.build(session, settings, topics(), day, now=now)
        now += STEP

    gaps = {sid: _median_gap(times) for sid, times in polls.items()}
    print({sid: (len(times), f"{gaps[sid] / 60:.0f} min") for sid, times in polls.items()})
    # Each source at its own pace: the busier the source, the more often it is polled; within the bounds.
    assert len(polls["hourly"]) > len(polls["every6h"]) > len(polls["daily"]) >= len(polls["silent"])
    assert 0.4 * 3600 <= gaps["hourly"] <= 1.2 * 3600  # about twice per expected item
    assert gaps["silent"] >= 0.8 * 86400 and len(polls["silent"]) <= 10  # nothing to read: about daily
    assert len(polls["broken"]) <= 15 and gaps["broken"] >= 0.8 * 86400  # backed off to the maximum
    for times in polls.values():  # never faster than the minimum interval
        assert all(b - a >= timedelta(seconds=policy.minimum * 0.85) for a, b in zip(times, times[1:], strict=False))

    with db.session() as session:
        digests = session.scalars(select(Digest).order_by(Digest.period_end)).all()
        stored = session.scalar(select(func.count()).select_from(Item))
        first_seen = [t for (t,) in session.execute(select(Item.first_seen_at))]
        broken = session.get(Source, "broken")
        assert broken is not None and broken.error_count == len(polls["broken"])
    assert stored == published
    assert len(digests) == 7 and len({d.local_date for d in digests}) == 7  # one a day, none twice
    for previous, current in zip(digests, digests[1:], strict=False):
        assert current.period_start == previous.period_end  # no gap, no overlap
    lengths = sorted({(d.period_end - d.period_start).total_seconds() / 3600 for d in digests[1:]})
    assert lengths == [23.0, 24.0]  # the DST night is an hour shorter
    covered = [t for t in first_seen if digests[0].period_start <= t < digests[-1].period_end]
    assert sum(d.item_count for d in digests) == len(covered)  # every item in exactly one digest
    db.close()


def _median_gap(times: list[datetime]) -> float:
    gaps = sorted((b - a).total_seconds() for a, b in zip(times, times[1:], strict=False))
    return gaps[len(gaps) // 2] if gaps else float("inf")


def test_silent_sources_are_flagged_after_the_configured_time(tmp_path: Path) -> None:
    from aggregator.crawl.health import source_health

    db = Database(f"sqlite:///{tmp_path}/h.sqlite")
    now = utc(2026, 5, 1)
    with db.session() as session:
        for sid, days in (("fresh", 1), ("quiet", 3)):
            add_source(session, sid)
            row = session.get(Source, sid)
            assert row is not None
            row.last_success_at, row.last_new_item_at = now, now - timedelta(days=days)
        session.flush()
        default = {h.source_id: h.status for h in source_health(session, now)}
        strict = {h.source_id: h.status for h in source_health(session, now, stale_after=timedelta(days=2))}
    assert default == {"fresh": "ok", "quiet": "ok"}
    assert strict == {"fresh": "ok", "quiet": "stale"}
    db.close()
