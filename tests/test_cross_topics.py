"""Cross-topics (topics.toml's [[cross_topic]], e.g. nexus = cartels AND terrorism) are searchable topics everywhere:
search, export, stats, the CLI, the web page and the API; and unknown topics and languages are named as such."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pyarrow.parquet as pq
import pytest
from sqlalchemy.orm import Session

import aggregator.search.plan as plan
from aggregator.classify.topics import TopicSet
from aggregator.config.settings import Settings
from aggregator.models import ItemTopic
from aggregator.search.export import iter_items
from aggregator.search.hits import iter_matches, search
from aggregator.search.query import QueryError
from aggregator.search.stats import volume
from aggregator.store.database import Database
from aggregator.web import create_app
from tests.digestdata import REPO, add_item, add_source, topics, utc
from tests.test_cli import agg
from tests.webserver import WebServer

UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class Doc:
    key: str
    title: str
    text: str
    seen: datetime
    lang: str = "en"
    passed: dict[str, float] = field(default_factory=dict)
    failed: dict[str, float] = field(default_factory=dict)


DOCS = [
    Doc("designated", "Cartel designated a terrorist organisation", "The cartel now counts as a terrorist group.",
        utc(2026, 2, 3), passed={"cartels": 0.9, "terrorism": 0.7}),
    Doc("sinaloa", "Sinaloa cartel named in a terror case", "Prosecutors tie the Sinaloa cartel to a bombing.",
        utc(2026, 2, 4), passed={"cartels": 0.8, "terrorism": 0.75}),
    Doc("old", "Cartel and terror financing", "A cartel financed a militant group.", utc(2025, 12, 20),
        passed={"cartels": 0.7, "terrorism": 0.95}),
    Doc("senalado", "Cártel señalado como grupo terrorista", "El cártel fue señalado como organización terrorista.",
        utc(2026, 1, 15), "es", passed={"cartels": 0.6, "terrorism": 0.8}),
    Doc("convoy", "Cartel convoy attacked", "Gunmen of a cartel attacked a convoy.", utc(2026, 2, 5),
        passed={"cartels": 0.95}),
    Doc("plot", "Terror plot foiled", "Officials said no cartel was involved in the plot.", utc(2026, 2, 6),
        passed={"terrorism": 0.9}),
    # Terrorism was scored but not passed: no nexus.
    Doc("failed", "Cartel blamed for an explosion", "The cartel denied the explosion.", utc(2026, 2, 7),
        passed={"cartels": 0.8}, failed={"terrorism": 0.4}),
    Doc("wall", "Border wall funding", "Congress argued about the wall.", utc(2026, 2, 8),
        passed={"border_security": 0.7}),
    Doc("tacos", "Festival de tacos", "Nada que ver.", utc(2026, 2, 9), "es"),
]  # fmt: skip
NEXUS = {d.key for d in DOCS if {"cartels", "terrorism"} <= set(d.passed)}
# A row stored under the cross-topic's own id (as test collections and old databases hold): what the topics say wins.
LEGACY = Doc("legacy", "Cartel extortion ring", "An extortion ring run by a cartel.", utc(2026, 2, 10),
             passed={"cartels": 0.85, "nexus": 0.6})  # fmt: skip


def fill(session: Session, docs: list[Doc]) -> dict[str, int]:
    add_source(session, "wire")
    ids = {}
    for doc in docs:
        ids[doc.key] = item_id = add_item(
            session, "wire", doc.title, doc.text, seen=doc.seen, language=doc.lang, tags=doc.passed
        )
        for topic, score in doc.failed.items():
            session.add(
                ItemTopic(item_id=item_id, topic=topic, score=score, passed=False, method="rules", explanation={},
                          classified_at=doc.seen, classifier="test")
            )  # fmt: skip
    return ids


@dataclass
class Collection:
    db: Database
    ids: dict[str, int]
    topics: TopicSet

    def keys(self, item_ids: list[int]) -> set[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return {by_id[i] for i in item_ids}

    def found(self, text: str) -> set[str]:
        with self.db.session() as s:
            page = search(s, text, topics=self.topics, limit=100)
        assert page.total_exact and page.total == len(page.hits)
        return self.keys([h.item_id for h in page.hits])


@pytest.fixture
def collection(db: Database) -> Collection:
    with db.session() as session:
        ids = fill(session, [*DOCS, LEGACY])
    topic_set = topics()
    nexus = next(c for c in topic_set.cross_topics if c.id == "nexus")
    assert set(nexus.requires_all) == {"cartels", "terrorism"}  # what the expectations below assume
    return Collection(db, ids, topic_set)


def test_topic_nexus_finds_exactly_the_items_that_passed_both(collection: Collection) -> None:
    assert collection.found("topic:nexus") == NEXUS
    assert collection.found("topic:nexus lang:es") == {"senalado"}
    assert collection.found("cartel -sinaloa topic:nexus since:2026-01") == {"designated", "senalado"}
    assert collection.found("topic:nexus OR topic:border_security") == NEXUS | {"wall"}
    with collection.db.session() as s:
        streamed = [h.item_id for h in iter_matches(s, "topic:nexus", sort="id", batch=2, topics=collection.topics)]
    assert collection.keys(streamed) == NEXUS and len(streamed) == len(NEXUS)


def test_minus_topic_nexus_is_the_complement(collection: Collection) -> None:
    everything = {d.key for d in DOCS} | {LEGACY.key}
    assert collection.found("since:2000") == everything
    assert collection.found("since:2000 -topic:nexus") == everything - NEXUS
    assert collection.found("cartel -topic:nexus") == {"convoy", "plot", "failed", "legacy"}
    assert collection.found("since:2000 NOT (topic:nexus OR topic:cartels)") == {"plot", "wall", "tacos"}


def test_nexus_pages_the_same_when_its_ids_drive_the_query(
    collection: Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Caps this small make the four nexus items take the paths meant for millions (capped probes and counts).
    monkeypatch.setattr(plan, "COUNT_CAP", 2)
    monkeypatch.setattr(plan, "ESTIMATE_CAP", 3)
    newest_first = ["sinaloa", "designated", "senalado", "old"]
    with collection.db.session() as s:
        for text, expected in (("topic:nexus", newest_first), ("cartel topic:nexus", newest_first)):
            paged = []
            for offset in (0, 2):
                page = search(s, text, sort="date", limit=2, offset=offset, topics=collection.topics)
                paged += [h.item_id for h in page.hits]
            assert paged == [collection.ids[k] for k in expected], text


def test_score_bounds_apply_to_the_lowest_score_of_the_parts(collection: Collection) -> None:
    # Minimum scores: designated 0.7, sinaloa 0.75, old 0.7, senalado 0.6.
    assert collection.found("topic:nexus score>=0.7") == {"designated", "sinaloa", "old"}
    assert collection.found("topic:nexus score<0.7") == {"senalado"}
    assert collection.found("topic:nexus score>0.6 score<=0.7") == {"designated", "old"}


def test_hits_list_nexus_with_the_lowest_score_of_its_parts(collection: Collection) -> None:
    with collection.db.session() as s:
        hits = {h.item_id: h.topics for h in search(s, "cartel*", topics=collection.topics, limit=100).hits}
        plain = {h.item_id: h.topics for h in search(s, "cartel*", limit=100).hits}
    ids = collection.ids
    assert hits[ids["designated"]] == {"cartels": 0.9, "nexus": 0.7, "terrorism": 0.7}
    assert hits[ids["senalado"]] == {"cartels": 0.6, "nexus": 0.6, "terrorism": 0.8}
    assert hits[ids["failed"]] == {"cartels": 0.8} and hits[ids["convoy"]] == {"cartels": 0.95}
    assert hits[ids["legacy"]] == {"cartels": 0.85}  # the stored nexus row is not what topics.toml says
    assert plain[ids["designated"]] == {"cartels": 0.9, "terrorism": 0.7}  # without topics.toml: the stored tags


def test_stats_per_topic_counts_nexus(collection: Collection) -> None:
    with collection.db.session() as s:
        per_topic = volume(s, None, by="month", per="topic", zone=UTC_ZONE, topics=collection.topics)
        nexus_only = volume(s, "topic:nexus", by="month", per=None, zone=UTC_ZONE, topics=collection.topics)
        of_cartels = volume(s, "topic:cartels", by="month", per="topic", zone=UTC_ZONE, topics=collection.topics)
    assert per_topic.periods == ["2025-12", "2026-01", "2026-02"]
    assert per_topic.series["nexus"] == [1, 1, 2]  # old; senalado; designated and sinaloa (not legacy)
    assert per_topic.series["cartels"] == [1, 1, 5] and per_topic.series["terrorism"] == [1, 1, 3]
    assert nexus_only.series == {"all": [1, 1, 2]}
    # A topic filter and --per topic together: each cartels item under every topic it has.
    assert of_cartels.series["cartels"] == [1, 1, 5] and of_cartels.series["terrorism"] == [1, 1, 2]
    assert of_cartels.series["nexus"] == [1, 1, 2] and "border_security" not in of_cartels.series


def test_export_with_topic_nexus(collection: Collection) -> None:
    with collection.db.session() as s:
        rows = list(iter_items(s, query="topic:nexus", topics=collection.topics))
        every = {r["id"]: r["topics"] for r in iter_items(s, topics=collection.topics)}
    assert [r["id"] for r in rows] == sorted(collection.ids[k] for k in NEXUS)
    assert all(r["topics"]["nexus"] == min(r["topics"]["cartels"], r["topics"]["terrorism"]) for r in rows)
    with_nexus = {i for i, t in every.items() if "nexus" in t}
    assert with_nexus == {collection.ids[k] for k in NEXUS}


def test_an_unknown_topic_lists_the_known_ones_cross_topics_included(collection: Collection) -> None:
    with collection.db.session() as s, pytest.raises(QueryError) as caught:
        search(s, "cartel topic:nexsu", topics=collection.topics)
    assert caught.value.column == 8
    assert "no topic 'nexsu'" in str(caught.value)
    assert "(known: border_security, cartels, nexus, terrorism; did you mean: nexus?)" in str(caught.value)


def test_a_topic_of_topics_toml_that_no_item_has_yet_finds_nothing(db: Database) -> None:
    with db.session() as s:
        fill(s, [d for d in DOCS if "border_security" not in d.passed])
    with db.session() as s:
        assert search(s, "topic:border_security", topics=topics()).total == 0
        with pytest.raises(QueryError, match="no topic 'border_security'"):
            search(s, "topic:border_security")  # without topics.toml only the stored tags are known


def test_a_language_no_item_has_is_named(collection: Collection) -> None:
    with collection.db.session() as s:
        with pytest.raises(QueryError) as unknown:
            search(s, "cartel lang:xx")
        with pytest.raises(QueryError) as close:
            search(s, "-lang:ex cartel")
        assert search(s, "lang:es", limit=100).total == 2
    assert "no item has the language 'xx' at column 8 (known: en, es)" in str(unknown.value)
    assert "no item has the language 'ex' at column 1 (known: en, es; did you mean: en, es?)" in str(close.value)


# --- the command line and the web app -------------------------------------------------------------------------


class Beat:
    """A config directory with the project's topics.toml, a collection without stored nexus rows, and the CLI."""

    def __init__(self, root: Path, url: str) -> None:
        self.config = root / "config"
        self.config.mkdir()
        (self.config / "settings.toml").write_text(f'timezone = "UTC"\ndata_dir = "{root / "data"}"\n')
        shutil.copy(REPO / "config" / "topics.toml", self.config / "topics.toml")
        self.url = url
        db = Database(url)
        with db.session() as session:
            self.ids = fill(session, DOCS)
        db.close()

    def run(self, *args: str) -> tuple[int, str, str]:
        result = agg("--config", str(self.config), "--db", self.url, *args)
        assert "Traceback" not in result.stderr
        return result.returncode, result.stdout, result.stderr


