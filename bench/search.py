"""Search benchmark: generate N realistic items (1,000,000 by default) into SQLite, then time queries and export.

    python bench/search.py [--items 1000000] [--db PATH] [--runs 15]

The collection: 300 sources in English and Spanish, items over three years, topic tags, stories, beat vocabulary
with a long tail (a few words in most items, names and places in few). Prints p50/p95 latency of the first page
(20 hits) for single-word, phrase, boolean and filtered queries, the most common words sorted by date, and the
export rate with the process's memory before and after. The database is kept (--db) so reruns skip generation.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select  # noqa: E402

from aggregator.models import Item, ItemTopic, Source  # noqa: E402
from aggregator.search.export import iter_items  # noqa: E402
from aggregator.search.hits import search  # noqa: E402
from aggregator.store.database import Database  # noqa: E402

START = datetime(2023, 12, 1, tzinfo=UTC)
COMMON_EN = "cartel border police officials government security drug federal state said".split()
COMMON_ES = "cártel frontera policía autoridades gobierno seguridad droga federal estado informó".split()
BEAT_EN = (
    "fentanyl methamphetamine cocaine seizure arrested extradited indicted sanctions terrorist designation "
    "smuggling migrants checkpoint tunnel gunmen ambush convoy extortion kidnapping laundering shipment port"
).split()
BEAT_ES = (
    "fentanilo metanfetamina cocaína decomiso detenido extraditado acusado sanciones terrorista designación "
    "contrabando migrantes retén túnel sicarios emboscada convoy extorsión secuestro lavado cargamento garita"
).split()
PLACES = (
    "Sinaloa Culiacán Tijuana Nogales Reynosa Matamoros Juárez Laredo Michoacán Apatzingán Guerrero Zacatecas "
    "Chiapas Tapachula Sonora Jalisco Guadalajara Hezbollah Ecuador Colombia Honduras Guatemala Arizona Texas"
).split()
GROUPS = ["CJNG", "Sinaloa Cartel", "Gulf Cartel", "Los Zetas", "Cárteles Unidos", "La Familia Michoacana"]
TOPICS = ["cartels", "terrorism", "border_security"]
TIERS = ["news"] * 5 + ["research", "government", "blog"]


def _names(rng: random.Random, n: int) -> list[str]:
    cons, vows = "bcdfglmnprstvz", "aeiou"
    return ["".join(rng.choice(cons) + rng.choice(vows) for _ in range(rng.randint(2, 4))).title() for _ in range(n)]


def generate(db: Database, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    names = _names(rng, 50_000)  # the long tail: people and places found in few items
    with db.session() as session:
        session.execute(
            insert(Source),
            [{"id": f"s{i}", "name": f"Outlet {i}", "kind": "feed", "url": f"https://o{i}.example/feed",
              "language": "es" if i % 2 else "en", "tier": TIERS[i % len(TIERS)]} for i in range(300)],
        )  # fmt: skip
    span = 3 * 365 * 86400
    batch = 20_000
    for start in range(0, n, batch):
        items, tags = [], []
        for k in range(start, min(n, start + batch)):
            es = k % 2 == 1
            common, beat = (COMMON_ES, BEAT_ES) if es else (COMMON_EN, BEAT_EN)
            words = (
                rng.sample(common, 6) + rng.sample(beat, 4) + rng.sample(PLACES, 2)
                + [rng.choice(GROUPS)] + rng.sample(names, 3)
            )  # fmt: skip
            rng.shuffle(words)
            title = " ".join(words[:8]).capitalize()
            text = ". ".join(" ".join(rng.sample(words, 8)) for _ in range(8)) + "."
            when = START + timedelta(seconds=k * span // n + rng.randint(0, 3600))
            items.append(
                {"source_id": f"s{k % 300}", "guid": f"g{k}", "url": f"https://o{k % 300}.example/{k}",
                 "url_key": f"o{k % 300}.example/{k}", "content_hash": f"h{k}", "title": title, "summary": "",
                 "summary_text": text[:280], "text": text, "authors": "", "language": "es" if es else "en",
                 "published_at": when, "first_seen_at": when, "fetched_at": when, "raw": {},
                 "fulltext_state": "none", "fulltext_attempts": 0, "story_id": None}
            )  # fmt: skip
            for topic in rng.sample(TOPICS, rng.choice([0, 1, 1, 2])):
                score = round(rng.uniform(0.5, 1), 3)
                tags.append({"item_id": k + 1, "topic": topic, "score": score, "passed": True, "method": "rules",
                             "explanation": {}, "classified_at": when, "classifier": "bench"})  # fmt: skip
        with db.session() as session:
            session.execute(insert(Item), items)
            session.execute(insert(ItemTopic), tags)
        print(f"\r  generated {min(n, start + batch):,} items", end="", flush=True)
    print()


def queries() -> dict[str, list[str]]:
    """Query mixes by kind. Names are the generator's long tail (each in about 60 items): the selective ones."""
    names = [n.lower() for n in _names(random.Random(1), 50_000)]  # the same draw as generate()
    rare = [names[i] for i in (101, 2_002, 17_003, 33_004, 48_005)]
    return {
        "selective: one rare word": rare[:4],
        "selective: rare OR rare": [f"{rare[0]} OR {rare[1]}", f"{rare[2]} OR {rare[3]} OR {rare[4]}"],
        "selective: word + filters": [
            f"{rare[0]} lang:en",
            f"{rare[1]} topic:cartels",
            f"{rare[2]} since:2025-01-01",
            f"{rare[3]} -fentanyl",
        ],  # fmt: skip
        "broad: place word (8%)": ["hezbollah", "tapachula", "honduras"],
        "broad: phrase": ['"sinaloa cartel"', '"gulf cartel"', '"los zetas"'],
        "broad: boolean": ["fentanyl AND (nogales OR tijuana) -cocaine", "(cjng OR zetas) AND extradited"],
        "broad: filtered": [
            "fentanyl topic:border_security lang:en since:2025-01-01",
            "sicarios tier:research",
            "cartel source:s17 until:2024-06-30",
            "terrorist topic:terrorism score>=0.9",
        ],  # fmt: skip
    }


