"""The web app's bounds on a real uvicorn server: volume ranges and the volume cache, ids, Host headers on other
loopback addresses, no CDN-loaded /docs, login throttling and the web token's minimum length."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from aggregator.config.settings import Settings
from aggregator.errors import ConfigError
from aggregator.search.stats import Volume
from aggregator.store.database import Database
from aggregator.web import chart_page, create_app
from aggregator.web.context import MAX_ID
from aggregator.web.security import MIN_TOKEN_LENGTH, SESSION_COOKIE, TOKEN_ENV, LoginThrottle
from aggregator.web.sized_cache import SizedCache
from aggregator.web.volume_bounds import MAX_PERIODS, volume_bytes
from tests.digestdata import REPO, add_item, add_source, utc
from tests.test_mail import free_port
from tests.webserver import WebServer

TOKEN = "a web token of more than sixteen characters"
SOURCES = [f"outlet{n:02d}" for n in range(20)]
NEWEST = date(2026, 6, 2)
HUGE = {"by": "day", "since": "0001-01-02", "until": "9999-12-30"}


@dataclass
class Seeded:
    url: str
    settings: Settings
    item_id: int


def _settings(tmp_path: Path) -> Settings:
    settings = Settings(timezone="UTC", data_dir=str(tmp_path / "data"))
    settings.config_dir = REPO / "config"
    return settings


def seed(db_url: str, tmp_path: Path) -> Seeded:
    """Twenty outlets with an item each on NEWEST, and one archive piece published in 1995 (a plausible date)."""
    db = Database(db_url)
    with db.session() as session:
        for source in SOURCES:
            add_source(session, source, name=source.title())
            first = add_item(session, source, f"Cartel convoy seen by {source}", "Gunmen ambushed a convoy.",
                             seen=utc(2026, 6, 2, 12), tags={"cartels": 0.9})  # fmt: skip
        add_item(session, SOURCES[0], "Archive: the 1995 border crackdown", "Border agents, 1995.",
                 seen=utc(2026, 6, 1, 12), published=utc(1995, 3, 1, 12))  # fmt: skip
    db.close()
    return Seeded(db_url, _settings(tmp_path), first)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    tmp = tmp_path_factory.mktemp("bounds")
    return seed(f"sqlite:///{tmp / 'bounds.sqlite'}", tmp)


@pytest.fixture(scope="module")
def server(seeded: Seeded) -> Iterator[WebServer]:
    app = create_app(seeded.settings, seeded.url, token=TOKEN, allowed_hosts=["127.0.0.1", "localhost"])
    with WebServer(app) as srv:
        yield srv


@pytest.fixture
def client(server: WebServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.origin, timeout=60) as c:
        yield c


# --- volume: the period bound ------------------------------------------------------------------------------------


def test_a_huge_volume_range_is_refused_quickly_with_a_small_json_error(client: httpx.Client) -> None:
    started = time.perf_counter()
    response = client.get("/api/volume", params=HUGE)
    elapsed = time.perf_counter() - started
    # Before the bound: 200, 69 MB of JSON after 7 s, and some 400 MB kept in the cache.
    assert response.status_code == 400 and elapsed < 2.0 and len(response.content) < 1000
    body = response.json()
    assert body["parameter"] == "until" and body["error"].startswith("until: since=0001-01-02 to until=9999-12-30")
    assert f"at most {MAX_PERIODS:,}" in body["error"]
    # One end open is bounded too: the answer would run to (or from) the items, and no item is after NEWEST + 1.
    for params, parameter in (({"by": "day", "since": "0001-01-02"}, "since"),
                              ({"by": "day", "until": "9999-12-30"}, "until"),
                              ({"since": "2026-06-02", "until": "2026-06-01"}, "until")):  # fmt: skip
        refused = client.get("/api/volume", params=params)
        assert refused.status_code == 400 and refused.json()["parameter"] == parameter, params
    # The chart page and its SVG answer the same range with a 400 page, not a chart of millions of weeks.
    page = client.get("/chart", params={**HUGE, "by": "week"})
    assert page.status_code == 400 and "at most 3,700 are counted" in page.text and len(page.content) < 20_000
    assert client.get("/chart.svg", params={**HUGE, "by": "month"}).status_code == 400


def test_a_range_at_the_bound_is_answered(client: httpx.Client) -> None:
    since = NEWEST - timedelta(days=MAX_PERIODS - 1)
    at_bound = client.get("/api/volume", params={"by": "day", "per": "all", "since": str(since), "until": str(NEWEST)})
    assert at_bound.status_code == 200
    body = at_bound.json()
    periods = body["periods"]
    assert len(periods) == MAX_PERIODS and (periods[0], periods[-1]) == (str(since), "2026-06-02")
    assert body["series"]["all"][-1] == sum(body["series"]["all"]) == len(SOURCES)  # 1995 is before `since`
    one_more = {"by": "day", "since": str(since - timedelta(days=1)), "until": str(NEWEST)}
    assert client.get("/api/volume", params=one_more).status_code == 400
    # Weeks on the chart page: 3,700 of them (71 years) are drawn as the newest 260, one more is refused.
    monday = NEWEST - timedelta(days=NEWEST.weekday())
    first = monday - timedelta(weeks=MAX_PERIODS - 1)
    assert client.get("/chart", params={"since": str(first), "until": str(NEWEST)}).status_code == 200
    longer = {"since": str(first - timedelta(days=1)), "until": str(NEWEST)}
    assert client.get("/chart", params=longer).status_code == 400


def test_without_since_only_the_newest_periods_are_answered(client: httpx.Client) -> None:
    # The 1995 piece makes the items span 11,400 days; by day the answer keeps the newest MAX_PERIODS.
    body = client.get("/api/volume", params={"by": "day", "per": "all"}).json()
    assert len(body["periods"]) == MAX_PERIODS and body["periods"][-1] == "2026-06-02"
    assert sum(body["series"]["all"]) == len(SOURCES)
    # By month all of it fits: from March 1995 on, the archive piece included.
    monthly = client.get("/api/volume", params={"by": "month", "per": "all"}).json()
    assert monthly["periods"][0] == "1995-03" and sum(monthly["series"]["all"]) == len(SOURCES) + 1


# --- volume: the cache's byte budget -----------------------------------------------------------------------------


def test_the_volume_cache_stays_within_its_byte_budget(client: httpx.Client) -> None:
    cache = chart_page.CACHE
    cache.clear()
    answers: list[Volume] = []
    # 64 distinct ranges of 3,700 days, per outlet: each answer holds ~0.8 MB, 54 MB in all, more than the budget.
    for shift in range(chart_page.CACHE_ENTRIES):
        until = NEWEST + timedelta(days=shift % 2)
        since = until - timedelta(days=MAX_PERIODS - 1 - shift)
        response = client.get("/api/volume", params={"by": "day", "per": "source", "since": str(since),
                                                     "until": str(until)})  # fmt: skip
        assert response.status_code == 200
        body = response.json()
        answers.append(Volume(body["periods"], body["series"]))
        assert cache.total_bytes <= chart_page.CACHE_BYTES
    sizes = [volume_bytes(v) for v in answers]
    assert min(sizes) > 500_000  # big enough that the count of entries alone would not have bounded them
    # Bytes, not the entry count, pushed the oldest out; the accounting is the sum of the answers kept (the newest).
    assert len(cache) < chart_page.CACHE_ENTRIES
    assert cache.total_bytes == sum(sizes[-len(cache) :])
    assert cache.total_bytes > chart_page.CACHE_BYTES - max(sizes)
    # A repeated range is served from the cache, and counts as used: it is not the next to go.
    kept = len(cache)
    last = {"by": "day", "per": "source", "since": answers[-1].periods[0], "until": answers[-1].periods[-1]}
    assert client.get("/api/volume", params=last).json()["periods"] == answers[-1].periods
    assert len(cache) == kept


def test_the_accounting_is_what_an_answer_holds() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        periods = [(date(2016, 1, 1) + timedelta(days=n)).isoformat() for n in range(MAX_PERIODS)]
        found = Volume(periods, {source: [n % 3 for n in range(MAX_PERIODS)] for source in SOURCES})
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 0.8 * held <= volume_bytes(found) <= 1.25 * held, (volume_bytes(found), held)


def test_a_sized_cache_keeps_nothing_too_big_and_forgets_old_entries() -> None:
    now = [0.0]
    cache: SizedCache[str, bytes] = SizedCache(sizeof=len, max_bytes=100, max_entries=10, max_age=60,
                                               clock=lambda: now[0])  # fmt: skip
    assert cache.put("a", b"x" * 20) and cache.put("b", b"x" * 20)
    assert not cache.put("huge", b"x" * 26) and cache.get("huge") is None  # over a quarter of the budget
    assert cache.get("a") is not None  # used: "b" is now the least recent
    for key in "cde":
        cache.put(key, b"x" * 20)
    assert cache.total_bytes == 100 and cache.get("b") is not None
    cache.put("f", b"x" * 20)
    assert cache.get("a") is None and cache.total_bytes == 100 and len(cache) == 5  # bytes pushed "a" out
    now[0] = 61.0
    assert cache.get("b") is None and cache.total_bytes == 80  # too old


# --- ids ----------------------------------------------------------------------------------------------------------


def _routes(routes: Sequence[Any]) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, also inside included routers (FastAPI 0.16x keeps them apart)."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from _routes(nested.routes)
        for method in getattr(route, "methods", None) or ():
            yield method, route.path


def test_ids_beyond_64_bits_or_below_one_are_404_on_every_id_route(db_url: str, tmp_path: Path) -> None:
    s = seed(db_url, tmp_path)
    app = create_app(s.settings, s.url, token=TOKEN)
    # Every route that takes an item id, so that a new one cannot forget the check.
    id_routes = {(method, path) for method, path in _routes(app.routes) if "{item_id}" in path}
    assert id_routes == {("GET", "/items/{item_id}"), ("GET", "/api/items/{item_id}"),
                         ("POST", "/items/{item_id}/feedback"), ("POST", "/suggest/{item_id}")}  # fmt: skip
    largest = MAX_ID["sqlite" if s.url.startswith("sqlite") else "postgresql"]  # 64 bits on SQLite, 32 on PostgreSQL
    bad_ids = [largest + 1, 2**63, 99999999999999999999, 2**64, 10**40, 0, -1, -(2**31) - 1, -(2**63) - 1]
    with WebServer(app) as srv, httpx.Client(base_url=srv.origin, timeout=30) as c:
        assert c.post("/login", data={"token": TOKEN}, headers={"origin": srv.origin}).status_code == 303
        page = c.get(f"/items/{s.item_id}").text
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        for item_id in [*bad_ids, largest]:
            for method, path in sorted(id_routes):
                url = path.replace("{item_id}", str(item_id))
                data = {"topic": "cartels", "value": "yes", "csrf": csrf} if method == "POST" else None
                response = c.request(method, url, data=data, headers={"origin": srv.origin})
                assert response.status_code == 404, (method, url, response.text[:200])
                assert f"no item with id {item_id}" in response.text
        assert c.get(f"/api/items/{s.item_id}").status_code == 200  # the check lets real ids through


# --- serve on other loopback addresses -----------------------------------------------------------------------------


def _ipv6_loopback() -> bool:
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("host", ["127.0.0.2", "::1"])
def test_serve_answers_on_the_loopback_address_it_is_bound_to(seeded: Seeded, host: str) -> None:
    if host == "::1" and not _ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1) to bind")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    command = [sys.executable, "-m", "aggregator", "--config", str(seeded.settings.config_dir), "--db", seeded.url,
               "serve", "--host", host, "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    origin = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"{origin}/sources", timeout=5)  # Host: 127.0.0.2:PORT or [::1]:PORT
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "aggregator serve did not start"
                time.sleep(0.1)
        assert response.status_code == 200 and "Outlet00" in response.text
        # Still no answer for another site's name (DNS rebinding).
        assert httpx.get(f"{origin}/sources", headers={"host": "evil.example"}, timeout=5).status_code == 400
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert f"serving on {origin}/" in err


# --- no Swagger UI from a CDN -------------------------------------------------------------------------------------


def test_docs_is_gone_and_the_csp_covers_every_response(client: httpx.Client) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 404
    for marker in ("cdn", "jsdelivr", "swagger", "<script"):
        assert marker not in docs.text.lower()
    spec = client.get("/openapi.json")
    assert spec.status_code == 200 and "/api/volume" in spec.json()["paths"]
    for path in ("/", "/docs", "/openapi.json", "/api/sources", "/chart", "/login", "/items/0"):
        assert "default-src 'none'" in client.get(path).headers["content-security-policy"], path
    assert 'href="/openapi.json"' in client.get("/").text and 'href="/docs"' not in client.get("/").text


# --- login throttling ---------------------------------------------------------------------------------------------


def _login(c: httpx.Client, origin: str, token: str) -> httpx.Response:
    return c.post("/login", data={"token": token, "next": "/"}, headers={"origin": origin})


def test_wrong_tokens_are_throttled_per_address_then_the_right_one_works(seeded: Seeded) -> None:
    app = create_app(seeded.settings, seeded.url, token=TOKEN)  # the default: 5 wrong tokens a minute
    with WebServer(app) as srv, httpx.Client(base_url=srv.origin) as c:
        for _ in range(5):
            assert _login(c, srv.origin, "not the token at all").status_code == 403
        refused = _login(c, srv.origin, TOKEN)  # even the right one: a guess must not be confirmed while waiting
        assert refused.status_code == 429 and 50 <= int(refused.headers["retry-after"]) <= 60
        assert "too many wrong tokens" in refused.text and SESSION_COOKIE not in c.cookies
        # Another address is not held up by this one.
        other = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(base_url=srv.origin, transport=other) as elsewhere:
            assert _login(elsewhere, srv.origin, TOKEN).status_code == 303

    # After the window the right token logs in (a one-second window here, to wait for it).
    app = create_app(seeded.settings, seeded.url, token=TOKEN, throttle=LoginThrottle(limit=5, window=1.0))
    with WebServer(app) as srv, httpx.Client(base_url=srv.origin) as c:
        for _ in range(5):
            assert _login(c, srv.origin, "still wrong").status_code == 403
        refused = _login(c, srv.origin, TOKEN)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        time.sleep(1.1)
        assert _login(c, srv.origin, TOKEN).status_code == 303 and SESSION_COOKIE in c.cookies


def test_the_throttle_remembers_a_bounded_number_of_addresses() -> None:
    now = [0.0]
    throttle = LoginThrottle(limit=2, window=60, max_clients=3, clock=lambda: now[0])
    for n in range(100):
        throttle.failed(f"192.0.2.{n}")
    assert len(throttle) == 3
    # IPv6 counts per /64: a host cycling through its addresses is still one client.
    throttle.failed("2001:db8:1:2::1")
    throttle.failed("2001:db8:1:2::ffff")
    assert throttle.retry_after("2001:db8:1:2::1234") == 60 and throttle.retry_after("2001:db8:1:3::1") == 0
    now[0] = 60.0
    assert throttle.retry_after("2001:db8:1:2::1234") == 0


# --- the web token's length ---------------------------------------------------------------------------------------


def test_a_token_shorter_than_16_characters_is_refused_at_startup(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = "x" * (MIN_TOKEN_LENGTH - 1)
    with pytest.raises(ConfigError, match="at least 16"):
        create_app(seeded.settings, seeded.url, token=short)
    monkeypatch.setenv(TOKEN_ENV, short)
    with pytest.raises(ConfigError, match=f"{TOKEN_ENV} is 15 characters"):
        create_app(seeded.settings, seeded.url)
    monkeypatch.delenv(TOKEN_ENV)
    settings = seeded.settings.model_copy(update={"web": seeded.settings.web.model_copy(update={"token": short})})
    with pytest.raises(ConfigError, match=r"\[web\] token in settings.toml is 15 characters"):
        create_app(settings, seeded.url)
    assert create_app(seeded.settings, seeded.url, token="x" * MIN_TOKEN_LENGTH) is not None
    # `aggregator serve` says so in one line and stops, before listening.
    env = {**os.environ, TOKEN_ENV: short}
    command = [sys.executable, "-m", "aggregator", "--config", str(seeded.settings.config_dir), "--db", seeded.url,
               "serve", "--port", str(free_port())]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith(f"error: web: {TOKEN_ENV} is 15 characters")
