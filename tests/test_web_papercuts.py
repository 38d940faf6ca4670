"""Issue #12's web paper cuts: the chart by day, a whole legend, dates in the reporter's zone, the digest page's
background, and search relevance that counts the tags (on SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from lxml import etree, html

from aggregator.config.settings import Settings
from aggregator.store.database import Database
from aggregator.web import create_app
from aggregator.web.chart_page import CHART_DAYS
from tests.digestdata import REPO, add_item, add_source, utc
from tests.test_web import DIGEST_DATE, TOKEN, Seeded, seed
from tests.webserver import WebServer

SVG = "{http://www.w3.org/2000/svg}"
BORDER_LABEL = "Border security & migration enforcement"  # topics.toml's label for border_security


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    tmp = tmp_path_factory.mktemp("papercuts")
    return seed(f"sqlite:///{tmp / 'web.sqlite'}", tmp)


@pytest.fixture(scope="module")
def client(seeded: Seeded) -> Iterator[httpx.Client]:
    app = create_app(seeded.settings, seeded.url, token=TOKEN, allowed_hosts=["127.0.0.1", "localhost"])
    with WebServer(app) as srv, httpx.Client(base_url=srv.origin, timeout=30) as c:
        yield c


def svg_of(page: str) -> etree._Element:
    """The chart's <svg> element, parsed as XML (the SVG file, or the one the chart page embeds)."""
    found = re.search(r"<svg\b.*?</svg>", page, re.DOTALL)
    assert found, page[:500]
    return etree.fromstring(found.group(0).encode())


# --- the chart ----------------------------------------------------------------------------------------------------


def test_the_chart_and_the_api_count_by_day(client: httpx.Client) -> None:
    page = client.get("/chart", params={"by": "day", "per": "all"})
    assert page.status_code == 200, page.text[:500]
    tree = html.fromstring(page.text)
    assert tree.xpath("//select[@name='by']/option[@selected]/@value") == ["day"]
    circles = svg_of(page.text).findall(f".//{SVG}circle")
    # Without since, by day draws (at most) the CHART_DAYS days up to the newest item: one point per day, where
    # the whole collection would be drawn by day from its first item (in early May): fewer points.
    days = [c.find(f"{SVG}title").text.split(", ")[1].split(":")[0] for c in circles]  # "all, 2026-06-02: 1"
    assert CHART_DAYS - 2 <= len(days) <= CHART_DAYS and days[-1] == "2026-06-02"
    dates = [date.fromisoformat(d) for d in days]
    assert all(b - a == timedelta(days=1) for a, b in zip(dates, dates[1:], strict=False))
    assert f"last {CHART_DAYS} days" in tree.xpath("//figcaption")[0].text_content()
    # A given range is drawn as given; the SVG file answers by day too.
    ranged = {"by": "day", "per": "topic", "since": "2026-05-25", "until": "2026-06-02"}
    svg = client.get("/chart.svg", params=ranged)
    assert svg.status_code == 200
    lines = svg_of(svg.text).findall(f".//{SVG}g[@class='series']")
    assert lines and all(len(g.findall(f"{SVG}circle")) == 9 for g in lines)
    volume = client.get("/api/volume", params=ranged).json()
    assert volume["by"] == "day" and volume["periods"][0] == "2026-05-25" and len(volume["periods"]) == 9
    assert sum(volume["series"]["cartels"]) == 3  # the two lab stories and the hostile item, on 2 June
    # The period bound still holds by day on the chart page.
    assert client.get("/chart", params={"by": "day", "since": "0001-01-02", "until": "9999-12-30"}).status_code == 400


def test_the_legend_names_a_long_topic_whole_in_readable_text(client: httpx.Client) -> None:
    svg = svg_of(client.get("/chart.svg", params={"per": "topic"}).text)
    assert int(svg.get("font-size")) >= 12
    legend = svg.find(f"{SVG}g[@class='legend']")
    assert legend is not None
    texts = [" ".join("".join(t.itertext()).split()) for t in legend.findall(f"{SVG}text")]
    # itertext includes the <title>: the visible lines follow it; the whole label and its count are drawn.
    assert any(f"{BORDER_LABEL} (4)" in text for text in texts), texts
    assert not any("…" in text or "..." in text for text in texts)
    # Every legend entry lies inside the drawing, below the plot.
    height, width = float(svg.get("height")), float(svg.get("width"))
    for rect in legend.findall(f"{SVG}rect"):
        assert 0 <= float(rect.get("x")) < width and 0 < float(rect.get("y")) < height


