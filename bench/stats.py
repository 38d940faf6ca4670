"""Volume benchmark: `stats.volume` over N generated items (1,000,000 by default), against a bare scan of their dates.

    python bench/stats.py [--items 1000000] [--db URL]

Builds the collection in a temporary SQLite file (or in the empty database at --db, e.g. a PostgreSQL one:
it is filled, not cleared), then times volume() without a query, per topic, source and language, with a
common word, a rare phrase and a topic filter, and a month window. The baseline, measured in the same run, is
reading every item's date (`coalesce(published_at, first_seen_at)`) into Python without counting anything.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select  # noqa: E402

from aggregator.models import Item, ItemTopic, Source  # noqa: E402
from aggregator.search.sql import ITEM_DATE  # noqa: E402
from aggregator.search.stats import volume  # noqa: E402
from aggregator.store.database import Database  # noqa: E402

WORDS = (
    "cartel sinaloa frontera border fentanyl terror hezbollah jalisco extradition police army mayor said the of a "
    "convoy governor report ministry ports customs seizure laboratory precursor shipment"
).split()
TOPICS = ("cartels", "terrorism", "border_security", "nexus")
LANGUAGES = ("en", "es", "es-MX", None)
START = datetime(2025, 1, 1, tzinfo=UTC)
BATCH = 10_000


def build(db: Database, n_items: int, seed: int = 7) -> None:
    """Items spread over two years from 30 sources; 80% dated by publication, 40% tagged with one topic."""
    rng = random.Random(seed)
    with db.session() as session:
        for i in range(30):
            session.add(Source(id=f"s{i}", name=f"S{i}", kind="feed", url=f"https://s{i}.example/", language="en",
                               tier="news"))  # fmt: skip
    for first in range(0, n_items, BATCH):
        items, tags = [], []
        for n in range(first + 1, min(n_items, first + BATCH) + 1):
            seen = START + timedelta(seconds=rng.randrange(2 * 365 * 86400))
            text = " ".join(rng.choice(WORDS) for _ in range(60))
            items.append({
                "id": n, "source_id": f"s{rng.randrange(30)}", "guid": str(n), "url": f"https://x.example/{n}",
                "url_key": str(n), "content_hash": str(n), "title": " ".join(rng.choice(WORDS) for _ in range(8)),
                "summary": "", "summary_text": text[:200], "text": text, "authors": "",
                "language": rng.choice(LANGUAGES), "published_at": seen if rng.random() < 0.8 else None,
                "first_seen_at": seen, "fetched_at": seen, "fulltext_state": "none", "fulltext_attempts": 0, "raw": {},
            })  # fmt: skip
            if rng.random() < 0.4:
                tags.append({"item_id": n, "topic": rng.choice(TOPICS), "score": 0.7, "passed": True, "method": "rules",
                             "explanation": {}, "classified_at": seen, "classifier": "bench"})  # fmt: skip
        with db.session() as session:
            session.execute(insert(Item), items)
            if tags:
                session.execute(insert(ItemTopic), tags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--db", help="an empty database to fill (default: a temporary SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(args.db or f"sqlite:///{tmp}/bench.sqlite")
        t0 = time.perf_counter()
        build(db, args.items)
        print(f"built {args.items:,} items on {db.dialect} in {time.perf_counter() - t0:.0f} s")
        zone = ZoneInfo("America/Mexico_City")
        with db.session() as session:
            t0 = time.perf_counter()
            for _ in session.execute(select(ITEM_DATE)).yield_per(50_000):
                pass
            baseline = time.perf_counter() - t0
        print(f"baseline: read every item's date into Python   {baseline:6.2f} s")
        cases = [
            (None, "day", None, None), (None, "week", "topic", None), (None, "month", "source", None),
            (None, "day", "lang", None), ("cartel", "day", None, None), ('"hezbollah sinaloa"', "week", "topic", None),
            ("topic:cartels", "month", None, None), (None, "day", "topic", (date(2026, 6, 1), date(2026, 6, 30))),
        ]  # fmt: skip
        for query, by, per, window in cases:
            with db.session() as session:
                t0 = time.perf_counter()
                found = volume(session, query, by=by, per=per, zone=zone, since=window[0] if window else None,
                               until=window[1] if window else None)  # fmt: skip
                took = time.perf_counter() - t0
            counted = sum(sum(counts) for counts in found.series.values())
            label = f"{query or '(all)'} by {by}" + (f" per {per}" if per else "") + (" in June 2026" if window else "")
            print(f"{label:<45} {took:6.2f} s  ({took / baseline:4.1f}x baseline)  {len(found.periods):>4} periods, "
                  f"{counted:,} counted")  # fmt: skip
        db.close()
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
