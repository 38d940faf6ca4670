"""The web app on a real uvicorn server: pages, JSON API, escaping, the feedback token/CSRF/origin checks, and a
real headless Chromium driving search, item, feedback and chart end to end."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from lxml import html
from sqlalchemy import select

from aggregator.config.settings import Settings
from aggregator.digest import archive
from aggregator.models import Item, ItemTopic, Label, Sighting, Source, Story
from aggregator.store.database import Database
from aggregator.stories.store import assign_stories
from aggregator.web import create_app
from aggregator.web.chart import MAX_POINTS, MAX_SERIES, OTHER, line_chart, nice_step
from aggregator.web.security import SESSION_AGE, SESSION_COOKIE, Guard
from tests.digestdata import REPO, add_item, add_source, topics, utc
from tests.test_mail import free_port
from tests.webserver import WebServer

TOKEN = "correct horse battery staple"
DIGEST_DATE = date(2026, 6, 3)
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")

HOSTILE_TITLE = '<script>window.__pwned=1</script>Cartel <img src=x onerror="window.__pwned=2"> ambush'
HOSTILE_TEXT = (
    "Gunmen linked to the cartel ambushed a convoy <script>window.__pwned=3</script> near the border. "
    '<a href="javascript:window.__pwned=4" onclick="x()">here</a> <iframe src=//evil.example></iframe>'
)
HOSTILE_SUMMARY = (
    '<p>Cartel summary <img src=x onerror="window.__pwned=5"> <a href="javascript:window.__pwned=6">link</a>'
    '<script>window.__pwned=7</script><a href="https://ok.example/a" onmouseover="x()">fine</a></p>'
)


@dataclass
class Seeded:
    url: str
    settings: Settings
    fentanyl_en: int
    fentanyl_es: int
    hostile: int
    hostile_summary: int
    story_id: int


def seed(db_url: str, tmp_path: Path) -> Seeded:
    """A small collection: a story told by two outlets, hostile items and outlet, weeks of items, one digest."""
    settings = Settings(timezone="America/Mexico_City", data_dir=str(tmp_path / "data"))
    settings.config_dir = REPO / "config"
    db = Database(db_url)
    with db.session() as session:
        add_source(session, "insight", name="InSight Crime", tier="research")
        add_source(session, "proceso", name="Proceso", language="es")
        add_source(session, "wire", name="Wire Service")
        add_source(session, "evil", name='Evil <b onmouseover="x()">Outlet</b>', tier="blog")
        evil = session.get(Source, "evil")
        assert evil is not None
        evil.error_count, evil.last_error = 2, "fetch: <script>window.__pwned=8</script> HTTP 500"
        en = add_item(
            session, "insight", "Sinaloa cartel fentanyl lab dismantled near Culiacán",
            "Soldiers dismantled a fentanyl laboratory run by the Sinaloa cartel near Culiacán on Monday, seizing "
            "precursor chemicals and pills. The army said the lab could produce a million pills a week.",
            seen=utc(2026, 6, 2, 15), published=utc(2026, 6, 2, 14), tags={"cartels": 0.93},
        )  # fmt: skip
        es = add_item(
            session, "proceso", "Desmantelan narcolaboratorio del Cártel de Sinaloa en Culiacán",
            "Militares desmantelaron un laboratorio de fentanilo del Cártel de Sinaloa cerca de Culiacán y "
            "aseguraron precursores químicos y pastillas.", seen=utc(2026, 6, 2, 18), language="es",
            tags={"cartels": 0.88},
        )  # fmt: skip
        story = Story(
            title="Sinaloa cartel fentanyl lab dismantled near Culiacán", first_seen_at=utc(2026, 6, 2, 15),
            last_seen_at=utc(2026, 6, 2, 18), first_item_id=en, first_source_id="insight", item_count=2,
            source_count=2, updated_at=utc(2026, 6, 2, 18),
        )  # fmt: skip
        session.add(story)
        session.flush()
        for item_id in (en, es):
            item = session.get(Item, item_id)
            assert item is not None
            item.story_id = story.id
        # The wire's feed carried the English article too: provenance keeps both outlets.
        session.add_all([
            Sighting(item_id=en, source_id="insight", guid="ins-1", url="https://insight.example/lab",
                     seen_at=utc(2026, 6, 2, 15)),
            Sighting(item_id=en, source_id="wire", guid="wire-1", url="javascript:window.__pwned=9",
                     seen_at=utc(2026, 6, 2, 16, 30)),
        ])  # fmt: skip
        hostile = add_item(
            session, "evil", HOSTILE_TITLE, HOSTILE_TEXT, seen=utc(2026, 6, 2, 16), url="javascript:window.__pwned=10",
            language="<b>x", tags={"cartels": 0.9},
        )  # fmt: skip
        tag = session.get(ItemTopic, (hostile, "cartels"))
        assert tag is not None
        tag.explanation = {
            "rule_score": 0.7, "rule_threshold": 0.5, "rule_passed": True,
            "hits": [{"kind": "rule", "ref": "rule #1", "term": '<script>window.__pwned=11</script>',
                      "field": "title", "weight": 0.4}],
            "ignored": ['<img src=x onerror="window.__pwned=12">'],
            "features": [['<svg onload="window.__pwned=13">', 0.5]], "threshold": 0.6,
        }  # fmt: skip
        summary_only = add_item(session, "evil", "Cartel teaser without text", "", seen=utc(2026, 6, 2, 17))
        teaser = session.get(Item, summary_only)
        assert teaser is not None
        teaser.summary = HOSTILE_SUMMARY
        # Weeks of items for the volume chart.
        for week in range(1, 5):
            add_item(session, "insight", f"Terror cell arrested, week {week}", "Police arrested a terror cell.",
                     seen=utc(2026, 5, 1, 12) + timedelta(weeks=week), tags={"terrorism": 0.8})  # fmt: skip
            add_item(session, "wire", f"Border crossings, week {week}", "Border crossings fell again.",
                     seen=utc(2026, 5, 2, 12) + timedelta(weeks=week), tags={"border_security": 0.7})  # fmt: skip
        assign_stories(session, now=utc(2026, 6, 2, 20), window=timedelta(hours=72))
        archive.build(session, settings, topics(), DIGEST_DATE, now=utc(2026, 6, 3, 20))
    db.close()
    return Seeded(db_url, settings, en, es, hostile, summary_only, story.id)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    tmp = tmp_path_factory.mktemp("web")
    return seed(f"sqlite:///{tmp / 'web.sqlite'}", tmp)


@pytest.fixture(scope="module")
def server(seeded: Seeded) -> Iterator[WebServer]:
    app = create_app(seeded.settings, seeded.url, token=TOKEN, allowed_hosts=["127.0.0.1", "localhost"])
    with WebServer(app) as srv:
        yield srv


@pytest.fixture
def client(server: WebServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.origin, timeout=30) as c:
        yield c


def labels(url: str) -> list[tuple[int, str, bool, str]]:
    db = Database(url)
    with db.session() as session:
        rows = [(lb.item_id, lb.topic, lb.value, lb.origin) for lb in session.scalars(select(Label))]
    db.close()
    return rows


# --- pages and API ----------------------------------------------------------------------------------------------


def page_paths(s: Seeded) -> list[str]:
    return [
        "/", "/?q=fentanyl", "/?q=cartel&sort=date", "/?topic=cartels&lang=en", f"/?q=story:{s.story_id}",
        f"/items/{s.fentanyl_en}", f"/items/{s.hostile}?q=cartel", f"/items/{s.hostile_summary}", "/digests",
        f"/digests/{DIGEST_DATE}", "/chart", "/chart?by=month&per=source", "/chart?per=lang", "/chart.svg?per=lang",
        "/sources", "/login",
    ]  # fmt: skip


def test_every_page_answers_200(seeded: Seeded, client: httpx.Client) -> None:
    for path in page_paths(seeded):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
    assert client.get("/items/999999").status_code == 404
    assert client.get(f"/digests/{DIGEST_DATE + timedelta(days=9)}").status_code == 404


def test_search_page_highlights_and_times_are_local(seeded: Seeded, client: httpx.Client) -> None:
    page = client.get("/", params={"q": "fentanyl", "lang": "en"}).text
    tree = html.fromstring(page)
    hits = tree.xpath("//li[@class='hit']")
    assert len(hits) == 1
    assert [m.text.lower() for m in hits[0].xpath(".//mark")] == ["fentanyl", "fentanyl"]  # title and snippet
    # Published 14:00 UTC is 08:00 in Mexico City (CST, no DST since 2022).
    assert "2026-06-02 08:00 CST" in hits[0].text_content()
    assert "(fentanyl) lang:en" in page  # the filter fields became query-language filters


def test_api_serves_json_described_by_openapi(seeded: Seeded, client: httpx.Client) -> None:
    found = client.get("/api/search", params={"q": "fentanyl"}).json()
    assert found["total"] == 1 and found["total_exact"]
    assert found["hits"][0]["item_id"] == seeded.fentanyl_en
    assert "<mark>fentanyl</mark>" in found["hits"][0]["snippet_html"] and "\x02" not in found["hits"][0]["snippet"]
    dated = client.get("/api/search", params={"topic": "cartels", "sort": "date", "limit": 2}).json()
    assert dated["query"] == "topic:cartels" and dated["total"] == 3 and len(dated["hits"]) == 2

    item = client.get(f"/api/items/{seeded.fentanyl_en}").json()
    assert item["story"]["id"] == seeded.story_id
    assert [o["item_id"] for o in item["story"]["other_items"]] == [seeded.fentanyl_es]
    assert [s["source_id"] for s in item["sightings"]] == ["insight", "wire"]
    assert item["topics"][0]["topic"] == "cartels" and item["topics"][0]["explanation"]["hits"]
    assert client.get("/api/items/999999").status_code == 404

    digests = client.get("/api/digests").json()
    assert [d["local_date"] for d in digests] == [DIGEST_DATE.isoformat()]
    content = client.get(f"/api/digests/{DIGEST_DATE}").json()["content"]
    assert content["date"] == DIGEST_DATE.isoformat()

    volume = client.get("/api/volume", params={"by": "week", "per": "topic"}).json()
    assert set(volume["series"]) == {"cartels", "terrorism", "border_security"}
    assert sum(volume["series"]["terrorism"]) == 4 and len(volume["periods"]) == len(volume["series"]["cartels"])
    sources = client.get("/api/sources").json()
    assert sources[0]["source_id"] == "evil" and sources[0]["status"] == "failing"

    spec = client.get("/openapi.json").json()
    assert {"/api/search", "/api/items/{item_id}", "/api/digests", "/api/digests/{local_date}", "/api/volume",
            "/api/sources"} <= set(spec["paths"])  # fmt: skip
    assert not any(path.startswith(("/items", "/login", "/chart")) for path in spec["paths"])  # pages are not API


def test_a_malformed_query_is_a_400_with_the_message_and_caret(client: httpx.Client) -> None:
    response = client.get("/", params={"q": "cartel AND (sinaloa"})
    assert response.status_code == 400
    error = html.fromstring(response.text).get_element_by_id("query-error")
    assert "unbalanced '(': no ')' after it" in error.text_content()
    pointer = error.xpath(".//pre")[0].text_content().split("\n")
    assert pointer == ["cartel AND (sinaloa", "           ^"]
    # The form keeps what was typed, so it can be fixed.
    assert html.fromstring(response.text).xpath("//input[@name='q']/@value") == ["cartel AND (sinaloa"]

    api = client.get("/api/search", params={"q": "unknown:thing"})
    assert api.status_code == 400 and "unknown filter 'unknown'" in api.json()["error"]
    assert api.json()["pointer"].endswith("\n^")
    for params in ({"q": "x", "tier": "bogus"}, {"q": "x", "topic": "cartels OR y"}, {"source": "nowhere"},
                   {"since": "2026-13-45"}):  # fmt: skip
        response = client.get("/", params=params)
        assert response.status_code == 400, params
        assert html.fromstring(response.text).get_element_by_id("query-error") is not None
    assert client.get("/chart", params={"q": '"open'}).status_code == 400
    assert client.get("/api/volume", params={"q": "(("}).status_code == 400
    assert client.get("/", params={"sort": "sideways", "q": "x"}).status_code == 400  # an HTML page, not a 500
    assert client.get("/api/search", params={"q": "x", "limit": 0}).status_code == 422


def assert_inert(page: str, where: str) -> None:
    """No element, attribute or URL in `page` can run script."""
    tree = html.fromstring(page)
    assert not tree.xpath("//script | //iframe | //object | //embed"), where
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (where, element.tag, name)
            if name in ("href", "src", "action", "formaction"):
                assert not value.strip().lower().startswith(("javascript:", "data:", "vbscript:")), (where, value)
    assert "window.__pwned" not in "".join(tree.xpath("//@*")), where


def test_hostile_feed_content_is_escaped_on_every_page(seeded: Seeded, client: httpx.Client) -> None:
    paths = page_paths(seeded) + ["/?q=cartel", "/?q=pwned", "/?q=summary", f"/items/{seeded.hostile}"]
    for path in paths:
        response = client.get(path)
        assert_inert(response.text, path)
        assert "default-src 'none'" in response.headers["content-security-policy"]
    item = client.get(f"/items/{seeded.hostile}").text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;Cartel" in item  # shown as the text it is
    assert "&lt;script&gt;window.__pwned=11&lt;/script&gt;" in item  # explanation terms too
    teaser = client.get(f"/items/{seeded.hostile_summary}").text
    summary = html.fromstring(teaser).get_element_by_id("item-summary")
    assert [a.get("href") for a in summary.xpath(".//a[@href]")] == ["https://ok.example/a"]  # nh3 kept the good link
    assert "Evil &lt;b onmouseover=" in client.get("/sources").text
    svg = client.get("/chart.svg", params={"per": "lang"})
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert "&lt;b&gt;x" in svg.text and "<b>" not in svg.text


def test_host_names_other_than_the_servers_are_refused(client: httpx.Client) -> None:
    # A page whose own host name resolves to 127.0.0.1 (DNS rebinding) must not read the data.
    assert client.get("/api/sources", headers={"host": "evil.example"}).status_code == 400


# --- feedback: token, session, CSRF, origin --------------------------------------------------------------------


def login(client: httpx.Client, server: WebServer, token: str = TOKEN) -> httpx.Response:
    return client.post("/login", data={"token": token, "next": "/"}, headers={"origin": server.origin})


def csrf_of(client: httpx.Client, item_id: int) -> str:
    tree = html.fromstring(client.get(f"/items/{item_id}").text)
    values = tree.xpath("//div[@id='feedback']//input[@name='csrf']/@value")
    assert values, "no feedback form: not logged in?"
    return str(values[0])


def test_feedback_needs_the_token_csrf_and_same_origin(seeded: Seeded, server: WebServer, client: httpx.Client) -> None:
    item = seeded.fentanyl_en
    before = labels(seeded.url)
    form = {"topic": "terrorism", "value": "no", "csrf": "x"}
    same = {"origin": server.origin}
    # No session at all.
    assert client.post(f"/items/{item}/feedback", data=form, headers=same).status_code == 403
    # A wrong token, or the right one from another site, gives no session.
    assert login(client, server, "wrong").status_code == 403 and SESSION_COOKIE not in client.cookies
    evil = client.post("/login", data={"token": TOKEN}, headers={"origin": "http://evil.example"})
    assert evil.status_code == 403 and SESSION_COOKIE not in client.cookies
    assert login(client, server).status_code == 303 and SESSION_COOKIE in client.cookies
    csrf = csrf_of(client, item)
    good = {"topic": "terrorism", "value": "no", "csrf": csrf}
    # Logged in, but: no CSRF token, a wrong one, another origin, no origin at all, a "null" origin.
    refused = [
        ({"topic": "terrorism", "value": "no"}, same),
        ({**good, "csrf": csrf[:-1] + ("0" if csrf[-1] != "0" else "1")}, same),
        (good, {"origin": "http://evil.example"}),
        (good, {"origin": server.origin.replace("127.0.0.1", "localhost")}),
        (good, {}),
        (good, {"origin": "null"}),
        (good, {"referer": "http://evil.example/items/1"}),
    ]
    for data, headers in refused:
        response = client.post(f"/items/{item}/feedback", data=data, headers=headers)
        assert response.status_code == 403, (data, headers)
    assert labels(seeded.url) == before  # nothing changed

    # A Referer from this site stands in for a missing Origin.
    response = client.post(f"/items/{item}/feedback", data=good, headers={"referer": server.url(f"/items/{item}")})
    assert response.status_code == 303 and response.headers["location"] == f"/items/{item}?saved=terrorism"
    assert (item, "terrorism", False, "web") in labels(seeded.url)
    page = html.fromstring(client.get(response.headers["location"]).text)
    assert "Saved your answer" in page.get_element_by_id("saved").text_content()
    assert "not about it" in page.get_element_by_id("feedback").text_content()
    # An unknown topic is refused without a 500, and so is an item that does not exist.
    assert client.post(f"/items/{item}/feedback", data={**good, "topic": "nope"}, headers=same).status_code == 400
    assert client.post("/items/999999/feedback", data=good, headers=same).status_code == 404
    # Logging out needs the CSRF token too, and ends the session.
    assert client.post("/logout", data={"csrf": "bad"}, headers=same).status_code == 403
    assert client.post("/logout", data={"csrf": csrf}, headers=same).status_code == 303
    assert SESSION_COOKIE not in client.cookies
    assert client.post(f"/items/{item}/feedback", data=good, headers=same).status_code == 403


def test_without_a_token_feedback_is_off_and_says_so(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGGREGATOR_WEB_TOKEN", raising=False)
    with WebServer(create_app(seeded.settings, seeded.url)) as srv, httpx.Client(base_url=srv.origin) as c:
        page = html.fromstring(c.get(f"/items/{seeded.fentanyl_en}").text)
        assert "Feedback is off: set [web] token in settings.toml (or AGGREGATOR_WEB_TOKEN)" in page.text_content()
        assert not page.xpath("//div[@id='feedback']//form")
        assert c.post("/login", data={"token": ""}, headers={"origin": srv.origin}).status_code == 403
        form = {"topic": "cartels", "value": "yes", "csrf": ""}
        response = c.post(f"/items/{seeded.fentanyl_en}/feedback", data=form, headers={"origin": srv.origin})
        assert response.status_code == 403 and "feedback is off" in response.text


def test_sessions_are_signed_with_the_token_and_expire() -> None:
    guard = Guard(TOKEN)
    cookie = guard.new_session(now=1_000_000)
    assert guard.session_nonce(cookie, now=1_000_000 + SESSION_AGE) is not None
    assert guard.session_nonce(cookie, now=1_000_001 + SESSION_AGE) is None  # expired
    assert Guard("another token").session_nonce(cookie, now=1_000_000) is None  # a new token ends every session
    nonce, signature = cookie.rsplit(".", 1)
    assert guard.session_nonce(f"{nonce}x.{signature}", now=1_000_000) is None
    assert Guard("").session_nonce(cookie) is None and not Guard("").token_matches("")


def test_chart_axes_are_round_and_small_series_are_summed() -> None:
    assert [nice_step(n) for n in (0, 4, 7, 12, 48, 130, 999, 12_345)] == [1, 1, 2, 5, 10, 50, 200, 5000]
    series = {f"s{n}": [n, n] for n in range(12)}
    chart = line_chart(["2026-W01", "2026-W02"], series)
    names = [line.name for line in chart.lines]
    assert len(names) == MAX_SERIES and names[0] == "s11" and names[-1] == OTHER
    assert chart.lines[-1].total == 2 * sum(range(5))  # s0..s4 folded together
    assert [t.text for t in chart.y_ticks] == ["0", "5", "10", "15"] and chart.y_ticks[-1].at == chart.top
    assert line_chart([], {}).empty
    # A stray 1970 date does not squeeze the years that matter into a corner.
    long = line_chart([f"p{n}" for n in range(MAX_POINTS + 40)], {"a": list(range(MAX_POINTS + 40))})
    assert long.hidden_periods == 40 and long.lines[0].points[0].period == "p40"


# --- the command -----------------------------------------------------------------------------------------------


def test_serve_command_serves_and_reports_a_busy_port(seeded: Seeded, server: WebServer) -> None:
    config = seeded.settings.config_dir
    base = [sys.executable, "-m", "aggregator", "--config", str(config), "--db", seeded.url, "serve"]
    usage = subprocess.run([*base, "--help"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 0 and "--host" in usage.stdout and "127.0.0.1" in usage.stdout
    busy = subprocess.run([*base, "--port", str(server.port)], capture_output=True, text=True, timeout=60)
    assert busy.returncode == 1
    assert busy.stderr.strip().splitlines()[-1].startswith(f"error: serve: cannot listen on 127.0.0.1:{server.port}")
    port = free_port()
    proc = subprocess.Popen([*base, "--port", str(port)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/sources", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "aggregator serve did not start"
                time.sleep(0.1)
        assert response.status_code == 200 and "InSight Crime" in response.text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert f"serving on http://127.0.0.1:{port}/" in err


# --- a real browser --------------------------------------------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[object]:
    if not CHROMEDRIVER.exists() or not CHROMIUM.exists():
        pytest.skip(f"the browser test needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER})")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.binary_location = str(CHROMIUM)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.slow
def test_in_a_real_browser_search_open_give_feedback_and_chart(
    seeded: Seeded, server: WebServer, browser: object
) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    assert isinstance(driver, WebDriver)
    wait = WebDriverWait(driver, 20)
    driver.get(server.url("/"))
    box = driver.find_element(By.NAME, "q")
    box.send_keys("fentanyl")
    box.submit()
    wait.until(ec.presence_of_element_located((By.ID, "result-count")))
    hits = driver.find_elements(By.CSS_SELECTOR, "li.hit")
    assert len(hits) == 1
    marks = [m.text.lower() for m in hits[0].find_elements(By.TAG_NAME, "mark")]
    assert marks and set(marks) == {"fentanyl"}

    hits[0].find_element(By.CSS_SELECTOR, ".title a").click()
    wait.until(ec.presence_of_element_located((By.ID, "item-title")))
    assert "fentanyl lab dismantled" in driver.find_element(By.ID, "item-title").text
    assert "Proceso" in driver.find_element(By.ID, "story").text  # the other outlet of the story
    assert "Wire Service" in driver.find_element(By.ID, "provenance").text

    # Feedback: log in from the item page, come back to it, answer.
    driver.find_element(By.LINK_TEXT, "Log in").click()
    token = wait.until(ec.presence_of_element_located((By.NAME, "token")))
    token.send_keys(TOKEN)
    token.submit()
    button = wait.until(ec.element_to_be_clickable((By.ID, "about-border_security")))
    assert driver.current_url.startswith(server.url(f"/items/{seeded.fentanyl_en}"))
    button.click()
    wait.until(ec.presence_of_element_located((By.ID, "saved")))
    assert (seeded.fentanyl_en, "border_security", True, "web") in labels(seeded.url)

    # Hostile pages run nothing in a real browser either.
    for path in (f"/items/{seeded.hostile}", f"/items/{seeded.hostile_summary}", "/?q=cartel", "/sources",
                 f"/digests/{DIGEST_DATE}"):  # fmt: skip
        driver.get(server.url(path))
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018
        assert driver.execute_script("return window.__pwned === undefined")

    driver.get(server.url("/chart?by=week&per=topic"))
    svg = wait.until(ec.presence_of_element_located((By.ID, "volume-chart")))
    series = {g.get_attribute("data-series") for g in svg.find_elements(By.CSS_SELECTOR, "g.series")}
    assert {"Cartels & organised crime", "Terrorism & counter-terrorism"} <= series
    legend = svg.find_element(By.CSS_SELECTOR, "g.legend").text
    assert "Terrorism & counter-terrorism (4)" in legend
    polylines = svg.find_elements(By.TAG_NAME, "polyline")
    assert len(polylines) == len(series) and all(p.get_attribute("points") for p in polylines)


# --- PostgreSQL -------------------------------------------------------------------------------------------------


def test_pages_and_api_on_both_backends(db_url: str, tmp_path: Path) -> None:
    s = seed(db_url, tmp_path)
    with WebServer(create_app(s.settings, s.url, token=TOKEN)) as srv, httpx.Client(base_url=srv.origin) as c:
        for path in page_paths(s):
            assert c.get(path).status_code == 200, path
        assert c.get("/api/search", params={"q": "fentanyl"}).json()["total"] == 1
        assert re.search(r"<mark>fentanyl</mark>", c.get("/", params={"q": "fentanyl"}).text, re.I)
        assert c.get("/", params={"q": "(("}).status_code == 400


def test_the_settings_token_turns_feedback_on(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGGREGATOR_WEB_TOKEN", raising=False)
    settings = seeded.settings.model_copy(update={"web": seeded.settings.web.model_copy(update={"token": TOKEN})})
    settings.config_dir = seeded.settings.config_dir
    with WebServer(create_app(settings, seeded.url)) as srv, httpx.Client(base_url=srv.origin) as c:
        assert c.post("/login", data={"token": "wrong"}, headers={"origin": srv.origin}).status_code == 403
        ok = c.post("/login", data={"token": TOKEN}, headers={"origin": srv.origin})
        assert ok.status_code in (200, 303) and c.cookies


def test_volume_counts_are_cached_but_never_stale(tmp_path: Path) -> None:
    from aggregator.store.database import Database
    from tests.digestdata import add_item

    seeded = seed(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path)
    with WebServer(create_app(seeded.settings, seeded.url)) as srv, httpx.Client(base_url=srv.origin) as c:

        def total() -> int:
            body = c.get("/api/volume", params={"by": "month", "per": "all"}).json()
            return sum(body["series"]["all"])

        before = total()
        assert total() == before  # the second answer comes from the cache
        db = Database(seeded.url)
        with db.session() as session:
            seen = datetime.now(UTC)
            add_item(session, "wire", "Another seizure at Nogales", "Fentanyl seized.", seen=seen)
        db.close()
        assert total() == before + 1  # a new item is a new cache key