COMMON = ["cartel", "federal", "seguridad"]


def timed(db: Database, query: str, sort: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        with db.session() as session:
            start = time.perf_counter()
            search(session, query, sort=sort, limit=20)  # type: ignore[arg-type]
            out.append((time.perf_counter() - start) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--db", default="/tmp/bench-search.sqlite")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    path = Path(args.db)
    db = Database(f"sqlite:///{path}")
    with db.session() as session:
        have = session.scalar(select(Item.id).order_by(Item.id.desc()).limit(1)) or 0
    if have != args.items:
        db.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        db = Database(f"sqlite:///{path}")
        started = time.perf_counter()
        generate(db, args.items)
        print(f"generated and indexed {args.items:,} items in {time.perf_counter() - started:.0f} s")
    print(f"collection: {args.items:,} items in {path} ({path.stat().st_size / 2**20:,.0f} MB)")
    print(f"{'kind':<30} {'sort':<10} {'p50 ms':>8} {'p95 ms':>8}  (first page of 20; {args.runs} runs per query)")
    for kind, mix in queries().items():
        for sort in ("relevance", "date"):
            values = [v for q in mix for v in timed(db, q, sort, args.runs)]
            print(f"{kind:<30} {sort:<10} {pct(values, 50):8.1f} {pct(values, 95):8.1f}")
    for sort in ("date", "relevance"):
        values = [v for q in COMMON for v in timed(db, q, sort, args.runs)]
        print(f"{'most common words (90%+)':<30} {sort:<10} {pct(values, 50):8.1f} {pct(values, 95):8.1f}")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for label, query in (("every item", None), ("query 'cartel OR cártel'", "cartel OR cártel")):
        start, count = time.perf_counter(), 0
        with db.session() as session:
            for _row in iter_items(session, query=query):
                count += 1
        took = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"export {label}: {count:,} items in {took:.1f} s = {count / took:,.0f} items/s; peak RSS {rss:.0f} MB "
              f"(before exports {rss0:.0f} MB)")  # fmt: skip
    db.close()


if __name__ == "__main__":
    main()