def test_the_date_inputs_are_text_in_the_reporters_zone(client: httpx.Client) -> None:
    tree = html.fromstring(client.get("/chart").text)
    for name in ("since", "until"):
        (field,) = tree.xpath(f"//input[@name='{name}']")
        assert field.get("type") == "text" and field.get("placeholder") == "YYYY-MM-DD"
        assert re.fullmatch(field.get("pattern"), "2026-06-02") and not re.fullmatch(field.get("pattern"), "06/02/2026")
        (note,) = tree.xpath(f"//*[@id='{field.get('aria-describedby')}']")
        assert "America/Mexico_City" in note.text_content()  # settings.timezone, not the browser's
    # The search form's since/until become the query language's since:/until:, days in the reporter's zone too.
    search = html.fromstring(client.get("/").text)
    (field,) = search.xpath("//input[@name='since']")
    assert field.get("type") == "text"
    assert "America/Mexico_City" in search.xpath(f"//*[@id='{field.get('aria-describedby')}']")[0].text_content()


def test_the_digest_page_takes_the_newsletters_background(client: httpx.Client) -> None:
    page = client.get(f"/digests/{DIGEST_DATE}").text
    tree = html.fromstring(page)
    body = tree.xpath("//body")[0]
    inner = tree.get_element_by_id("digest").xpath("./table")[0]  # the archived HTML's full-width outer table
    newsletter = re.search(r"background:(#[0-9a-fA-F]+)", inner.get("style", ""))
    assert newsletter, inner.get("style")
    # The page is painted the newsletter's own colour: no band of the layout's #fafaf7 beside the 680 px column.
    assert body.get("style") == f"background:{newsletter.group(1)}"
    assert "680" in inner.xpath(".//table")[0].get("width")
    # The layout's table rules (full width, left-aligned cells, borders) leave the newsletter's tables alone, or its
    # align="center" cell would put the 680 px column at the left.
    style = tree.xpath("//head/style")[0].text
    assert "table:not(#digest table){" in style and "td:not(#digest td){" in style
    assert not re.search(r"(^|[}\s])(table|td)\s*[{,]", style)  # no unscoped table or td rule
    # Other pages keep the layout's background.
    assert html.fromstring(client.get("/digests").text).xpath("//body")[0].get("style") is None


# --- relevance counts the tags ------------------------------------------------------------------------------------


def test_a_tagged_story_outranks_an_untagged_item_that_matches_as_well(db_url: str, tmp_path: Path) -> None:
    settings = Settings(timezone="America/Mexico_City", data_dir=str(tmp_path / "data"))
    settings.config_dir = REPO / "config"
    db = Database(db_url)
    with db.session() as session:
        add_source(session, "proceso", name="Proceso", language="es")
        # Titles and texts of the same length, one mention of the word each, in the text. The story is older: on
        # the text alone, the poster (newer, higher id) would win the tie.
        story = add_item(session, "proceso", "Detienen a jefe regional en Sinaloa hoy",
                         "La fiscalía detuvo al jefe regional del cártel tras un operativo nocturno en la sierra.",
                         seen=utc(2026, 6, 1, 12), language="es", tags={"cartels": 0.91})  # fmt: skip
        poster = add_item(session, "proceso", "Museo anuncia muestra de verano norte hoy",
                          "El museo presentó su cártel de verano con obras de artistas jóvenes de la región.",
                          seen=utc(2026, 6, 2, 12), language="es")  # fmt: skip
    db.close()
    with WebServer(create_app(settings, db_url, token=TOKEN)) as srv, httpx.Client(base_url=srv.origin) as c:
        ranked = c.get("/api/search", params={"q": "cártel"}).json()
        assert [h["item_id"] for h in ranked["hits"]] == [story, poster]
        assert ranked["hits"][0]["score"] > ranked["hits"][1]["score"] > 0
        assert ranked["hits"][0]["topics"] == {"cartels": 0.91} and ranked["hits"][1]["topics"] == {}
        # --sort date is unchanged: newest first, no scores.
        dated = c.get("/api/search", params={"q": "cártel", "sort": "date"}).json()
        assert [h["item_id"] for h in dated["hits"]] == [poster, story]
        assert all(h["score"] is None for h in dated["hits"])
