"""Feed text never steers a spreadsheet or a terminal: formulas are neutralised, controls and bidi shown as escapes."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from aggregator.models import Item
from aggregator.search.export import csv_cell
from aggregator.store.database import Database
from aggregator.text import show_controls
from aggregator.web.markup import environment
from tests.crawling import catalog, fast_settings, run, source
from tests.feedgen import item, rss20
from tests.httpserver import Reply, TestServer
from tests.test_cli import agg

REPO = Path(__file__).resolve().parents[1]
FORMULAS = ['=HYPERLINK("http://evil.example/","click me")', "=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "+1+cmd|' /C calc'!A0", "-2+3"]  # fmt: skip
RLO = "\u202e"


@pytest.mark.parametrize("value", [*FORMULAS, "\tTAB", "\rCR"])
def test_a_cell_that_a_spreadsheet_would_run_gets_a_leading_apostrophe(value: str) -> None:
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Cártel de Sinaloa", "a = b", "", "2026-11-24T03:00:00Z", 42, None, 0.5])
def test_other_cells_are_kept(value: object) -> None:
    assert csv_cell(value) == value


def test_controls_and_bidi_overrides_are_shown_not_obeyed() -> None:
    assert show_controls(f"invoice{RLO}fdp.exe") == "invoice\\u202efdp.exe"
    assert show_controls("red \x1b[31malert") == "red \\x1b[31malert"
    assert show_controls("line one\nline two\ttab") == "line one\nline two\ttab"
    assert show_controls("line one\nline two", breaks=True) == "line one\\x0aline two"
    assert show_controls("Ciudad Juárez — 5 muertos") == "Ciudad Juárez — 5 muertos"


def test_pages_show_bidi_overrides_as_text() -> None:
    page = environment(ZoneInfo("UTC")).from_string("<p>{{ title }}</p>").render(title=f"Sinaloa{RLO}txt.exe")
    assert RLO not in page and "Sinaloa\\u202etxt.exe" in page


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real crawl of a feed whose titles are formulas and bidi tricks, stored in SQLite."""
    tmp = tmp_path_factory.mktemp("hostile")
    with TestServer() as server:
        titles = [*FORMULAS, f"Cartel leader arrested{RLO}gpj.exe", "Plain cartel report from Sinaloa"]
        items = [item(n, server.base, title=title) for n, title in enumerate(titles)]
        server.add("/feed", Reply(body=rss20(items)))
        settings = fast_settings(tmp)
        url = f"sqlite:///{tmp / 'hostile.sqlite'}"
        db = Database(url)
        run(db, settings, catalog(source("hostile", server.url("/feed"))))
        db.close()
    config = tmp / "config"
    config.mkdir()
    (config / "settings.toml").write_text(f'data_dir = "{tmp / "data"}"\n', encoding="utf-8")
    shutil.copy(REPO / "config" / "topics.toml", config / "topics.toml")
    (config / "sources.toml").write_text("", encoding="utf-8")
    return config, url


def _titles_from_csv(text: str) -> list[str]:
    return [row["title"] for row in csv.DictReader(io.StringIO(text))]


def test_export_csv_neutralises_formulas_from_a_crawled_feed(crawled: tuple[Path, str]) -> None:
    config, url = crawled
    result = agg("--config", str(config), "--db", url, "export", "--format", "csv")
    assert result.returncode == 0, result.stderr
    titles = _titles_from_csv(result.stdout)
    assert len(titles) == len(FORMULAS) + 2  # every item of the feed, none lost
    for formula in FORMULAS:
        assert "'" + formula in titles
    assert not [t for t in titles if t.startswith(("=", "+", "-", "@"))]


def test_search_csv_neutralises_formulas(crawled: tuple[Path, str]) -> None:
    config, url = crawled
    result = agg("--config", str(config), "--db", url, "search", "cmd", "--format", "csv")
    assert result.returncode == 0, result.stderr
    titles = _titles_from_csv(result.stdout)
    assert titles and all(t.startswith("'") for t in titles)


def test_explain_and_the_search_table_show_the_override(crawled: tuple[Path, str]) -> None:
    config, url = crawled
    db = Database(url)
    with db.session() as session:
        item_id = session.scalar(select(Item.id).where(Item.title.contains(RLO)))
    db.close()
    assert item_id is not None  # stored as the feed sent it: only what is shown is escaped
    explained = agg("--config", str(config), "--db", url, "explain", str(item_id))
    assert explained.returncode == 0, explained.stderr
    assert RLO not in explained.stdout and "\\u202e" in explained.stdout
    table = agg("--config", str(config), "--db", url, "search", "leader")
    assert table.returncode == 0, table.stderr
    assert RLO not in table.stdout and "\\u202e" in table.stdout
