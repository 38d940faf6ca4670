"""Digest benchmark: a day of 10,000 items from 200 sources grouped, summarised and rendered; clustering growth.

    python bench/digest.py [--items 10000] [--sources 200] [--sizes 1000,10000,50000]

The day is generated here: events covered by 1-15 outlets (heavy-tailed), about 30% of items syndicated
copies (same text, another headline, a credit line), the rest rewrites in English or Spanish that share the
event's names and numbers but not its sentences. Runs on one core (BLAS threads pinned to 1).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from aggregator.classify.topics import load_topics  # noqa: E402
from aggregator.config.settings import Settings  # noqa: E402
from aggregator.digest import archive  # noqa: E402
from aggregator.digest.build import Period, build_content  # noqa: E402
from aggregator.digest.render import render  # noqa: E402
from aggregator.models import Item, ItemTopic, Source  # noqa: E402
from aggregator.store.database import Database  # noqa: E402
from aggregator.stories.grouping import Doc, group  # noqa: E402
from aggregator.stories.store import assign_stories  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DAY_START = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)

CONSONANTS, VOWELS = "bcdfglmnprstvz", "aeiou"
PLACES = (
    "Nogales Tijuana Reynosa Culiacán Matamoros Juárez Laredo Sonoyta Mexicali Apatzingán Uruapan Zacatecas Fresnillo "
    "Chilpancingo Iguala Tapachula Cancún Acapulco Celaya Irapuato Colima Manzanillo Ensenada Caborca Agua Prieta"
).split()
GROUPS = ["Sinaloa Cartel", "CJNG", "Gulf Cartel", "Cárteles Unidos", "La Nueva Familia Michoacana", "Los Zetas"]
DRUGS = ["fentanyl", "methamphetamine", "cocaine", "heroin"]
EN = [
    "{agency} officers seized {n} pounds of {drug} at the {place} port of entry on {weekday}.",
    "Prosecutors said {person} worked for the {group} and coordinated shipments through {place}.",
    "The arrest of {person} followed a {m}-month investigation by federal agents in {place}.",
    "Gunmen linked to the {group} attacked a convoy near {place}, killing {k} people.",
    "Officials in {place} said {k} suspects were detained and {m} rifles recovered.",
    "{person}, {age}, faces charges of drug trafficking and money laundering in a federal court.",
    "Analysts say the {group} has expanded its operations along the {place} corridor this year.",
    "The State Department said the designation of the {group} would allow new sanctions on its financiers.",
    "Residents of {place} reported roadblocks and burning vehicles after the operation.",
    "The driver, a {age}-year-old resident of {place}, was handed over to investigators.",
    "Investigators described the {d1} and the {d2} found at the {d3} site.",
]
ES = [
    "Agentes de {agency} aseguraron {n} libras de {drug_es} en la garita de {place} el {weekday_es}.",
    "La fiscalía señaló que {person} trabajaba para el {group} y coordinaba envíos por {place}.",
    "La detención de {person} fue resultado de una investigación de {m} meses en {place}.",
    "Hombres armados vinculados al {group} atacaron un convoy cerca de {place} y mataron a {k} personas.",
    "Autoridades de {place} informaron que {k} sospechosos fueron detenidos y {m} fusiles asegurados.",
    "{person}, de {age} años, enfrenta cargos por narcotráfico y lavado de dinero ante un juez federal.",
    "Analistas señalan que el {group} ha ampliado sus operaciones en el corredor de {place} este año.",
    "El Departamento de Estado indicó que la designación del {group} permitirá nuevas sanciones a sus financieros.",
    "Habitantes de {place} reportaron bloqueos y vehículos incendiados tras el operativo.",
    "El conductor, de {age} años y vecino de {place}, fue entregado a los investigadores.",
    "Los investigadores describieron el {d1} y el {d2} hallados en el sitio {d3}.",
]
DRUG_ES = {"fentanyl": "fentanilo", "methamphetamine": "metanfetamina", "cocaine": "cocaína", "heroin": "heroína"}
WEEKDAYS = [("Monday", "lunes"), ("Tuesday", "martes"), ("Wednesday", "miércoles"), ("Thursday", "jueves")]
TOPICS = ["cartels", "terrorism", "border_security"]


@dataclass
class GenItem:
    story: int
    source: int
    title: str
    text: str
    language: str
    seen: datetime


def _word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(parts))


# Surnames and the details that make one event unlike another (a warehouse, a brand of truck, a named
# operation): drawn from large pools, as real news draws from a large world.
_POOL = random.Random(99)
FIRST = sorted({_word(_POOL, 3).title() for _ in range(300)})
LAST = sorted({_word(_POOL, 3).title() for _ in range(4000)})
DETAILS = sorted({_word(_POOL, 4) for _ in range(20000)})


def _event(rng: random.Random) -> dict[str, object]:
    weekday = rng.choice(WEEKDAYS)
    drug = rng.choice(DRUGS)
    details = rng.sample(DETAILS, 12)
    return {
        "details": details,
        "d1": details[0],
        "d2": details[1],
        "d3": details[2],
        "agency": rng.choice(["CBP", "DEA", "HSI", "the Army", "the Navy"]),
        "n": f"{rng.randint(20, 4000):,}",
        "drug": drug,
        "drug_es": DRUG_ES[drug],
        "place": rng.choice(PLACES),
        "weekday": weekday[0],
        "weekday_es": weekday[1],
        "person": f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(LAST)}",
        "group": rng.choice(GROUPS),
        "m": rng.randint(2, 30),
        "k": rng.randint(2, 19),
        "age": rng.randint(19, 70),
        "templates": [len(EN) - 1, *rng.sample(range(len(EN) - 1), 5)],
    }


def _text(event: dict[str, object], language: str, rng: random.Random, keep: float) -> str:
    templates = EN if language == "en" else ES
    chosen = [i for i in event["templates"] if rng.random() < keep] or list(event["templates"])[:2]  # type: ignore[attr-defined]
    rng.shuffle(chosen)
    sentences = [templates[i].format(**event) for i in chosen]  # type: ignore[arg-type]
    # Specifics of the event (objects, names, places of the case) that any report of it repeats in part.
    details = [d for d in event["details"] if rng.random() < keep]  # type: ignore[attr-defined]
    for start in range(0, len(details), 4):
        words = details[start : start + 4]
        sentences.append(
            ("Reports also mention " if language == "en" else "Los reportes mencionan ") + ", ".join(words) + "."
        )
    return " ".join(sentences)


def generate_day(n_items: int, n_sources: int, seed: int = 7) -> list[GenItem]:
    """Items of one day, grouped by event, with copies, rewrites and the other language's versions."""
    rng = random.Random(seed)
    items: list[GenItem] = []
    story = 0
    while len(items) < n_items:
        event = _event(rng)
        size = min(15, max(1, int(rng.paretovariate(1.3))))
        outlets = rng.sample(range(n_sources), size)
        start = DAY_START + timedelta(minutes=rng.randint(0, 23 * 60))
        base_lang = "en" if rng.random() < 0.55 else "es"
        base = _text(event, base_lang, rng, keep=1.0)
        title = f"{event['group']} case in {event['place']}: {event['person']}, {event['d1']}"
        for rank, outlet in enumerate(outlets):
            seen = start + timedelta(minutes=rng.randint(0, 600) * (rank > 0))
            if rank > 0 and rng.random() < 0.45:  # syndicated copy: ~30% of all items
                text = base + (" This article first appeared on a partner site." if rng.random() < 0.5 else "")
                items.append(GenItem(story, outlet, "Wire: " + title, text, base_lang, seen))
            else:
                language = base_lang if rank == 0 or rng.random() < 0.7 else ("es" if base_lang == "en" else "en")
                text = base if rank == 0 else _text(event, language, rng, keep=0.7)
                items.append(GenItem(story, outlet, f"{title} [{language}]", text, language, seen))
        story += 1
    return items[:n_items]