@pytest.fixture(scope="module")
def beat(tmp_path_factory: pytest.TempPathFactory) -> Beat:
    root = tmp_path_factory.mktemp("cross")
    return Beat(root, f"sqlite:///{root / 'beat.sqlite'}")


def test_the_readme_search_example_runs(db_url: str, tmp_path: Path) -> None:
    beat = Beat(tmp_path, db_url)
    code, out, err = beat.run("search", "cartel -sinaloa topic:nexus since:2026-01")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "2 matches, by relevance"
    assert "designated a terrorist organisation" in out and "señalado como grupo terrorista" in out
    assert "nexus 0.70" in out and "nexus 0.60" in out


def test_cli_search_export_and_stats_know_nexus(beat: Beat, tmp_path: Path) -> None:
    code, out, err = beat.run("search", "topic:nexus", "--format", "json", "--sort", "date")
    assert code == 0, err
    hits = json.loads(out)["hits"]
    assert [h["item_id"] for h in hits] == [beat.ids[k] for k in ("sinaloa", "designated", "senalado", "old")]
    assert hits[1]["topics"] == {"cartels": 0.9, "nexus": 0.7, "terrorism": 0.7}
    code, out, err = beat.run("search", "-topic:nexus cartel", "--format", "jsonl")
    assert code == 0, err
    assert {json.loads(line)["item_id"] for line in out.splitlines()} == {beat.ids[k] for k in ("convoy", "plot",
                                                                                              "failed")}  # fmt: skip
    parquet = tmp_path / "nexus-es.parquet"  # the README's Parquet example
    code, _, err = beat.run("export", "topic:nexus lang:es", "--format", "parquet", "--out", str(parquet))
    assert code == 0, err
    rows = pq.read_table(parquet).to_pylist()
    assert [r["id"] for r in rows] == [beat.ids["senalado"]] and dict(rows[0]["topics"])["nexus"] == 0.6
    code, out, err = beat.run("stats", "--by", "month", "--per", "topic", "--format", "json")
    assert code == 0, err
    body = json.loads(out)
    assert body["periods"] == ["2025-12", "2026-01", "2026-02"] and body["series"]["nexus"] == [1, 1, 2]


