"""Topic commands end to end: the crawl tags items, label / train / tag / explain / evaluate work and fail clearly."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import text

from aggregator.store.database import Database
from tests import feedgen
from tests.crawling import source
from tests.httpserver import Reply, TestServer
from tests.test_cli import agg

REPO = Path(__file__).resolve().parents[1]
ITEMS = [
    (
        "CJNG gunmen ambush state police convoy in Jalisco",
        "Suspected Cartel Jalisco Nueva Generación sicarios "
        "opened fire on a police convoy near Tlajomulco, killing four officers.",
        {"cartels"},
    ),
    (
        "Detienen a operador financiero del Cártel del Golfo en Matamoros",
        "La Fiscalía informó que el detenido "
        "administraba el cobro de piso y el lavado de dinero de la organización criminal.",
        {"cartels"},
    ),
    (
        "Suicide bomber kills 12 at market; Islamic State claims attack",
        "The jihadist group said one of its fighters detonated an explosive vest in the crowded market.",
        {"terrorism"},
    ),
    (
        "Border Patrol agents seize 300 pounds of methamphetamine near Nogales port of entry",
        "CBP officers found the drugs hidden in a tractor-trailer at the Mariposa crossing.",
        {"border_security", "cartels"},
    ),
    (
        "OPEC+ agrees to extend oil output cuts into next year",
        "The oil cartel said the cuts would support prices as demand slows.",
        set(),
    ),
    (
        "Horror film review: the terror builds slowly in a haunted farmhouse",
        "A ghost story with patient pacing and a strong final act.",
        set(),
    ),
]


def _setup(tmp_path: Path, server: TestServer) -> tuple[Path, str]:
    items = [feedgen.item(n, server.base, title=t, summary=f"<p>{s}</p>") for n, (t, s, _) in enumerate(ITEMS)]
    server.add("/feed", Reply(body=feedgen.rss20(items)))
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(REPO / "config" / "topics.toml", config / "topics.toml")
    (config / "settings.toml").write_text(
        'data_dir = "data"\n[crawl]\ndownload_delay = 0\nautothrottle = false\nallow_networks = ["127.0.0.1/32"]\n'
    )
    (config / "sources.toml").write_text(source("beat", server.url("/feed")))
    return config, f"sqlite:///{tmp_path}/topics.sqlite"


def _tags(db_path: Path) -> dict[str, set[str]]:
    conn = sqlite3.connect(db_path)
    rows = conn.execute(
        "SELECT i.title, t.topic FROM items i LEFT JOIN item_topics t ON t.item_id = i.id AND t.passed"
    ).fetchall()
    conn.close()
    out: dict[str, set[str]] = {}
    for title, topic in rows:
        out.setdefault(title, set())
        if topic:
            out[title].add(topic)
    return out


def test_crawl_tags_and_the_reporter_corrects(tmp_path: Path, server: TestServer) -> None:
    config, db = _setup(tmp_path, server)
    base = ["--config", str(config), "--db", db]
    crawl = agg(*base, "crawl")
    assert crawl.returncode == 0, crawl.stderr
    tags = _tags(tmp_path / "topics.sqlite")
    assert {title: tags[title] for title, _, _ in ITEMS} == {title: want for title, _, want in ITEMS}
    assert (config.parent / "data" / "classifier" / "classifier.json").exists()

    explain = agg(*base, "explain", "1")
    assert explain.returncode == 0 and "YES cartels" in explain.stdout and "matched:" in explain.stdout

    # The reporter disagrees about the OPEC item twice over, then retrains and re-tags.
    assert agg(*base, "label", "5", "--topic", "cartels", "--yes").returncode == 0
    relabel = agg(*base, "label", "5", "--topic", "cartels", "--no")
    assert relabel.returncode == 0 and "is not about cartels" in relabel.stdout
    bad_topic = agg(*base, "label", "5", "--topic", "piracy", "--yes")
    assert bad_topic.returncode != 0 and "piracy" in bad_topic.stderr and bad_topic.stderr.count("\n") == 1
    bad_item = agg(*base, "label", "999", "--topic", "cartels", "--yes")
    assert bad_item.returncode != 0 and "no item with id 999" in bad_item.stderr
    trained = agg(*base, "train")
    assert trained.returncode == 0 and "(1 from labels)" in trained.stdout, trained.stdout + trained.stderr
    meta = json.loads((config.parent / "data" / "classifier" / "classifier.json").read_text())
    assert meta["training_counts"]["feedback_items"] == 1
    retag = agg(*base, "tag", "--all")
    assert retag.returncode == 0 and f"tagged {len(ITEMS)} item(s)" in retag.stdout

    export = agg(*base, "export")
    rows = [json.loads(line) for line in export.stdout.splitlines()]
    assert any("cartels" in r["topics"] for r in rows) and all(isinstance(r["topics"], dict) for r in rows)

    # A classifier file from a newer version is refused, not silently replaced.
    meta["format_version"] = 99
    (config.parent / "data" / "classifier" / "classifier.json").write_text(json.dumps(meta))
    refused = agg(*base, "tag")
    assert refused.returncode != 0 and "newer" in refused.stderr


def test_the_crawl_tags_and_matches_new_items_as_the_database_would(tmp_path: Path, server: TestServer) -> None:
    # The crawl classifies new items from the rows it has just stored, not from a read back; `tag --all` reads
    # them from the database. Both must store the same tags, down to the explanation (and the same entity
    # mentions), for items whose stored
    # text differs from the feed's: HTML and entities in the summary, a control character, a title cut to size.
    config, db = _setup(tmp_path, server)
    odd = [
        ("Cártel &amp; <b>CJNG</b>: balacera en Zapopan", "<p>Sicarios del CJNG &amp; la Fiscalía de Jalisco.</p>"),
        ("Fentanyl\x07 seized at the Nogales port of entry " + "word " * 400, "<p>CBP officers &lt;said&gt; so.</p>"),
    ]
    entries = [feedgen.item(n, server.base, title=t, summary=f"<p>{s}</p>") for n, (t, s, _) in enumerate(ITEMS)]
    entries += [feedgen.item(len(ITEMS) + n, server.base, title=t, summary=s) for n, (t, s) in enumerate(odd)]
    server.add("/feed", Reply(body=feedgen.rss20(entries)))
    base = ["--config", str(config), "--db", db]
    crawl = agg(*base, "crawl")
    assert crawl.returncode == 0, crawl.stderr
    assert f"tagged {len(entries)} item(s) by topic in the crawl (" in crawl.stderr

    def stored() -> dict[tuple[int, str], tuple[object, ...]]:
        conn = sqlite3.connect(tmp_path / "topics.sqlite")
        rows = conn.execute("SELECT item_id, topic, score, passed, method, explanation FROM item_topics").fetchall()
        conn.close()
        return {(r[0], r[1]): (r[2], r[3], r[4], json.loads(r[5])) for r in rows}

    def mentions() -> set[tuple[object, ...]]:
        conn = sqlite3.connect(tmp_path / "topics.sqlite")
        rows = conn.execute("SELECT item_id, entity_id, field, surface, count, start FROM entity_mentions").fetchall()
        scans = conn.execute("SELECT count(DISTINCT item_id) FROM entity_scans").fetchone()[0]
        conn.close()
        return {*rows, ("scanned", scans)}

    by_crawl, found_by_crawl = stored(), mentions()
    assert len(found_by_crawl) > 4 and ("scanned", len(entries)) in found_by_crawl
    conn = sqlite3.connect(tmp_path / "topics.sqlite")
    titles = [t for (t,) in conn.execute("SELECT title FROM items ORDER BY id")]
    conn.close()
    assert len(titles) == len(entries) and "\x07" not in titles[-1] and len(titles[-1]) < len(odd[1][0])
    assert len(by_crawl) == 3 * len(entries)
    retag = agg(*base, "tag", "--all")
    assert retag.returncode == 0 and f"tagged {len(entries)} item(s)" in retag.stdout, retag.stderr
    assert stored() == by_crawl
    # The same for entity mentions: the crawl matched its rows; --rematch reads every item back.
    rematch = agg(*base, "entities", "--rematch")
    assert rematch.returncode == 0 and f"matched {len(entries)} item(s)" in rematch.stderr, rematch.stderr
    assert mentions() == found_by_crawl


def test_the_crawl_counts_each_stored_item_tagged_once_when_a_batch_is_stored_again(
    tmp_path: Path, server: TestServer, postgres_url: str
) -> None:
    # One source's items are refused when the batch commits (a deferred trigger, as a failure at commit time is):
    # the batch, already tagged, is rolled back and stored again report by report, and tagged again. The tags of
    # the first try went with the rollback: the crawl must not count them.
    config, _ = _setup(tmp_path, server)
    tables = []
    for n in range(6):
        title = "REFUSED cartel story" if n == 3 else f"Cartel story {n}"
        entries = [feedgen.item(k, f"{server.base}/f{n}", title=f"{title} {k}") for k in range(3)]
        tables.append(source(f"s{n}", server.add(f"/f{n}.xml", Reply(body=feedgen.rss20(entries)))))
    (config / "sources.toml").write_text("".join(tables))
    database = Database(postgres_url)
    with database.session() as session:
        session.execute(text(
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN IF NEW.title LIKE 'REFUSED%' THEN "
            "RAISE EXCEPTION 'refused for this test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
        ))  # fmt: skip
        session.execute(text(
            "CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON items DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION refuse()"
        ))  # fmt: skip
    crawl = agg("--config", str(config), "--db", postgres_url, "crawl")
    with database.session() as session:
        stored = session.scalar(text("SELECT count(*) FROM items"))
        tags = session.scalar(text("SELECT count(DISTINCT item_id) FROM item_topics"))
    database.close()
    (log_file,) = (config.parent / "data" / "logs").glob("crawl-*.log")
    assert stored == tags == 15, crawl.stderr
    assert f"tagged {stored} item(s) by topic in the crawl (" in crawl.stderr, (crawl.stderr, log_file.read_text())


def test_evaluate_reports_and_rejects_bad_files(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(REPO / "config" / "topics.toml", config / "topics.toml")
    (config / "settings.toml").write_text('data_dir = "data"\n')
    base = ["--config", str(config), "--db", f"sqlite:///{tmp_path}/e.sqlite"]
    dev = REPO / "tests" / "data" / "eval_dev.jsonl"
    result = agg(*base, "evaluate", "--data", str(dev), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["per_topic"]) == {"cartels", "terrorism", "border_security"}
    assert {"precision", "recall", "f1", "support"} <= set(report["per_topic"]["cartels"])
    assert report["macro_f1"] >= 0.9 and 0 <= report["micro_f1"] <= 1
    small = tmp_path / "small.jsonl"
    small.write_text("\n".join(dev.read_text().splitlines()[:60]) + "\n")
    cv = agg(*base, "evaluate", "--data", str(small), "--cv", "3", "--curve", "0")
    assert cv.returncode == 0 and "macro-F1" in cv.stdout and "3-fold" in cv.stdout
    assert "learning curve" not in cv.stdout
    # The learning curve: a point per 50 simulated labels, as `label --suggest` picks them and at random.
    curve = agg(*base, "evaluate", "--data", str(small), "--cv", "2", "--curve", "50")
    assert curve.returncode == 0 and "learning curve (2-fold" in curve.stdout, curve.stderr
    assert "gain per 50 labels" in curve.stdout
    points = [line.split()[0] for line in curve.stdout.split("learning curve")[1].splitlines()[3:]]
    assert points[:2] == ["0", "50"]
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"title": "x", "labels": ["cartels"]}\nnot json\n')
    bad = agg(*base, "evaluate", "--data", str(broken))
    assert bad.returncode != 0 and "line 2: not JSON" in bad.stderr


def test_a_broken_classifier_never_stops_the_crawl(tmp_path: Path, server: TestServer) -> None:
    config, db = _setup(tmp_path, server)
    base = ["--config", str(config), "--db", db]
    saved = config.parent / "data" / "classifier"
    saved.mkdir(parents=True)
    (saved / "classifier.json").write_text('{"format": "something-else"}')
    crawl = agg(*base, "crawl")
    assert crawl.returncode == 0, crawl.stderr
    assert "items will not be tagged" in crawl.stderr and "unknown format" in crawl.stderr
    assert len(_tags(tmp_path / "topics.sqlite")) == len(ITEMS)  # stored, untagged


def test_a_tagging_failure_in_the_crawl_costs_tags_never_items(tmp_path: Path, server: TestServer, db_url: str) -> None:
    # Tags are written in the transaction that stores the items, in a savepoint: a failing tag insert (here a
    # trigger refusing the OPEC item's tags) must roll back the tags only, and the items go in with their mentions.
    # On PostgreSQL a failed statement aborts the whole transaction, so without the savepoint the items would go too.
    config, _ = _setup(tmp_path, server)
    base = ["--config", str(config), "--db", db_url]
    database = Database(db_url)  # the schema, for the trigger
    with database.session() as session:
        if database.engine.dialect.name == "sqlite":
            session.execute(text(
                "CREATE TRIGGER no_opec_tags BEFORE INSERT ON item_topics WHEN (SELECT title FROM items WHERE id = "
                "NEW.item_id) LIKE 'OPEC%' BEGIN SELECT RAISE(ABORT, 'tags refused for this test'); END"
            ))  # fmt: skip
        else:
            session.execute(text(
                "CREATE FUNCTION no_opec_tags() RETURNS trigger AS $$ BEGIN IF (SELECT title FROM items WHERE id = "
                "NEW.item_id) LIKE 'OPEC%' THEN RAISE EXCEPTION 'tags refused for this test'; END IF; RETURN NEW; "
                "END $$ LANGUAGE plpgsql"
            ))  # fmt: skip
            session.execute(text(
                "CREATE TRIGGER no_opec_tags BEFORE INSERT ON item_topics FOR EACH ROW EXECUTE FUNCTION no_opec_tags()"
            ))  # fmt: skip
    crawl = agg(*base, "crawl")
    assert crawl.returncode == 0, crawl.stderr
    (log_file,) = (config.parent / "data" / "logs").glob("crawl-*.log")
    assert "tagging disabled for this crawl:" in log_file.read_text()
    assert "tags refused for this test" in log_file.read_text()
    # The catch-up after the crawl meets the same refusal, and says which items wait (the crawl still succeeds).
    assert "items stay untagged: tagging: storing tags failed for items 1..6 (6):" in crawl.stderr
    with database.session() as session:
        titles = set(session.scalars(text("SELECT title FROM items")))
        tagged = session.scalar(text("SELECT count(*) FROM item_topics"))
        mentions = session.scalar(text("SELECT count(*) FROM entity_mentions"))
    database.close()
    assert titles == {title for title, _, _ in ITEMS}  # every item stored
    assert tagged == 0  # the savepoint took back the batch's other tags too: no item is half-tagged
    assert mentions  # entity matching, in its own savepoint, kept its work