def load(db: Database, day: list[GenItem], n_sources: int) -> None:
    tiers = ["news"] * 6 + ["research", "government", "blog"]
    with db.session() as session:
        session.execute(
            insert(Source),
            [
                {"id": f"src{i}", "name": f"Outlet {i}", "kind": "feed", "url": f"https://o{i}.example/feed",
                 "language": "en", "tier": tiers[i % len(tiers)]}
                for i in range(n_sources)
            ],
        )  # fmt: skip
        rows = [
            {"source_id": f"src{it.source}", "guid": f"g{n}", "url": f"https://o{it.source}.example/{n}",
             "url_key": f"o{it.source}.example/{n}", "content_hash": f"h{n}", "title": it.title, "summary": "",
             "summary_text": it.text[:300], "text": it.text, "authors": "", "language": it.language,
             "published_at": it.seen, "first_seen_at": it.seen, "fetched_at": it.seen, "raw": {},
             "fulltext_state": "none", "fulltext_attempts": 0}
            for n, it in enumerate(day)
        ]  # fmt: skip
        session.execute(insert(Item), rows)
    with db.session() as session:
        rng = random.Random(3)
        ids = [r[0] for r in session.execute(Item.__table__.select().with_only_columns(Item.id).order_by(Item.id))]
        tags = []
        topic_of_story: dict[int, list[str]] = {}
        for item_id, it in zip(ids, day, strict=True):
            topics = topic_of_story.setdefault(it.story, rng.sample(TOPICS, rng.choice([1, 1, 1, 2])))
            for topic in topics:
                tags.append({"item_id": item_id, "topic": topic, "score": round(rng.uniform(0.5, 1.0), 3),
                             "passed": True, "method": "rules", "explanation": {}, "classified_at": it.seen,
                             "classifier": "bench"})  # fmt: skip
        session.execute(insert(ItemTopic), tags)