def test_cli_names_unknown_topics_and_languages(beat: Beat) -> None:
    code, out, err = beat.run("search", "topic:nexsu")
    assert code == 2 and out == ""
    assert "error: query: no topic 'nexsu' at column 1" in err
    assert "known: border_security, cartels, nexus, terrorism; did you mean: nexus?" in err
    code, out, err = beat.run("export", "cartel lang:xx")
    assert code == 2 and out == "" and "no item has the language 'xx' at column 8 (known: en, es)" in err


def test_web_search_page_api_and_volume_know_nexus(beat: Beat) -> None:
    settings = Settings(timezone="UTC", data_dir=str(beat.config.parent / "data"))
    settings.config_dir = beat.config
    with WebServer(create_app(settings, beat.url)) as srv, httpx.Client(base_url=srv.origin) as c:
        found = c.get("/api/search", params={"q": "topic:nexus", "limit": 100}).json()
        assert {h["item_id"] for h in found["hits"]} == {beat.ids[k] for k in NEXUS}
        assert all("nexus" in h["topics"] for h in found["hits"])
        field = c.get("/api/search", params={"q": "cartel", "topic": "nexus", "lang": "es"}).json()
        assert [h["item_id"] for h in field["hits"]] == [beat.ids["senalado"]]
        chart = c.get("/api/volume", params={"by": "month", "per": "topic"}).json()
        assert chart["series"]["nexus"] == [1, 1, 2]
        page = c.get("/", params={"topic": "nexus"})
        assert page.status_code == 200 and '<option value="nexus" selected>' in page.text
        assert c.get("/", params={"q": "topic:nexsu"}).status_code == 400


def test_since_and_until_are_days_in_the_reporters_zone(db: Database) -> None:
    """03:00 UTC on the 24th is 21:00 on the 23rd in Mexico City: the reporter's 24th starts six hours later."""
    with db.session() as session:
        add_source(session, "alpha")
        add_item(session, "alpha", "late night cartel report", "x", seen=utc(2026, 11, 24, 3))
        add_item(session, "alpha", "morning cartel report", "x", seen=utc(2026, 11, 24, 12))
    mexico = ZoneInfo("America/Mexico_City")
    with db.session() as session:

        def titles(query: str, zone: ZoneInfo | None = None) -> set[str]:
            page = search(session, query, limit=50, **({"zone": zone} if zone else {}))
            return {hit.title for hit in page.hits}

        assert titles("cartel since:2026-11-24") == {"late night cartel report", "morning cartel report"}  # UTC
        assert titles("cartel since:2026-11-24", mexico) == {"morning cartel report"}
        assert titles("cartel until:2026-11-23", mexico) == {"late night cartel report"}
