"""`aggregator trace`: claims, their matches in both languages, named outlets, input from files and URLs, output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator.cli.main import cli
from aggregator.config.sources import SourceConfig, parse_sources
from aggregator.errors import FetchError
from aggregator.store.database import Database
from aggregator.trace.claims import listed_sources, split_claims
from aggregator.trace.reading import fetch_text, plain_text
from aggregator.trace.render import render_trace
from aggregator.trace.tracing import Trace, trace_text
from tests.crawling import fast_settings
from tests.digestdata import add_item, add_source, utc
from tests.httpserver import Reply, TestServer

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "seed" / "reporter-blog-post.txt"
ZONE = "America/Mexico_City"

SOURCES_TOML = """
[[source]]
id = "insightcrime-en"
name = "InSight Crime"
kind = "feed"
url = "https://insightcrime.example/feed"
language = "en"
tier = "research"

[[source]]
id = "cronica"
name = "Crónica del Norte"
kind = "feed"
url = "https://cronica.example/feed"
language = "es"
tier = "news"

[[source]]
id = "gitoc"
name = "Global Initiative Against Transnational Organized Crime"
aliases = ["GI-TOC"]
kind = "feed"
url = "https://gitoc.example/feed"
language = "en"
tier = "research"

[[source]]
id = "wire"
name = "Border Wire"
kind = "feed"
url = "https://wire.example/feed"
language = "en"
tier = "news"
"""

FRAGMENTACION = (
    "La estrategia de capturar a los líderes de los cárteles fragmentó a las organizaciones en facciones más "
    "pequeñas y violentas, según un estudio. Cada detención de un capo fue seguida por una división del grupo."
)
LAUNDERING = (
    "Prosecutors said the network laundered money for several armed groups designated as terrorist "
    "organizations. The bank accounts moved millions of dollars through Panama."
)
AVOCADO = "Avocado growers in Michoacán report that extortion demands doubled this season. Prices rose."


def _sources() -> tuple[SourceConfig, ...]:
    return parse_sources(SOURCES_TOML, Path("sources.toml")).sources


@pytest.fixture
def collection(db_url: str) -> Database:
    db = Database(db_url)
    with db.session() as session:
        add_source(session, "insightcrime-en", name="InSight Crime", tier="research")
        add_source(session, "cronica", name="Crónica del Norte", language="es")
        add_source(session, "gitoc", name="Global Initiative Against Transnational Organized Crime")
        add_source(session, "wire", name="Border Wire")
        add_item(session, "cronica", "Capturas de líderes fragmentan a los cárteles", FRAGMENTACION,
                 seen=utc(2026, 11, 20, 12), published=utc(2026, 11, 20, 3), language="es")  # fmt: skip
        add_item(session, "wire", "Network laundered money for terrorist groups", LAUNDERING,
                 seen=utc(2026, 11, 21, 12), published=utc(2026, 11, 21, 2), language="en")  # fmt: skip
        add_item(session, "insightcrime-en", "Extortion of avocado growers doubles", AVOCADO,
                 seen=utc(2026, 11, 22, 12), published=utc(2026, 11, 22), language="en")  # fmt: skip
        add_item(session, "gitoc", "<script>alert(1)</script> Cartels launder money for terrorist groups",
                 "A report found cartels laundered money for armed groups designated as terrorist organizations.",
                 seen=utc(2026, 10, 1), published=utc(2026, 10, 1), language="en")  # fmt: skip
    yield db
    db.close()


def _trace(db: Database, text: str, **options: object) -> Trace:
    with db.session() as session:
        return trace_text(session, text, _sources(), **options)  # type: ignore[arg-type]


def test_an_english_claim_is_matched_by_a_spanish_item(collection: Database) -> None:
    trace = _trace(collection, "Targeting cartel leaders caused fragmentation into smaller and more violent factions.")
    (claim,) = trace.claims
    assert [m.language for m in claim.matches][:1] == ["es"]
    best = claim.matches[0]
    assert best.source_id == "cronica" and best.source_name == "Crónica del Norte"
    # The quote is the item's sentence that says it, verbatim.
    assert best.quote == FRAGMENTACION.split(". ")[0] + "."
    assert best.published_at == utc(2026, 11, 20, 3)


def test_a_spanish_claim_is_matched_by_an_english_item(collection: Database) -> None:
    trace = _trace(collection, "La red lavó dinero para grupos armados designados como organizaciones terroristas.")
    (claim,) = trace.claims
    ids = {m.source_id: m for m in claim.matches}
    assert "wire" in ids and ids["wire"].language == "en"
    assert ids["wire"].quote == LAUNDERING.split(". ")[0] + "."
    assert all(m.source_id != "insightcrime-en" for m in claim.matches)  # the avocado story bears on nothing here


def test_a_named_outlet_without_a_matching_item_says_so(collection: Database) -> None:
    text = (
        "According to InSight Crime, cartels laundered money for armed groups designated as terrorist "
        "organizations. A report by Foreign Policy found that cartels laundered money for terrorist groups. "
        "GI-TOC documented that cartels laundered money for armed groups designated as terrorist organizations."
    )
    trace = _trace(collection, text)
    insight, foreign, gitoc = (claim.cited[0] for claim in trace.claims)
    assert (insight.name, insight.source_id, insight.own) == ("InSight Crime", "insightcrime-en", [])
    assert (foreign.name, foreign.source_id, foreign.own) == ("Foreign Policy", None, None)
    assert gitoc.source_id == "gitoc" and gitoc.own and gitoc.own[0].source_id == "gitoc"  # found by its alias
    assert all(claim.matches for claim in trace.claims)  # other outlets' items still match the claims
    shown = render_trace(trace, "text", _zone())
    assert "cites InSight Crime (insightcrime-en): none of its items matches this claim" in shown
    assert "cites Foreign Policy (not a configured source)" in shown
    assert [n.name for n in trace.named] == ["InSight Crime", "Foreign Policy", "GI-TOC"]


def test_a_claim_with_no_match_says_so(collection: Database) -> None:
    trace = _trace(collection, "The new factions signed a peace treaty with the government of Iceland last spring.")
    assert trace.claims[0].matches == []
    assert "nothing in the collection matches this claim" in render_trace(trace, "text", _zone())
    assert "nothing in the collection matches this claim" in render_trace(trace, "md", _zone())


def test_within_since_and_limit_narrow_the_collection(collection: Database) -> None:
    claim = "Cartels laundered money for armed groups designated as terrorist organizations."
    assert {m.source_id for m in _trace(collection, claim).claims[0].matches} >= {"wire", "gitoc"}
    only_wire = _trace(collection, claim, within="source:wire").claims[0].matches
    assert [m.source_id for m in only_wire] == ["wire"]
    recent = _trace(collection, claim, since=utc(2026, 11, 1).date()).claims[0].matches
    assert "gitoc" not in {m.source_id for m in recent} and recent
    assert len(_trace(collection, claim, limit=1).claims[0].matches) == 1


def test_boilerplate_is_not_a_claim() -> None:
    text = """Sunday, July 14, 2024