def pair_scores(keys: list[object], truth: list[int], sample: int = 3000) -> tuple[float, float]:
    """Pairwise precision/recall of same-story pairs over a random sample of items."""
    rng = random.Random(1)
    idx = rng.sample(range(len(keys)), min(sample, len(keys)))
    tp = fp = fn = 0
    for a, b in itertools.combinations(idx, 2):
        same_p, same_t = keys[a] == keys[b], truth[a] == truth[b]
        tp += same_p and same_t
        fp += same_p and not same_t
        fn += same_t and not same_p
    return tp / max(1, tp + fp), tp / max(1, tp + fn)


def docs_of(day: list[GenItem]) -> list[Doc]:
    return [Doc(n, it.title, it.text, it.language, f"src{it.source}", it.seen) for n, it in enumerate(day)]


def brute_force(docs: list[Doc]) -> float:
    """Baseline: every pair compared (dense cosine over the same stems, no frequency cap)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    from aggregator.stories.grouping import doc_tokens

    start = time.perf_counter()
    x = TfidfVectorizer(analyzer=doc_tokens, sublinear_tf=True).fit_transform(docs)
    cosine_similarity(x, dense_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--sources", type=int, default=200)
    parser.add_argument("--sizes", default="1000,10000,50000")
    args = parser.parse_args()

    day = generate_day(args.items, args.sources)
    stories = len({it.story for it in day})
    copies = sum(it.title.startswith("Wire: ") for it in day)
    print(f"day: {len(day)} items, {stories} events, {copies / len(day):.0%} syndicated copies, {args.sources} sources")
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.sqlite")
        load(db, day, args.sources)
        settings = Settings(timezone="America/Mexico_City", data_dir=tmp)
        settings.config_dir = REPO / "config"
        topics = load_topics(REPO / "config")
        cpu0, t0 = time.process_time(), time.perf_counter()
        with db.session() as session:
            report = assign_stories(session, now=DAY_START + timedelta(days=1), window=timedelta(hours=72))
        t1 = time.perf_counter()
        with db.session() as session:
            period = Period(date(2026, 11, 25), DAY_START, DAY_START + timedelta(days=1))
            content = build_content(session, period, topics, archive.options(settings), built_at=DAY_START)
            t2 = time.perf_counter()
            everything = build_content(
                session, period, topics, archive.options(settings, per_section=0), built_at=DAY_START
            )
            t3 = time.perf_counter()
        pages = {fmt: render(content, fmt) for fmt in ("html", "txt", "md", "json")}
        t4 = time.perf_counter()
        cpu = time.process_time() - cpu0
        db.close()
    print(f"clustering (load from SQLite, group, write story ids): {t1 - t0:6.2f} s  "
          f"-> {report.created} stories, {report.joined} joins")  # fmt: skip
    print(f"summarise + rank (default digest, {content['counts']['shown']} stories shown): {t2 - t1:6.2f} s")
    print(f"summarise + rank (every story, {everything['counts']['shown']} stories):      {t3 - t2:6.2f} s")
    print(f"render html, txt, md, json ({sum(len(p) for p in pages.values()) // 1024} KB):          {t4 - t3:6.2f} s")
    total = (t2 - t0) + (t4 - t3)
    every = (t1 - t0) + (t3 - t2) + (t4 - t3)
    print(f"TOTAL digest of {len(day)} items (cluster + summarise + render): {total:.2f} s; with every story "
          f"summarised: {every:.2f} s (target < 10 s); CPU {cpu:.2f} s for all of the above")  # fmt: skip

    print("\nclustering growth (in memory, same generator):")
    base_n, base_t = None, None
    for n in [int(s) for s in args.sizes.split(",")]:
        sample = generate_day(n, max(args.sources, n // 50), seed=11)
        docs = docs_of(sample)
        start = time.perf_counter()
        keys = group(docs, timedelta(hours=72)).keys
        took = time.perf_counter() - start
        precision, recall = pair_scores(keys, [it.story for it in sample])
        growth = ""
        if base_n is not None and base_t:
            growth = f"  x{took / base_t:.1f} time for x{n / base_n:.0f} items"
        base_n, base_t = (n, took) if base_n is None else (base_n, base_t)
        print(f"  {n:>6} items: {took:6.2f} s  ({took / n * 1e6:5.0f} us/item)  "
              f"pairwise P {precision:.2f} R {recall:.2f}{growth}")  # fmt: skip
    for n in (1000, 5000):
        docs = docs_of(generate_day(n, args.sources, seed=11))
        took = brute_force(docs)
        print(f"  baseline all-pairs cosine, {n:>5} items: {took:6.2f} s ({took / n * 1e6:5.0f} us/item)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
