"""Entities (issue #14): loading entities.toml, matching English and Spanish text, storing every mention."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from aggregator.classify.entities import Matcher, matcher_for
from aggregator.classify.entity_tagging import match_items, sync_entities, unmatched_ids
from aggregator.config.entities import PACKAGED_CONFIG, load_entities, parse_entities
from aggregator.errors import ConfigError
from aggregator.models import Entity, EntityMention, EntityScan
from aggregator.services.context import Context
from aggregator.services.entities import match_entities
from aggregator.store.database import Database
from aggregator.store.entities import item_entities, resolve_entity
from tests import feedgen
from tests.crawling import catalog, fast_settings, run, source
from tests.digestdata import add_item, add_source, utc
from tests.httpserver import Reply, TestServer

SHIPPED = load_entities(PACKAGED_CONFIG)


def found(text: str, matcher: Matcher | None = None, field: str = "text") -> list[tuple[str, str]]:
    """(entity id, surface) of every mention in `text`."""
    return [(m.entity_id, m.surface) for m in (matcher or matcher_for(SHIPPED)).match({field: text})]


def ids(text: str) -> set[str]:
    return {e for e, _ in found(text)}


# --- loading --------------------------------------------------------------------------------------------------


def test_the_shipped_file_loads_without_problems_and_has_the_beat() -> None:
    assert SHIPPED.problems == ()
    by_id = SHIPPED.by_id()
    fto_2025 = {e.id for e in SHIPPED.entities if "fto-2025" in e.tags}
    assert fto_2025 == {"sinaloa-cartel", "cjng", "cdn", "lnfm", "gulf-cartel", "carteles-unidos", "tren-de-aragua",
                        "ms-13"}  # fmt: skip
    assert by_id["los-chapitos"].parent == "sinaloa-cartel" and by_id["cdn"].parent == "los-zetas"
    assert {"hezbollah", "hamas", "al-qaeda", "aqap", "aqim", "islamic-state", "isis-k", "al-shabaab", "jnim"} <= set(
        by_id
    )
    assert {e.kind for e in SHIPPED.entities} >= {"organisation", "person", "place"}
    assert len(SHIPPED.fingerprint) == 16


BAD = """
[[entity]]
id = "good"
name = "Good Group"
kind = "organisation"
aliases = ["Good Group"]

[[entity]]
id = "Bad Id"
name = "x"
kind = "organisation"
aliases = ["x"]

[[entity]]
id = "nokind"
name = "No kind"
kind = "planet"
aliases = ["No kind"]

[[entity]]
id = "noalias"
name = "No alias"
kind = "person"

[[entity]]
id = "vague"
name = "Vague"
kind = "other"
ambiguous = ["Vague"]

[[entity]]
id = "punct"
name = "Punct"
kind = "other"
aliases = ["Punct", "--"]

[[entity]]
id = "good"
name = "Again"
kind = "place"
aliases = ["Again"]

