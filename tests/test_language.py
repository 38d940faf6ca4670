"""Each item's language from its text (the source's as the prior), sources of language "auto", and OPML imports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select

from aggregator.config.sources import load_sources, parse_sources
from aggregator.models import Item
from aggregator.parse.feeds import parse_feed
from aggregator.parse.language import MIN_LETTERS, item_language, primary
from aggregator.parse.sanitize import clean_html_to_text
from aggregator.search.hits import search
from aggregator.store.database import Database
from tests import feedgen
from tests.crawling import catalog, fast_settings, lines_by_source, run, source
from tests.digestdata import add_item, add_source, utc
from tests.httpserver import Reply, TestServer
from tests.shared_fixtures import fixtures_root
from tests.test_cli import agg

REPO = Path(__file__).resolve().parents[1]
ROOT = fixtures_root()
NO_FIXTURES = "../shared/fixtures not present (set AGGREGATOR_SHARED_FIXTURES)"

NAVOLATO_TITLE = "Navolato: cómo contar una masacre sin convertirla en espectáculo"
NAVOLATO = (
    "<p>Seis personas asesinadas y tres heridas en un taller mecánico sobre la carretera Navolato–Culiacán. Más de "
    "60 casquillos. Un adolescente de 16 años en el hospital. Son los datos que repite la Fiscalía.</p>"
    "<p>Después de más de un año de violencia por la disputa entre facciones del Cártel de Sinaloa, la tentación es "
    "reducir cada ataque a una cifra más.</p>"
)
NOGALES_TITLE = "What the Nogales fentanyl numbers do and don't tell us"
NOGALES = (
    "<p>Everyone has now seen the headline: about 1.6 million fentanyl pills found under a load of cucumbers at "
    "the Mariposa crossing in Nogales, plus 11 kilos of powder. It is a big number. Here is how I read it.</p>"
)
# A bare English headline full of Spanish names: too short to judge, so the source's language stands.
SHORT_TITLE = "Los Zetas leader arrested"
SPANISH_WIRE = (
    "<p>Elementos de la Guardia Nacional detuvieron a tres hombres armados en un retén sobre la carretera federal, "
    "informó la fiscalía del estado, que investiga su relación con un grupo criminal.</p>"
)


def _blog_feed(base: str) -> bytes:
    items = [
        feedgen.item(1, base, title=NAVOLATO_TITLE, summary=NAVOLATO),
        feedgen.item(2, base, title=NOGALES_TITLE, summary=NOGALES),
        feedgen.item(3, base, title=SHORT_TITLE, summary=""),
    ]
    return feedgen.rss20(items, title="The reporter's blog", extra_channel="<language>en-us</language>")


def _languages(db: Database, source_id: str) -> dict[str, str | None]:
    with db.session() as session:
        rows = session.execute(select(Item.title, Item.language).where(Item.source_id == source_id)).all()
    return {title: language for title, language in rows}


# --- crawls of a local server -------------------------------------------------------------------------------


def test_spanish_post_in_english_source_is_es_and_lang_es_finds_it(
    tmp_path: Path, db_url: str, server: TestServer
) -> None:
    server.add("/blog/feed", Reply(body=_blog_feed(server.base)))
    db = Database(db_url)
    lines = lines_by_source(run(db, fast_settings(tmp_path), catalog(source("blog", server.url("/blog/feed")))))
    assert lines["blog"].new == 3
    assert _languages(db, "blog") == {NAVOLATO_TITLE: "es", NOGALES_TITLE: "en", SHORT_TITLE: "en"}
    with db.session() as session:
        assert [h.title for h in search(session, "masacre lang:es").hits] == [NAVOLATO_TITLE]
        assert search(session, "masacre lang:en").hits == []
        assert [h.title for h in search(session, "fentanyl lang:en").hits] == [NOGALES_TITLE]
    db.close()


def test_source_of_language_auto_gets_each_items_language(tmp_path: Path, db_url: str, server: TestServer) -> None:
    # No <language> in the feed and "auto" in sources.toml: nothing but the text says what each item is in.
    items = [
        feedgen.item(1, server.base, title="Detienen a tres hombres armados en un retén", summary=SPANISH_WIRE),
        feedgen.item(2, server.base, title=NOGALES_TITLE, summary=NOGALES),
    ]
    server.add("/mixed", Reply(body=feedgen.rss20(items)))
    cat = catalog(source("mixed", server.url("/mixed"), language="auto"))
    assert not cat.problems and cat.by_id()["mixed"].language == "auto"
    db = Database(db_url)
    assert lines_by_source(run(db, fast_settings(tmp_path), cat))["mixed"].new == 2
    assert _languages(db, "mixed") == {"Detienen a tres hombres armados en un retén": "es", NOGALES_TITLE: "en"}
    db.close()


# --- the rule, on its own --------------------------------------------------------------------------------------


def test_short_texts_keep_the_prior_and_confident_long_ones_change_it() -> None:
    assert len(re.findall(r"[^\W\d_]", SHORT_TITLE)) < MIN_LETTERS
    assert item_language(SHORT_TITLE, "", "en") == "en"
    assert item_language("Detienen a tres en Culiacán", "", "en-US") == "en"
    spanish = clean_html_to_text(NAVOLATO)
    assert item_language(NAVOLATO_TITLE, spanish, "en") == "es"
    assert item_language(NAVOLATO_TITLE, spanish, "es-MX") == "es"
    assert item_language(NOGALES_TITLE, clean_html_to_text(NOGALES), "es") == "en"
    # Long but unclear (names and numbers): the prior stands; with no prior there is nothing to say.
    roster = "Culiacán 12, Navolato 7, Mazatlán 3, Guasave 2, Ahome 1, Elota 1, Cosalá 0, Badiraguato 0"
    assert item_language("Sinaloa", roster, "en") == "en"
    assert item_language("Sinaloa", roster, "auto") is None


def test_primary_codes() -> None:
    assert [primary(t) for t in ("es-MX", "EN", "pt_BR", "auto", "", None, "12")] == ["es", "en", "pt", *[None] * 4]


def test_source_language_auto_is_accepted_and_other_words_are_not() -> None:
    text = source("a", "https://a.example/feed", language="AUTO") + source("b", "https://b.example/feed", language="x")
    cat = parse_sources(text, Path("sources.toml"))
    assert [s.language for s in cat.sources] == ["auto"]
    assert len(cat.problems) == 1 and "or 'auto'" in cat.problems[0].message


def _real_feed_sample() -> list[tuple[str, str, str]]:
    """(language, title, text) of every entry of the real feeds whose language SOURCES.md names."""
    if ROOT is None or not (ROOT / "real-feeds").is_dir():
        pytest.skip(NO_FIXTURES)
    table = (ROOT / "real-feeds" / "SOURCES.md").read_text(encoding="utf-8")
    names = {"Spanish": "es", "French": "fr", "German": "de", "Swedish": "sv", "Russian": "ru", "Portuguese": "pt"}
    sample = []
    for row in re.finditer(r"^\| `([^`]+)` \|[^|]*\|[^|]*\| ([^|]*) \|", table, re.MULTILINE):
        file, encoding = row.groups()
        said = [code for name, code in names.items() if name in encoding]
        language = said[0] if said else ("en" if encoding.strip() == "UTF-8" else None)
        if language is None:  # legacy encodings without a language named: Chinese, Greek, Slovak...
            continue
        feed = parse_feed((ROOT / "real-feeds" / file).read_bytes(), source_id="x", url="http://127.0.0.1/feed")
        for entry in feed.entries:
            sample.append((language, entry.title, clean_html_to_text(entry.summary_html) or entry.text))
    return sample


def test_real_feeds_right_prior_stays_and_wrong_prior_is_mostly_fixed() -> None:
    sample = _real_feed_sample()
    assert len(sample) > 500
    # Source languages as configured: almost nothing moves (the few that do are posts in other languages:
    # OpenStreetMap diaries in Czech or Russian, an English Bing News item in a Spanish list).
    moved = [(lang, title) for lang, title, text in sample if item_language(title, text, lang) != lang]
    assert len(moved) <= len(sample) * 0.02, moved
    # Every source mislabelled (English ones as Spanish, the rest as English): the text wins for most items.
    fixed = sum(item_language(title, text, "es" if lang == "en" else "en") == lang for lang, title, text in sample)
    assert fixed >= len(sample) * 0.85


# --- OPML imports -------------------------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    shutil.copy(REPO / "config" / "topics.toml", directory / "topics.toml")
    (directory / "settings.toml").write_text(f'data_dir = "{tmp_path / "data"}"\n')
    (directory / "sources.toml").write_text("# Our outlets.\n")
    return directory


def _agg(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return agg("--config", str(config), "--db", f"sqlite:///{config.parent}/agg.sqlite", *args)


def test_import_of_a_real_opml_without_languages_adds_every_feed_as_auto(config: Path) -> None:
    if ROOT is None or not (ROOT / "opml/awesome-rss-feeds/countries/Mexico.opml").is_file():
        pytest.skip(NO_FIXTURES)
    result = _agg(config, "sources", "import-opml", str(ROOT / "opml/awesome-rss-feeds/countries/Mexico.opml"))
    assert result.returncode == 0, result.stderr
    assert "15 feed(s) in Mexico.opml: 15 added" in result.stdout
    catalog = load_sources(config)
    assert not catalog.problems and len(catalog.sources) == 15
    assert {s.language for s in catalog.sources} == {"auto"}  # The Guardian's English feed is not made Spanish
    assert {s.confidence.value for s in catalog.sources} == {"low"}
    export = _agg(config, "sources", "export-opml")
    assert export.stdout.count("xmlUrl=") == 15 and "language=" not in export.stdout  # "auto" is no OPML language


def test_outline_language_wins_over_the_default_and_imports_show_low_confidence(config: Path, tmp_path: Path) -> None:
    opml = tmp_path / "mine.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        '<outline text="Ríodoce" xmlUrl="https://riodoce.mx/feed/" language="es-MX"/>'
        '<outline text="Border Report" xmlUrl="https://www.borderreport.com/feed/"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    result = _agg(config, "sources", "import-opml", str(opml), "--language", "en")
    assert result.returncode == 0, result.stderr
    assert {s.id: s.language for s in load_sources(config).sources} == {"riodoce": "es", "borderreport": "en"}
    listing = _agg(config, "sources", "list")
    assert listing.returncode == 0, listing.stderr
    rows = [line.split() for line in listing.stdout.splitlines() if line.startswith(("riodoce", "borderreport"))]
    assert len(rows) == 2 and all(row[6] == "low" for row in rows), listing.stdout
    assert "high" not in listing.stdout


def test_import_that_adds_nothing_exits_non_zero(config: Path, tmp_path: Path) -> None:
    opml = tmp_path / "useless.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        '<outline text="FTP" xmlUrl="ftp://files.example/feed"/><outline text="Folder only"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    before = (config / "sources.toml").read_bytes()
    result = _agg(config, "sources", "import-opml", str(opml))
    assert result.returncode != 0, result.stdout
    assert result.stderr.strip().splitlines()[-1] == f"error: import-opml: {opml}: no feed could be added"
    assert (config / "sources.toml").read_bytes() == before
    bad_default = _agg(config, "sources", "import-opml", str(opml), "--language", "Spanish!")
    assert bad_default.returncode != 0 and "--language" in bad_default.stderr


def test_preload_and_a_caller_share_one_model() -> None:
    from aggregator.parse import language

    thread = language.preload()
    assert item_language(NAVOLATO_TITLE, clean_html_to_text(NAVOLATO), "en") == "es"  # waits for the load, if needed
    thread.join(timeout=60)
    assert not thread.is_alive() and language._loaded.cache_info().currsize == 1


def test_migration_0008_gives_stored_items_their_own_language(db_url: str) -> None:
    """Items stored before per-item detection carry their source's language; the migration mends them."""
    db = Database(db_url)
    with db.session() as session:
        add_source(session, "blog")
        spanish = add_item(
            session, "blog", NAVOLATO_TITLE, clean_html_to_text(NAVOLATO), seen=utc(2026, 11, 20, 12), language="en"
        )
        english = add_item(session, "blog", NOGALES_TITLE, clean_html_to_text(NOGALES), seen=utc(2026, 11, 20, 13),
                           language="en")  # fmt: skip
    config = Config()
    config.set_main_option("script_location", "aggregator.models:migrations")
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.stamp(config, "0007")
        command.upgrade(config, "0008")  # the migration under test; later ones create tables that exist here
    with db.session() as session:
        languages = {item_id: session.get(Item, item_id).language for item_id in (spanish, english)}  # type: ignore[union-attr]
    db.close()
    assert languages == {spanish: "es", english: "en"}
