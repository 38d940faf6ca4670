"""`entity:` in the query language, entities in search hits, export and stats, and the `entities` command."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.classify.entities import matcher_for
from aggregator.classify.entity_tagging import match_items, sync_entities
from aggregator.config.entities import PACKAGED_CONFIG, load_entities
from aggregator.search.export import iter_items, write_csv
from aggregator.search.hits import search
from aggregator.search.query import Field, QueryError, parse
from aggregator.search.stats import volume
from aggregator.store.database import Database
from tests.digestdata import add_item, add_source, utc
from tests.test_cli import agg

TEXTS = {
    "mencho": ("CJNG leader El Mencho sought", "Nemesio Oseguera Cervantes leads the Jalisco New Generation Cartel."),
    "jalisco": ("El cártel de Jalisco amplía su control", "Operadores del CJNG en Zacatecas."),
    "hezbollah": ("Hezbolá y Hamás en la Triple Frontera", "Hezbollah financing networks."),
    "weather": ("Sunny in Tucson", "Nothing to see."),
}


def fill(db: Database) -> dict[str, int]:
    entities = load_entities(PACKAGED_CONFIG)
    with db.session() as s:
        add_source(s, "wire")
        ids = {key: add_item(s, "wire", title, text, seen=utc(2026, 1, 5 + n))
               for n, (key, (title, text)) in enumerate(TEXTS.items())}  # fmt: skip
        sync_entities(s, entities)
        match_items(s, matcher_for(entities), list(ids.values()), now=utc(2026, 2, 1))
    return ids


def test_the_parser_keeps_the_entity_value_as_typed() -> None:
    assert parse('entity:"El Mencho"').root == Field("entity", "El Mencho")
    assert parse("entity:cjng lang:es").root is not None
    with pytest.raises(QueryError, match="'entity:' needs a value"):
        parse("entity:")


def test_entity_queries_by_id_and_by_alias(db: Database) -> None:
    ids = fill(db)
    with db.session() as s:

        def found(q: str) -> set[int]:
            return {h.item_id for h in search(s, q, sort="date", limit=100).hits}

        assert found("entity:cjng") == {ids["mencho"], ids["jalisco"]}
        assert found('entity:"jalisco new generation cartel"') == {ids["mencho"], ids["jalisco"]}
        assert found('entity:"el mencho"') == found("entity:el-mencho") == {ids["mencho"]}
        assert found("entity:Hizbulá") == {ids["hezbollah"]}
        assert found("entity:cjng -entity:el-mencho") == {ids["jalisco"]}
        assert found("entity:hamas OR entity:el-mencho") == {ids["hezbollah"], ids["mencho"]}
        assert found("zacatecas entity:cjng") == {ids["jalisco"]}
        hits = search(s, "entity:hezbollah", limit=5).hits
        assert hits[0].entities == ("hamas", "hezbollah")
        with pytest.raises(QueryError, match="no entity 'hezbolah'") as err:
            search(s, "cartel entity:hezbolah")
        assert err.value.column == 8 and "hezbollah" in str(err.value)


def test_export_and_stats_show_entities(db: Database) -> None:
    ids = fill(db)
    with db.session() as s:
        rows = {r["id"]: r for r in iter_items(s)}
        assert rows[ids["mencho"]]["entities"] == ["cjng", "el-mencho"]
        assert rows[ids["weather"]]["entities"] == []
        out = io.StringIO()
        write_csv(iter_items(s, query="entity:hamas"), out)
        (row,) = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert row["entities"] == "hamas hezbollah"
        counted = volume(s, None, by="month", per="entity", zone=ZoneInfo("UTC"))
        assert counted.periods == ["2026-01"]
        # Each item once per entity it names, however often it names it.
        assert counted.series == {"cjng": [2], "el-mencho": [1], "hamas": [1], "hezbollah": [1]}


def test_the_entities_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'beat.sqlite'}"
    db = Database(url)
    fill(db)
    db.close()
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.toml").write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    listed = agg("--config", str(config), "--db", url, "entities", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    counts = {e["entity_id"]: e["items"] for e in json.loads(listed.stdout)}
    assert counts == {"cjng": 2, "el-mencho": 1, "hamas": 1, "hezbollah": 1}
    table = agg("--config", str(config), "--db", url, "entities", "lang:en OR hezbollah", "--since", "2026-01-07")
    assert table.returncode == 0, table.stderr
    assert "hezbollah" in table.stdout and "el-mencho" not in table.stdout
    (config / "entities.toml").write_text(
        '[[entity]]\nid = "tucson"\nname = "Tucson"\nkind = "place"\naliases = ["Tucson"]\n[[entity]]\nid = "x"\n',
        encoding="utf-8",
    )
    again = agg("--config", str(config), "--db", url, "entities", "--rematch")
    assert again.returncode == 0, again.stderr
    assert "config error (entity skipped)" in again.stderr and "matched 4 item(s)" in again.stderr
    assert "tucson" in again.stdout and "cjng" not in again.stdout
    bad = agg("--config", str(config), "--db", url, "search", "entity:nowhere")
    assert bad.returncode == 2 and "no entity 'nowhere'" in bad.stderr


def test_the_web_app_shows_entities_and_an_entity_page(tmp_path: Path) -> None:
    import httpx

    from aggregator.config.settings import Settings
    from aggregator.web import create_app
    from tests.digestdata import REPO
    from tests.webserver import WebServer

    url = f"sqlite:///{tmp_path / 'web.sqlite'}"
    db = Database(url)
    ids = fill(db)
    with db.session() as s:  # a hostile title on an item that names an entity: escaped on every page
        add_source(s, "blog")
        hostile = add_item(s, "blog", "<script>x()</script> Hezbollah", "Hezbollah and CJNG.", seen=utc(2026, 1, 20))
        match_items(s, matcher_for(load_entities(PACKAGED_CONFIG)), [hostile], now=utc(2026, 2, 1))
    db.close()
    settings = Settings(timezone="UTC", data_dir=str(tmp_path / "data"))
    settings.config_dir = REPO / "config"
    with (
        WebServer(create_app(settings, url, allowed_hosts=["127.0.0.1"])) as srv,
        httpx.Client(base_url=srv.origin, timeout=60) as client,
    ):
        item = client.get(f"/items/{ids['mencho']}")
        assert item.status_code == 200
        assert '<a href="/entities/cjng">Cártel de Jalisco Nueva Generación</a>' in item.text
        assert 'href="/entities/el-mencho"' in item.text
        api = client.get(f"/api/items/{ids['mencho']}").json()
        assert {e["entity_id"] for e in api["entities"]} == {"cjng", "el-mencho"}
        mencho = next(e for e in api["entities"] if e["entity_id"] == "el-mencho")
        assert set(mencho["surfaces"]) == {"El Mencho", "Nemesio Oseguera Cervantes"}
        hits = client.get("/api/search", params={"q": "entity:hezbollah"}).json()["hits"]
        assert {h["item_id"] for h in hits} == {ids["hezbollah"], hostile}
        assert all("hezbollah" in h["entities"] for h in hits)
        page = client.get("/entities/cjng")
        assert page.status_code == 200
        assert "<td>2026-01</td><td>3</td>" in page.text  # mentions over time: three items in January
        assert "Wire</a>" in page.text and "Blog</a>" in page.text  # the outlets
        assert 'href="/entities/el-mencho"' in page.text and 'href="/entities/hezbollah"' in page.text
        assert "<script>x()" not in page.text and "&lt;script&gt;x()" in page.text
        assert client.get("/entities/nowhere").status_code == 404
        assert client.get("/entities/..%2F..%2Fetc").status_code == 404
        # The chart draws a line per entity, as the API counts them; the form offers it and keeps it selected.
        chart = client.get("/chart", params={"per": "entity", "by": "month"})
        assert chart.status_code == 200 and '<option value="entity" selected>' in chart.text
        svg = client.get("/chart.svg", params={"per": "entity", "by": "month"}).text
        assert "<title>cjng, 2026-01: 3</title>" in svg
        counted = client.get("/api/volume", params={"per": "entity", "by": "month"}).json()
        assert counted["per"] == "entity" and counted["series"]["cjng"] == [3]


def test_the_digest_lists_each_storys_entities(tmp_path: Path) -> None:
    from datetime import date, timedelta

    from aggregator.digest import archive
    from aggregator.digest.render import render
    from aggregator.stories.store import assign_stories
    from tests.digestdata import topics
    from tests.test_digest import FAR_FUTURE, settings_for

    settings = settings_for(tmp_path, "UTC", time="07:00", per_section=0)
    db = Database(f"sqlite:///{tmp_path}/d.sqlite")
    entities = load_entities(PACKAGED_CONFIG)
    with db.session() as s:
        add_source(s, "cbp", name="CBP Newsroom", tier="government")
        item = add_item(s, "cbp", "Officers seize meth at Otay Mesa", "A Tijuana driver was arrested at Otay Mesa.",
                        seen=utc(2026, 6, 2, 15), tags={"border_security": 0.9})  # fmt: skip
        sync_entities(s, entities)
        match_items(s, matcher_for(entities), [item], now=utc(2026, 6, 2, 16))
        assign_stories(s, now=FAR_FUTURE, window=timedelta(hours=72))
    with db.session() as s:
        content = archive.build(s, settings, topics(), date(2026, 6, 3), now=FAR_FUTURE).digest.content
    (story,) = content["stories"].values()
    assert story["entities"] == [{"id": "otay-mesa", "name": "Otay Mesa"}, {"id": "tijuana", "name": "Tijuana"}]
    assert "Entities: Otay Mesa, Tijuana" in render(content, "txt")
    assert "Entities: Otay Mesa, Tijuana" in render(content, "html")
    assert "Entities: Otay Mesa, Tijuana" in render(content, "md")
    db.close()