[[entity]]
id = "orphan"
name = "Orphan Faction"
kind = "organisation"
aliases = ["Orphan Faction"]
parent = "nobody"
"""


def test_each_bad_entry_is_one_line_naming_file_and_entry_and_the_rest_loads() -> None:
    loaded = parse_entities(BAD, Path("entities.toml"))
    assert [e.id for e in loaded.entities] == ["good", "orphan"]
    assert loaded.by_id()["orphan"].parent is None  # the unknown parent is dropped, the faction kept
    lines = [p.message for p in loaded.problems]
    assert all("\n" not in line and line.startswith("config: entities.toml: entity ") for line in lines)
    text = "\n".join(lines)
    assert "entity #2 'Bad Id': field 'id'" in text
    assert "entity #3 'nokind': field 'kind'" in text
    assert "entity #4 'noalias': field 'aliases': needs at least one alias" in text
    assert "entity #5 'vague': field 'context'" in text
    assert "entity #6 'punct': field 'aliases' item #2: '--' has no letters or digits" in text
    assert "entity #7 'good': field 'id': duplicate id" in text
    assert "entity 'orphan': field 'parent': no entity 'nobody'" in text
    assert len(lines) == 7


def test_a_file_that_is_not_toml_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "entities.toml").write_text("[[entity]\nid = ", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"entities.toml: not valid TOML"):
        load_entities(tmp_path)


def test_a_config_without_entities_toml_gets_the_shipped_one(tmp_path: Path) -> None:
    assert load_entities(tmp_path).fingerprint == SHIPPED.fingerprint


# --- matching -------------------------------------------------------------------------------------------------


def test_english_and_spanish_names_aliases_and_accents() -> None:
    assert ids("El Cártel de Jalisco Nueva Generación (CJNG) y el cartel de jalisco") == {"cjng"}
    assert found("Jalisco New Generation Cartel leader El Mencho") == [
        ("cjng", "Jalisco New Generation Cartel"), ("el-mencho", "El Mencho")]  # fmt: skip
    assert ids("NEMESIO OSEGUERA CERVANTES fue visto") == {"el-mencho"}
    assert ids("Hezbolá y Hamás; Hizballah and Hamas") == {"hezbollah", "hamas"}
    assert ids("La Chapiza contra Los Mayos en Culiacán") == {"los-chapitos", "la-mayiza"}
    assert ids("Ismael 'El Mayo' Zambada and Iván Archivaldo Guzmán") == {"el-mayo", "ivan-archivaldo-guzman"}
    assert ids("MS-13, MS 13 and ms13 are one gang; la Mara Salvatrucha") == {"ms-13"}
    assert ids("Tren de Aragua (TdA)") == {"tren-de-aragua"}


def test_the_longest_name_wins_and_overlaps_count_once() -> None:
    assert found("Cártel de Jalisco Nueva Generación") == [("cjng", "Cártel de Jalisco Nueva Generación")]
    assert found("La Nueva Familia Michoacana") == [("lnfm", "La Nueva Familia Michoacana")]
    assert found("ISIS-K claimed it; ISIS did not") == [("isis-k", "ISIS-K"), ("islamic-state", "ISIS")]


def test_word_boundaries() -> None:
    assert ids("Hamasaki and Hezbollahs") == set()
    assert ids("Tijuanas, Pharrell, Zetasoft, Otayo") == set()
    assert ids("the Israel-Hamas war") == {"hamas"}
    # A name does not run across a sentence's end or a comma.
    assert ids("They went to Sinaloa. Cartel members followed.") == set()


def test_ambiguous_names_need_their_context() -> None:
    assert ids("Los Metros, la facción del Cártel del Golfo en Reynosa") == {"los-metros", "gulf-cartel"}
    assert ids("Corrió 400 metros antes de caer") == set()
    assert ids("El terreno mide 300 metros cuadrados, cerca de Matamoros") == set()  # a `not` phrase vetoes it
    assert ids("CDS spreads widened on the bond market") == set()
    assert ids("Members of the CDS, the Sinaloa cartel, were arrested") == {"sinaloa-cartel"}
    assert ids("Los mayos celebran su fiesta tradicional en Sonora") == set()
    assert ids("La monarca es una mariposa. Officers at the port of Nogales") == {"nogales"}
    assert found("Mariposa port officers in Nogales") == [("nogales", "Mariposa port"), ("nogales", "Nogales")]


def test_case_and_not_phrases_keep_common_words_out() -> None:
    assert ids("Con el paso de los años, el paso fronterizo cerró") == set()
    assert ids("Migrants crossed near El Paso, Texas") == {"el-paso"}
    assert ids("EL PASO, Texas — officers said") == {"el-paso"}
    assert found("Nuevo Laredo y Laredo, Texas") == [("nuevo-laredo", "Nuevo Laredo"), ("laredo", "Laredo")]
    assert ids("en el mayo pasado llovió") == set()


def test_the_misspelt_noroeste_is_the_noreste_cartel_but_the_word_alone_is_not() -> None:
    assert ids("el Cártel del Noroeste en Nuevo Laredo") == {"cdn", "nuevo-laredo"}
    assert ids("Noroeste, el diario de Sinaloa") == set()


def test_titles_summaries_and_text_are_all_matched() -> None:
    mentions = matcher_for(SHIPPED).match({"title": "Hamas", "summary": "Hezbollah", "text": "al-Qaeda"})
    assert [(m.field, m.entity_id) for m in mentions] == [("title", "hamas"), ("summary", "hezbollah"),
                                                          ("text", "al-qaeda")]  # fmt: skip


# --- storage --------------------------------------------------------------------------------------------------


def _items(db: Database) -> list[int]:
    with db.session() as s:
        add_source(s, "wire")
        return [
            add_item(s, "wire", "CJNG and Los Chapitos clash", "El Mencho's men fought La Chapiza near Culiacán.",
                     seen=utc(2026, 1, 5)),
            add_item(s, "wire", "Hezbollah financing", "Hezbollah and Hamas raised money; Hezbollah again.",
                     seen=utc(2026, 1, 6)),
            add_item(s, "wire", "Weather in Tucson", "Sunny and dry.", seen=utc(2026, 1, 7)),
        ]  # fmt: skip


def test_every_mention_is_stored_with_its_field_and_surface(db: Database) -> None:
    first, second, third = _items(db)
    matcher = matcher_for(SHIPPED)
    with db.session() as s:
        sync_entities(s, SHIPPED)
        match_items(s, matcher, [first, second, third], now=utc(2026, 1, 8))
    with db.session() as s:
        rows = {
            (r.item_id, r.entity_id, r.field, r.surface): r.count
            for r in s.scalars(select(EntityMention).order_by(EntityMention.id))
        }
        assert rows[(first, "cjng", "title", "CJNG")] == 1
        assert rows[(first, "los-chapitos", "text", "La Chapiza")] == 1
        assert rows[(first, "el-mencho", "summary", "El Mencho")] == 1
        assert rows[(second, "hezbollah", "text", "Hezbollah")] == 2
        assert not any(key[0] == third for key in rows)
        assert set(s.scalars(select(EntityScan.item_id))) == {first, second, third}
        assert s.get(Entity, "cjng") is not None and s.get(Entity, "cjng").kind == "organisation"  # type: ignore[union-attr]
        shown = item_entities(s, first)
        assert [e.entity_id for e in shown] == ["los-chapitos", "cjng", "el-mencho"]  # title first, then most named
        assert resolve_entity(s, "el mencho") == ("el-mencho", [])
        assert resolve_entity(s, "Cártel de Jalisco Nueva Generación") == ("cjng", [])
        assert resolve_entity(s, "CJNG") == ("cjng", [])
        assert resolve_entity(s, "hezbolah")[0] is None and "hezbollah" in resolve_entity(s, "hezbolah")[1]
    # Matching again replaces, never adds.
    with db.session() as s:
        match_items(s, matcher, [first], now=utc(2026, 1, 9))
        again = {(r.entity_id, r.field, r.surface) for r in s.scalars(select(EntityMention).where(
            EntityMention.item_id == first))}  # fmt: skip
        assert again == {key[1:] for key in rows if key[0] == first} and len(again) == 6


def test_changing_entities_toml_matches_stored_items_again(db: Database, tmp_path: Path) -> None:
    first, second, _ = _items(db)
    config = tmp_path / "config"
    config.mkdir()
    (config / "entities.toml").write_text(
        '[[entity]]\nid = "hamas"\nname = "Hamas"\nkind = "organisation"\naliases = ["Hamas"]\n', encoding="utf-8"
    )
    ctx = Context(config, db.url)
    assert match_entities(ctx, db).items == 3
    assert match_entities(ctx, db).items == 0  # nothing new, nothing changed: nothing to do
    with db.session() as s:
        assert {r.entity_id for r in s.scalars(select(EntityMention))} == {"hamas"}
    (config / "entities.toml").write_text(
        '[[entity]]\nid = "hezbollah"\nname = "Hezbollah"\nkind = "organisation"\naliases = ["Hezbollah"]\n'
        '[[entity]]\nid = "bad"\nkind = "x"\n',
        encoding="utf-8",
    )
    run = match_entities(ctx, db)
    assert run.items == 3 and len(run.problems) == 1 and "entity #2 'bad'" in run.problems[0]
    with db.session() as s:
        assert {(r.item_id, r.entity_id) for r in s.scalars(select(EntityMention))} == {(second, "hezbollah")}
        assert list(s.scalars(select(Entity.id))) == ["hezbollah"]
        fingerprint = load_entities(config).fingerprint
        assert list(unmatched_ids(s, fingerprint)) == []
        assert sum(len(c) for c in unmatched_ids(s, fingerprint, everything=True)) == 3
    assert match_entities(ctx, db, everything=True).items == 3  # --rematch forces it
    assert first


def test_a_crawl_of_a_local_feed_stores_the_mentions(tmp_path: Path, sqlite_url: str, server: TestServer) -> None:
    items = [
        feedgen.item(1, server.base, title="Treasury sanctions Tren de Aragua cell in El Paso",
                     summary="<p>Officials said the cell worked with the Cártel de Sinaloa.</p>"),
        feedgen.item(2, server.base, title="Weather", summary="<p>Sunny.</p>"),
    ]  # fmt: skip
    server.add("/feed", Reply(body=feedgen.rss20(items)))
    db = Database(sqlite_url)
    try:
        run(db, fast_settings(tmp_path), catalog(source("wire", server.url("/feed"))))
        with db.session() as s:
            rows = {(r.entity_id, r.field, r.surface) for r in s.scalars(select(EntityMention))}
            assert rows == {
                ("tren-de-aragua", "title", "Tren de Aragua"),
                ("el-paso", "title", "El Paso"),
                ("sinaloa-cartel", "summary", "Cártel de Sinaloa"),
            }
            assert len(list(s.scalars(select(EntityScan)))) == 2  # the weather item was matched too: nothing found
            assert list(unmatched_ids(s, SHIPPED.fingerprint)) == []
    finally:
        db.close()