Cartels and militias are trading weapons

 Jane Roe syndicated investigative reporter

By Jane Roe

Cartels in Sinaloa have traded rifles with militias across the border for two years. Is this new?

For your investigative report, it would be beneficial to explore these dynamics further.

Subscribe to our newsletter for weekly updates on the border.

Sources:

  • Border Wire
  • InSight Crime

No comments:
"""
    claims = [c.text for c in split_claims(text)]
    assert claims == ["Cartels in Sinaloa have traded rifles with militias across the border for two years."]
    assert listed_sources(text) == ["Border Wire", "InSight Crime"]


def test_markdown_and_html_are_read_as_their_text() -> None:
    md = "# A heading\n\nThe **cartel** moved [fentanyl](https://x.example/a) through *Nogales* last week.\n"
    assert [c.text for c in split_claims(plain_text(md))] == ["The cartel moved fentanyl through Nogales last week."]
    html = ("<html><body><nav>Home · About</nav><article><h1>Title</h1><p>The cartel moved fentanyl through "
            "Nogales last week, officials said.</p></article></body></html>")  # fmt: skip
    assert "The cartel moved fentanyl through Nogales last week, officials said." in plain_text(html)


def test_json_from_the_command_line(collection: Database, db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    (config / "sources.toml").write_text(SOURCES_TOML, encoding="utf-8")
    text = tmp_path / "post.txt"
    text.write_text("According to InSight Crime, targeting cartel leaders caused fragmentation into smaller "
                    "factions.\n\nSources:\n- InSight Crime\n", encoding="utf-8")  # fmt: skip
    result = CliRunner().invoke(
        cli, ["--config", str(config), "--db", db_url, "trace", str(text), "--format", "json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    (claim,) = body["claims"]
    assert set(claim) >= {"text", "cited", "matches"}
    assert claim["cited"][0]["name"] == "InSight Crime" and claim["cited"][0]["source_id"] == "insightcrime-en"
    match = claim["matches"][0]
    assert set(match) >= {"item_id", "url", "source_id", "title", "published_at", "language", "score", "quote"}
    assert match["published_at"] == "2026-11-20T03:00:00Z" and match["language"] == "es"
    assert match["captured_at"] is None  # the capture half of issue 15 fills it in
    stdin = CliRunner().invoke(cli, ["--config", str(config), "--db", db_url, "trace", "-"], input="No.\n")
    assert stdin.exit_code == 0 and "0 claims traced" in stdin.stdout


def test_html_escapes_hostile_titles(collection: Database) -> None:
    trace = _trace(collection, "Cartels launder money for armed groups designated as terrorist organizations.")
    assert any("<script>" in m.title for m in trace.claims[0].matches)
    page = render_trace(trace, "html", _zone())
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    md = render_trace(trace, "md", _zone())
    assert "<script>" not in md


def test_a_url_is_fetched_through_the_crawl_engine(tmp_path: Path, server: TestServer) -> None:
    page = (b"<html><head><title>Post</title></head><body><nav>Menu</nav><article><h1>Cartels and militias</h1>"
            b"<p>Cartels in Sinaloa have traded rifles with militias across the border for two years.</p>"
            b"<p>Officials in Sonora said the trade began after the arrest of a regional boss.</p>"
            b"</article></body></html>")  # fmt: skip
    server.add("/post.html", Reply(body=page, content_type="text/html; charset=utf-8"))
    text = fetch_text(server.url("/post.html"), fast_settings(tmp_path))
    assert "Cartels in Sinaloa have traded rifles" in text and "Menu" not in text
    assert server.hits("/post.html")
    # Without allow_networks, 127.0.0.1 is a private address the crawler refuses.
    strict = fast_settings(tmp_path, allow_networks=[])
    with pytest.raises(FetchError, match="private|loopback|not allowed|refused"):
        fetch_text(server.url("/post.html"), strict)
    assert len(server.hits("/post.html")) == 1


def test_the_seed_post_against_the_demo_collection(db_url: str, tmp_path: Path) -> None:
    if not SEED.exists():
        pytest.skip(f"the seed post is not here ({SEED}): ../shared is absent")
    from aggregator.demo import SITE_DIR, demo_catalog
    from aggregator.demo.server import SiteServer
    from tests.crawling import run

    db = Database(db_url)
    with SiteServer(SITE_DIR) as site:
        catalog = demo_catalog(site.base)
        run(db, fast_settings(tmp_path), catalog)
    text = SEED.read_text(encoding="utf-8")
    with db.session() as session:
        demo = trace_text(session, text, catalog.sources)
        default = trace_text(
            session, text, parse_sources((REPO / "config" / "sources.toml").read_text(), Path("s")).sources
        )
    db.close()
    assert len(demo.claims) >= 10
    assert not any(c.text.startswith(("For your", "Sources:", "No comments", "Michael Webster")) for c in demo.claims)
    named = {n.name: n.source_id for n in demo.named}
    assert named == {"University of Arizona Press": None, "InSight Crime": None, "Foreign Policy": None}
    assert {n.name: n.source_id for n in default.named} == {
        "University of Arizona Press": "uapress-author-news", "InSight Crime": "insightcrime-en",
        "Foreign Policy": "foreignpolicy",
    }  # fmt: skip
    fragmentation = next(c for c in demo.claims if "fragmentation" in c.text)
    assert {m.language for m in fragmentation.matches} == {"en", "es"}
    assert any("splinter" in m.title.lower() for m in fragmentation.matches)
    assert any(c.cited and c.cited[0].own is None for c in demo.claims)  # InSight Crime: not a demo outlet


def _zone():  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo(ZONE)


def test_the_trace_page(collection: Database, db_url: str, tmp_path: Path) -> None:
    import httpx

    from aggregator.config.settings import Settings
    from aggregator.web import create_app
    from tests.webserver import WebServer

    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    (config / "sources.toml").write_text(SOURCES_TOML, encoding="utf-8")
    settings = Settings(timezone=ZONE, data_dir=str(tmp_path / "data"))
    settings.config_dir = config
    claim = "According to InSight Crime, cartels launder money for armed groups designated as terrorist organizations."
    with (
        WebServer(create_app(settings, db_url, token="")) as server,
        httpx.Client(base_url=server.origin, timeout=60) as client,
    ):
        form = client.get("/trace")
        assert form.status_code == 200 and 'action="/trace"' in form.text and 'href="/trace"' in form.text
        page = client.post("/trace", data={"text": claim}, headers={"origin": server.origin})
        assert page.status_code == 200, page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>" not in page.text
        assert "cites InSight Crime: none of its items matches this claim" in page.text
        assert "Network laundered money for terrorist groups" in page.text
        # Times in the reporter's zone: 02:00 UTC on 21 November is 20:00 on the 20th in Mexico City.
        assert "2026-11-20 20:00" in page.text
        assert client.post("/trace", data={"text": claim}, headers={"origin": "http://evil.example"}).status_code == 403
        assert client.post("/trace", data={"text": claim}).status_code == 403
        bad = client.post("/trace", data={"text": claim, "within": "source:nowhere"}, headers={"origin": server.origin})
        assert bad.status_code == 400 and "unknown source" in bad.text
