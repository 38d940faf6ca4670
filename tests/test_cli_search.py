"""The researchers' command line, run as a user runs it: search, export with a query, and stats."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import insert

from aggregator.models import Item, Sighting, Story
from aggregator.search.export import iter_items
from aggregator.search.query import QueryError
from aggregator.store.database import Database
from tests.digestdata import add_item, add_source, utc
from tests.test_cli import agg
from tests.test_stats import fill


class Beat:
    """A small SQLite collection and the command line pointed at it (reporter's zone: Mexico City, UTC-6)."""

    def __init__(self, root: Path) -> None:
        self.config = root / "config"
        self.config.mkdir()
        (self.config / "settings.toml").write_text(f'timezone = "America/Mexico_City"\ndata_dir = "{root / "data"}"\n')
        self.url = f"sqlite:///{root / 'beat.sqlite'}"
        self.ids: dict[str, int] = {}

    def run(self, *args: str) -> tuple[int, str, str]:
        result = agg("--config", str(self.config), "--db", self.url, *args)
        return result.returncode, result.stdout, result.stderr

    def ok(self, *args: str) -> str:
        code, out, err = self.run(*args)
        assert code == 0, err
        assert "Traceback" not in err
        return out


@pytest.fixture(scope="module")
def beat(tmp_path_factory: pytest.TempPathFactory) -> Beat:
    beat = Beat(tmp_path_factory.mktemp("beat"))
    db = Database(beat.url)
    with db.session() as session:
        for source_id in ("alpha", "beta", "gamma"):
            add_source(session, source_id)
        story = Story(title="Sinaloa", first_seen_at=utc(2026, 11, 24), last_seen_at=utc(2026, 11, 24),
                      updated_at=utc(2026, 11, 24))  # fmt: skip
        session.add(story)
        session.flush()
        ids = beat.ids
        # 03:00 UTC on the 24th is 21:00 on the 23rd in Mexico City. The text carries a terminal escape sequence.
        ids["a"] = add_item(
            session,
            "alpha",
            "Sinaloa cartel convoy attacked near Culiacán",
            "Gunmen of the Sinaloa cartel attacked a convoy \x1b[2J near Culiacán on Sunday.",
            seen=utc(2026, 11, 24, 3),
            tags={"cartels": 0.91},
        )
        ids["b"] = add_item(
            session,
            "beta",
            "El Cártel de Jalisco Nueva Generación amplía su control",
            "El cártel de Jalisco Nueva Generación controla la ruta.",
            seen=utc(2026, 11, 25, 19),
            published=utc(2026, 11, 25, 18),
            language="es",
            tags={"cartels": 0.8, "nexus": 0.6},
        )
        ids["c"] = add_item(
            session,
            "alpha",
            "Border wall funding debate",
            "Congress argued about the wall.",
            seen=utc(2026, 11, 20, 15),
            tags={"border_security": 0.7},
        )
        ids["d"] = add_item(
            session,
            "gamma",
            "Hezbollah financing network",
            "A cartel laundered the money.",
            seen=utc(2026, 12, 2, 12),
            tags={"terrorism": 0.85, "nexus": 0.55},
        )
        ids["e"] = add_item(
            session,
            "beta",
            "Festival de cine en Guadalajara",
            "Películas y premios.",
            seen=utc(2026, 11, 26, 6, 30),
            language="es",
        )
        session.get_one(Item, ids["a"]).story_id = story.id
        # Gamma's feed carried item b too: provenance lists both outlets (a crawl records a sighting for each).
        for source_id, seen in (("beta", utc(2026, 11, 25, 19)), ("gamma", utc(2026, 11, 25, 20))):
            session.add(Sighting(item_id=ids["b"], source_id=source_id, guid=f"{source_id}-b",
                                 url=f"https://{source_id}.example/b", seen_at=seen))  # fmt: skip
    db.close()
    return beat


def test_search_table_highlights_counts_and_uses_the_local_zone(beat: Beat) -> None:
    out = beat.ok("search", "cartel")
    lines = out.splitlines()
    assert lines[0] == "3 matches, by relevance"
    assert "date (America/Mexico_City)" in lines[1]
    # Not a terminal: matches are marked **like this**, in titles and snippets.
    assert "El **cártel** de Jalisco" in out and "the Sinaloa **cartel** attacked" in out
    assert "2026-11-23 21:00" in out  # item a, 03:00 UTC the next day
    assert "cartels 0.91" in out and "cartels 0.80, nexus 0.60" in out
    # The feed's escape sequence is shown, not sent to the terminal.
    assert "\x1b" not in out and "\\x1b[2J" in out
    by_date = beat.ok("search", "cartel", "--sort", "date", "--limit", "1", "--offset", "1")
    assert by_date.splitlines()[0] == "3 matches, showing 2–2, newest first"
    assert "El **Cártel** de Jalisco" in by_date and "Hezbollah" not in by_date
    nothing = beat.ok("search", "opec")
    assert nothing.strip() == "0 matches"


def test_search_json_jsonl_and_csv_carry_the_hits(beat: Beat) -> None:
    ids = beat.ids
    body = json.loads(beat.ok("search", "cartel", "--format", "json", "--sort", "date"))
    assert body["total"] == 3 and body["total_exact"] is True and body["ranked"] is None
    assert [h["item_id"] for h in body["hits"]] == [ids["d"], ids["b"], ids["a"]]
    hit_a = body["hits"][2]
    assert hit_a["first_seen_at"] == "2026-11-24T03:00:00Z" and hit_a["topics"] == {"cartels": 0.91}
    assert "\x02" not in hit_a["snippet"] and "**" not in hit_a["snippet"]
    assert [hit_a["snippet"][a:b] for a, b in hit_a["highlights"]] == ["cartel"]
    lines = beat.ok("search", "jalisco OR hezbollah", "--format", "jsonl").splitlines()
    assert sorted(json.loads(line)["item_id"] for line in lines) == sorted([ids["b"], ids["d"]])
    rows = list(csv.DictReader(io.StringIO(beat.ok("search", "lang:es", "--format", "csv"))))
    assert sorted(int(r["item_id"]) for r in rows) == sorted([ids["b"], ids["e"]])
    b = next(r for r in rows if int(r["item_id"]) == ids["b"])
    assert b["topics"] == "cartels:0.8 nexus:0.6" and b["score"] == "" and b["language"] == "es"


def test_a_malformed_query_is_one_clear_error_with_a_caret(beat: Beat) -> None:
    code, out, err = beat.run("search", "cartel (sinaloa OR jalisco")
    assert code == 2 and out == "" and "Traceback" not in err
    query, caret, message = err.rstrip("\n").split("\n")
    assert query.strip() == "cartel (sinaloa OR jalisco" and caret.index("^") == query.index("(")
    assert message.startswith("error: query: unbalanced '('")
    code, _, err = beat.run("search", "topic:cartelz")
    assert code == 2 and "did you mean: cartels?" in err and "^" in err
    for command in (["export", "sinaloa AND"], ["stats", "sinaloa AND"]):
        code, out, err = beat.run(*command)
        assert code == 2 and out == "" and "'AND' needs something after it" in err and "^" in err


def test_a_query_may_begin_with_a_minus(beat: Beat) -> None:
    ids = beat.ids
    hits = beat.ok("search", "--format", "jsonl", "-sinaloa cartel", "--sort", "date").splitlines()
    assert [json.loads(line)["item_id"] for line in hits] == [ids["d"], ids["b"]]
    rows = beat.ok("export", "-sinaloa cartel", "--format", "jsonl").splitlines()
    assert [json.loads(line)["id"] for line in rows] == sorted([ids["b"], ids["d"]])
    months = json.loads(beat.ok("stats", "-lang:es cartel", "--by", "month", "--format", "json"))
    assert months["series"] == {"all": [1, 1]}
    assert beat.ok("search", "--", "-topic:nexus cartel").startswith("1 match,")  # an explicit "--" works too


def test_export_with_a_query_streams_exactly_the_matches(beat: Beat, tmp_path: Path) -> None:
    ids = beat.ids
    wanted = sorted([ids["a"], ids["b"], ids["d"]])
    rows = [json.loads(line) for line in beat.ok("export", "cartel").splitlines()]
    assert [r["id"] for r in rows] == wanted
    a = next(r for r in rows if r["id"] == ids["a"])
    assert a["story_id"] is not None and a["topics"] == {"cartels": 0.91} and a["sources"] == ["alpha"]
    b = next(r for r in rows if r["id"] == ids["b"])
    assert b["sources"] == ["beta", "gamma"] and b["published_at"] == "2026-11-25T18:00:00Z"
    assert {"url", "canonical_url", "guid", "first_seen_at", "published_at"} <= set(b)
    table = list(csv.DictReader(io.StringIO(beat.ok("export", "topic:nexus", "--format", "csv"))))
    assert [int(r["id"]) for r in table] == sorted([ids["b"], ids["d"]])
    assert table[0]["sources"] == "beta gamma" and table[0]["topics"] == "cartels:0.8 nexus:0.6"
    out = tmp_path / "cartel.parquet"
    beat.ok("export", "cartel", "--format", "parquet", "--out", str(out))
    parquet = pq.read_table(out)
    assert parquet.column("id").to_pylist() == wanted
    first = parquet.slice(0, 1).to_pylist()[0]
    assert first["story_id"] is not None and dict(first["topics"]) == {"cartels": 0.91}
    assert first["first_seen_at"] == utc(2026, 11, 24, 3)
    # --since (local) with a query; no query still means every item; parquet needs a file.
    since = [json.loads(line)["id"] for line in beat.ok("export", "cartel", "--since", "2026-11-25").splitlines()]
    assert since == sorted([ids["b"], ids["d"]])
    assert len(beat.ok("export").splitlines()) == 5
    code, _, err = beat.run("export", "--format", "parquet")
    assert code != 0 and "--out" in err


def test_stats_by_day_week_month_per_topic_source_language(beat: Beat) -> None:
    by_day = json.loads(beat.ok("stats", "--by", "day", "--per", "topic", "--format", "json"))
    assert by_day["timezone"] == "America/Mexico_City"
    assert by_day["periods"][0] == "2026-11-20" and by_day["periods"][-1] == "2026-12-02"
    assert len(by_day["periods"]) == 13  # every day from the first item to the last, empty ones too
    cartels = dict(zip(by_day["periods"], by_day["series"]["cartels"], strict=True))
    assert cartels["2026-11-23"] == 1 and cartels["2026-11-24"] == 0  # item a, on the local day before
    assert cartels["2026-11-25"] == 1 and sum(cartels.values()) == 2
    weeks = list(csv.reader(io.StringIO(beat.ok("stats", "--by", "week", "--per", "source", "--format", "csv"))))
    assert weeks[0] == ["week", "alpha", "beta", "gamma"]
    assert weeks[1:] == [["2026-W47", "1", "0", "0"], ["2026-W48", "1", "2", "0"], ["2026-W49", "0", "0", "1"]]
    months = json.loads(beat.ok("stats", "cartel", "--by", "month", "--per", "lang", "--format", "json"))
    assert months["periods"] == ["2026-11", "2026-12"] and months["series"] == {"en": [1, 1], "es": [1, 0]}
    bounded = json.loads(beat.ok("stats", "--since", "2026-11-22", "--until", "2026-11-24", "--format", "json"))
    assert bounded["periods"] == ["2026-11-22", "2026-11-23", "2026-11-24"] and bounded["series"]["all"] == [0, 1, 0]
    table = beat.ok("stats", "--by", "week")
    assert table.splitlines()[0] == "items per week (America/Mexico_City)"
    assert any(line.split()[:2] == ["2026-W48", "3"] for line in table.splitlines())
    assert any(line.split() == ["total", "5"] for line in table.splitlines())
    code, _, err = beat.run("stats", "--since", "2026-12-01", "--until", "2026-11-01")
    assert code != 0 and "after --until" in err


def test_more_than_ten_thousand_matches(tmp_path: Path) -> None:
    beat = Beat(tmp_path)
    db = Database(beat.url)
    start = utc(2026, 1, 1)
    with db.session() as session:
        add_source(session, "wire")
        rows = [
            {
                "source_id": "wire", "guid": str(n), "url": f"https://wire.example/{n}", "url_key": f"wire/{n}",
                "content_hash": str(n), "title": f"Cartel report {n}", "summary": "", "summary_text": "cartel",
                "text": "The cartel.", "language": "en", "first_seen_at": start + timedelta(minutes=n),
                "fetched_at": start + timedelta(minutes=n), "raw": {},
            }
            for n in range(10_050)
        ]  # fmt: skip
        session.execute(insert(Item), rows)
    db.close()
    out = beat.ok("search", "cartel", "--limit", "2")
    lines = out.splitlines()
    assert lines[0] == "10,000+ matches, showing 1–2, by relevance"
    assert lines[1].startswith("note: relevance was computed over the newest 10,000 matches only")
    exported = beat.ok("export", "cartel", "--format", "csv").splitlines()
    assert len(exported) == 10_051  # every match, not the first 10,000


def test_export_rows_for_a_query_are_the_same_on_both_backends(db: Database) -> None:
    with db.session() as session:
        ids = fill(session)
    with db.session() as session:
        rows = list(iter_items(session, query="cartel"))
        assert [r["id"] for r in rows] == sorted(ids[k] for k in "abdf")
        assert rows[1]["topics"] == {"cartels": 0.8, "nexus": 0.6} and rows[1]["published_at"] == utc(2026, 11, 25, 18)
        since = list(iter_items(session, query="topic:nexus", since=utc(2026, 11, 26)))
        assert [r["id"] for r in since] == [ids["d"]]
        with pytest.raises(QueryError):
            iter_items(session, query="topic:nexus OR")  # raised at the call, before a row is written
