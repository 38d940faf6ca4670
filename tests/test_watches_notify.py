"""The notify channel against real parts: Apprise json:// notifications to a local server after a local crawl."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.config.settings import CrawlSettings
from aggregator.config.watches import WatchConfig, load_watches, parse_watches
from aggregator.errors import DeliveryError
from aggregator.schedule.jobs import refresh
from aggregator.services.context import Context
from aggregator.services.watching import run_watches, watch_mark
from aggregator.store.database import Database
from aggregator.watches.alerts import Alert
from aggregator.watches.health import watch_health
from aggregator.watches.notify import BODY_CAP, body, masked, send, title
from tests import feedgen
from tests.crawling import run as crawl_run
from tests.httpserver import Reply, TestServer
from tests.test_cli import agg
from tests.test_watches import deliveries, feed_items, free_port, watch, write_config

REPO = Path(__file__).resolve().parents[1]
SECRET_PATH = "/notify/s3cr3t-t0ken"  # a token in the path, as ntfy topics and gotify tokens are


def notify_watch(wid: str, query: str, urls: list[str], deliver: str = '["notify"]') -> str:
    return watch(wid, query, deliver) + f"notify = {json.dumps(urls)}\n"


def json_url(server: TestServer, path: str) -> str:
    """Apprise's URL for a JSON POST to `path` on the test server."""
    return f"json://127.0.0.1:{server.httpd.server_address[1]}{path}"


def posts(server: TestServer) -> list[dict[str, str]]:
    return [json.loads(r.body) for r in server.log if r.method == "POST"]


def hostile_feed(base: str) -> bytes:
    items = feed_items(base)
    items[0] = feedgen.item(1, base, title="Gulf Cartel leader\narrested\r\nin Reynosa\tfor real")
    return feedgen.rss20(items)


def rewrite_allow(config: Path, networks: str) -> None:
    settings = config / "settings.toml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace('allow_networks = ["127.0.0.1/32"]', f"allow_networks = {networks}"), "utf-8")


def test_a_refresh_notifies_once_per_batch_with_clean_lines(tmp_path: Path, db_url: str, server: TestServer) -> None:
    server.add("/feed", Reply(body=hostile_feed(server.base)))
    server.add(SECRET_PATH, Reply(body=b"{}", content_type="application/json"))
    url = json_url(server, SECRET_PATH)
    config = tmp_path / "config"
    write_config(config, server, watches=notify_watch("gulf", "cartel OR cártel", [url], '["notify", "atom"]'))

    assert refresh(str(config), db_url).new == 3

    (sent,) = posts(server)  # one notification for the batch of two matches
    assert sent["title"] == "Watch gulf: 2 new items"
    lines = sent["message"].split("\n")
    assert len(lines) == 2  # one line per item: the title's line breaks did not make more
    assert lines[0].startswith("Test wire, ") and ("CST" in lines[0] or "CDT" in lines[0])  # the reporter's zone
    assert "Gulf Cartel leader arrested in Reynosa for real " + server.url("/articles/1.html") in lines[0]
    assert 'Cártel & "Golfo"' in lines[1] and lines[1].endswith(server.url("/articles/2.html"))
    assert all(ch.isprintable() for ch in sent["message"].replace("\n", ""))
    assert {row[2:4] for row in deliveries(db_url)} == {("notify", "sent"), ("atom", "sent")}

    refresh(str(config), db_url)  # nothing new: nothing sent again
    assert len(posts(server)) == 1


def test_the_body_removes_controls_and_line_breaks_and_is_capped() -> None:
    now = datetime(2026, 3, 3, 13, 0, tzinfo=UTC)
    evil = "Line one\nFAKE: second line\r\x1b[2J\u202eevil\u2028more\x85end" + "x" * 500
    alert = Alert(7, "https://news.example/a\nb", evil, "wire", "Wire\n<b>News</b>\x07", now, now, {}, [])
    text = body([alert], UTC)
    assert "\n" not in text and text.isprintable()
    assert text.startswith("Wire <b>News</b>, 2026-03-03 13:00 UTC: Line one FAKE: second line [2J evil more end")
    assert "https://news.example/a b" in text  # the link's break removed too: one line
    assert len(text) < 200 + 80 + 60 and "…" in text  # the title was cut at its cap
    many = [Alert(n, f"https://news.example/{n}", "t" * 300, "wire", "Wire", now, now, {}, []) for n in range(100)]
    capped = body(many, UTC)
    assert len(capped) <= BODY_CAP and capped.endswith(" more") and capped.count("\n") < 100
    assert title(WatchConfig(id="w", query="x"), many[:1]) == "Watch w: 1 new item"


def test_a_private_address_is_refused_masked_and_nothing_is_sent(tmp_path: Path, server: TestServer) -> None:
    server.add("/feed", Reply(body=feedgen.rss20(feed_items(server.base))))
    server.add(SECRET_PATH, Reply(body=b"{}", content_type="application/json"))
    port = server.httpd.server_address[1]
    urls = [f"json://127.0.0.1:{port}{SECRET_PATH}", f"json://user:pa55word@localhost:{port}{SECRET_PATH}?x=s3cr3t"]
    config = tmp_path / "config"
    db_url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    write_config(config, server, watches=notify_watch("gulf", "cartel", urls))
    ctx = Context(config, db_url)
    db = ctx.database()
    mark = watch_mark(db)
    crawl_run(db, ctx.settings, ctx.catalog())  # the feed is crawled from 127.0.0.1, allowed
    rewrite_allow(config, "[]")  # ...and now 127.0.0.1 is not: the watch's matches are refused
    ctx = Context(config, db_url)
    run = run_watches(ctx, db, start_after=mark)
    error = run.channels[0].error or ""
    assert f"json://127.0.0.1:{port}/***: refused, 127.0.0.1 is a loopback address" in error
    # A name is resolved, then each of its addresses checked (localhost may be ::1 first).
    assert re.search(rf"json://localhost:{port}/\*\*\*: refused, (127\.0\.0\.1|::1) is a loopback address", error)
    assert "allow_networks" in error
    assert "s3cr3t" not in error and "pa55word" not in error and "user" not in error
    assert posts(server) == []
    with db.session() as session:
        (health,) = watch_health(session, load_watches(config).watches)
    db.close()
    assert health.status == "failing" and health.pending == 2 and health.last_error == error

    listing = agg("--config", str(config), "--db", db_url, "watch", "list")
    status = agg("--config", str(config), "--db", db_url, "status")
    for shown in (listing, status):
        assert "refused" in shown.stdout and "s3cr3t" not in shown.stdout + shown.stderr, shown.stderr
    assert f"gulf notifies json://127.0.0.1:{port}/***, json://localhost:{port}/***" in listing.stdout


def test_a_url_that_is_down_is_retried_alone_and_the_others_never_get_an_alert_twice(
    tmp_path: Path, server: TestServer
) -> None:
    server.add("/feed", Reply(body=feedgen.rss20(feed_items(server.base))))
    server.add("/up", Reply(body=b"{}", content_type="application/json"))
    down_port = free_port()  # nothing listens there yet
    up = json_url(server, "/up")
    down = f"json://127.0.0.1:{down_port}{SECRET_PATH}"
    config = tmp_path / "config"
    db_url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    write_config(config, server, watches=notify_watch("gulf", "cartel", [down, up], '["notify", "atom"]'))

    refresh(str(config), db_url)
    rows = deliveries(db_url)
    assert {(channel, state) for _, _, channel, state, _ in rows} == {("notify", "pending"), ("atom", "sent")}
    (first,) = posts(server)  # every URL is tried: the one that is up got the batch
    assert first["title"] == "Watch gulf: 2 new items"

    # A new alert while the other URL is still down: the URL that is up gets the new one only.
    items = [*feed_items(server.base), feedgen.item(4, server.base, title="Sinaloa Cartel lab dismantled")]
    server.add("/feed", Reply(body=feedgen.rss20(items)))
    crawl = agg("--config", str(config), "--db", db_url, "crawl", "-s", "wire")
    assert crawl.returncode == 0 and "notify failed, retried later" in crawl.stderr, crawl.stderr
    assert len(posts(server)) == 2
    second = posts(server)[1]
    assert second["title"] == "Watch gulf: 1 new item" and "Sinaloa Cartel lab dismantled" in second["message"]
    assert server.url("/articles/1.html") not in second["message"]

    ctx = Context(config, db_url)
    db = ctx.database()
    later = datetime.now(UTC) + timedelta(hours=2)
    with TestServer(port=down_port) as receiver:
        receiver.add(SECRET_PATH, Reply(body=b"{}", content_type="application/json"))
        again = run_watches(ctx, db, now=later)
        assert [c.sent for c in again.channels if c.channel == "notify"] == [3]
        (sent,) = posts(receiver)  # the URL that was down gets everything it missed, in one message
    db.close()
    assert sent["title"] == "Watch gulf: 3 new items" and server.url("/articles/1.html") in sent["message"]
    assert len(posts(server)) == 2  # and the one that was up is not sent any of it again
    assert {state for *_, state, _ in deliveries(db_url)} == {"sent"}


def test_migration_0014_keeps_queued_alerts_and_goes_both_ways(db: Database) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect, text

    from aggregator.store.database import migrate

    def columns() -> set[str]:
        return {str(c["name"]) for c in inspect(db.engine).get_columns("watch_deliveries")}

    from tests.test_store_rows import _items

    _items(db)  # an alert queued before the column existed, as 0013 left it (below)
    config = Config()
    config.set_main_option("script_location", "aggregator.models:migrations")
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0013")
    assert "delivered_to" not in columns()
    with db.session() as session:
        session.execute(text(
            "INSERT INTO watch_deliveries (watch_id, item_id, channel, state, attempts, matched_at, next_attempt_at) "
            "SELECT 'w', id, 'notify', 'pending', 1, first_seen_at, first_seen_at FROM items "
            "WHERE id = (SELECT min(id) FROM items)"
        ))  # fmt: skip
    migrate(db.engine)
    assert "delivered_to" in columns()
    with db.session() as session:  # kept, and with no URL recorded as reached: its retry goes to every URL
        kept = session.execute(text("SELECT watch_id, state, delivered_to FROM watch_deliveries")).all()
    assert [tuple(r) for r in kept] == [("w", "pending", None)]


def test_the_failure_names_the_url_that_failed_and_apprise_logs_stay_quiet(tmp_path: Path, server: TestServer) -> None:
    server.add("/feed", Reply(body=feedgen.rss20(feed_items(server.base))))
    server.add("/up", Reply(body=b"{}", content_type="application/json"))
    config = tmp_path / "config"
    db_url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    up = json_url(server, "/up")
    down = f"json://127.0.0.1:{free_port()}{SECRET_PATH}"
    write_config(config, server, watches=notify_watch("gulf", "cartel", [up, down]))
    # `aggregator crawl` delivers before it exits, at the default verbosity: Apprise's own log stays off stderr.
    result = agg("--config", str(config), "--db", db_url, "crawl")
    assert result.returncode == 0, result.stderr
    assert f"notify failed, retried later: notify: not delivered to {masked(down)} (" in result.stderr
    assert masked(up) not in result.stderr and len(posts(server)) == 1
    assert "s3cr3t" not in result.stdout + result.stderr and " apprise " not in result.stderr
    assert {row[2:] for row in deliveries(db_url)} == {("notify", "pending", 1)}


def test_apprise_logs_reach_the_log_only_when_verbose(caplog: pytest.LogCaptureFixture) -> None:
    down = f"json://127.0.0.1:{free_port()}{SECRET_PATH}"
    crawl = CrawlSettings(allow_networks=["127.0.0.1/32"])
    for level, shown in ((logging.INFO, False), (logging.DEBUG, True)):
        caplog.clear()
        with caplog.at_level(level), pytest.raises(DeliveryError, match="not delivered"):
            send([down], "t", "b", crawl=crawl)
        assert any(r.name.startswith("apprise") for r in caplog.records) is shown


def test_a_url_apprise_cannot_use_is_named_masked_and_nothing_is_sent(server: TestServer) -> None:
    server.add("/n", Reply(body=b"{}", content_type="application/json"))
    good = json_url(server, "/n")
    crawl = CrawlSettings(allow_networks=["127.0.0.1/32"])
    with pytest.raises(DeliveryError) as caught:
        send([good, "nosuchservice://hooks.example/s3cr3t"], "t", "b", crawl=crawl)
    assert str(caught.value) == (
        "notify: nosuchservice://hooks.example/***: not a URL Apprise can use (an unknown service, or parts missing)"
    )
    assert posts(server) == []  # a URL that can never work stops the batch before anything is sent


PROBE = """
import json, sys
sys.modules["apprise"] = None  # as if the extra were not installed: `import apprise` fails
from aggregator.schedule.jobs import refresh
from aggregator.store.database import Database
from aggregator.config.watches import load_watches
from aggregator.watches.health import watch_health
from pathlib import Path
refresh(sys.argv[1], sys.argv[2])
db = Database(sys.argv[2])
with db.session() as session:
    rows = watch_health(session, load_watches(Path(sys.argv[1])).watches)
print(json.dumps([[h.channel, h.status, h.pending, h.sent, h.last_error] for h in rows]))
"""


def test_without_apprise_the_watch_loads_and_only_notify_fails_clearly(tmp_path: Path, server: TestServer) -> None:
    server.add("/feed", Reply(body=feedgen.rss20(feed_items(server.base))))
    server.add("/n", Reply(body=b"{}", content_type="application/json"))
    config = tmp_path / "config"
    db_url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    url = json_url(server, "/n")
    write_config(config, server, watches=notify_watch("gulf", "cartel", [url], '["atom", "notify"]'))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    probe = subprocess.run([sys.executable, "-c", PROBE, str(config), db_url], capture_output=True, text=True,
                           cwd=REPO, env=env, timeout=180)  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    atom, notify = json.loads(probe.stdout.splitlines()[-1])
    assert atom == ["atom", "ok", 0, 2, None]  # the watch's other channel is unaffected
    message = "notify: Apprise is not installed: pip install 'beat-aggregator[notify]'"
    assert notify == ["notify", "failing", 2, 0, message]
    assert posts(server) == []
    # Installed (as here), the next due run delivers what waited.
    ctx = Context(config, db_url)
    db = ctx.database()
    run = run_watches(ctx, db, now=datetime.now(UTC) + timedelta(minutes=2))
    db.close()
    assert [c.sent for c in run.channels if c.channel == "notify"] == [2] and len(posts(server)) == 1


def test_a_redirect_is_not_followed(server: TestServer) -> None:
    server.add("/elsewhere", Reply(body=b"{}", content_type="application/json"))
    server.add("/moved", Reply(status=307, headers={"Location": server.url("/elsewhere")}))
    moved = json_url(server, "/moved")
    with pytest.raises(DeliveryError, match="not delivered to json://127.0.0.1:"):
        send([moved], "t", "b", crawl=CrawlSettings(allow_networks=["127.0.0.1/32"]))
    assert [r.path for r in server.log] == ["/moved"]  # the redirect's target was never asked: it was not checked


def test_notify_config_is_checked_without_naming_the_url() -> None:
    text = (
        notify_watch("ok", "cartel", ["ntfy://ntfy.example/topic", "tgram://123:abc/456"])
        + watch("nourls", "cartel", '["notify"]')
        + watch("nochannel", "cartel", '["atom"]')
        + 'notify = ["ntfy://ntfy.example/topic"]\n'
        + notify_watch("bad", "cartel", ["ntfy://ntfy.example/ok", "not a url s3cr3t", "s3cr3t-only"])
        + notify_watch("twice", "cartel", ["json://h.example/a", "json://h.example/a"])
    )
    catalog = parse_watches(text, Path("watches.toml"))
    assert [w.id for w in catalog.watches] == ["ok"]
    assert catalog.watches[0].notify == ("ntfy://ntfy.example/topic", "tgram://123:abc/456")
    assert "tgram" not in repr(catalog.watches[0])
    messages = [p.message for p in catalog.problems]
    assert "watch #2 'nourls'" in messages[0] and "'notify' must list at least one Apprise URL" in messages[0]
    assert "watch #3 'nochannel'" in messages[1] and "'notify' is set but deliver does not name 'notify'" in messages[1]
    assert "watches.toml:19: watch #4 'bad': field 'notify': entries 2, 3 are not an Apprise URL" in messages[2]
    assert "field 'notify': lists a URL twice" in messages[3]
    assert not any("s3cr3t" in m for m in messages)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ntfy://ntfy.example/topic", "ntfy://ntfy.example/***"),
        ("ntfy://my-secret-topic", "ntfy://***"),
        ("tgram://123456789:AAEhBP0av28/-100123", "tgram://***"),
        ("discord://1234567/webhook-token", "discord://***"),
        ("mailtos://me:pass@mail.example.org:465?to=x@y.example", "mailtos://mail.example.org:465/***"),
        ("json://[::1]:8080/p?token=1", "json://[::1]:8080/***"),
        ("JSON://Hooks.Example./x", "json://hooks.example/***"),
        ("gotify://gotify.example:abc/token", "gotify://***"),
        ("\x1b[31mjson://x.example/", "***"),
    ],
)
def test_masked_urls_show_scheme_and_host_only(url: str, shown: str) -> None:
    assert masked(url) == shown


def test_add_writes_the_urls_and_prints_none(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "watches.toml").write_text("# mine\n", encoding="utf-8")
    url = "ntfy://ntfy.example/s3cr3t-topic"
    added = agg("--config", str(config), "watch", "add", "w", "cartel", "-d", "notify", "--notify", url)
    assert added.returncode == 0, added.stderr
    assert "s3cr3t" not in added.stdout + added.stderr
    (loaded,) = parse_watches((config / "watches.toml").read_text(), config / "watches.toml").watches
    assert loaded.deliver == ("notify",) and loaded.notify == (url,)
    refused = agg("--config", str(config), "watch", "add", "v", "cartel", "--notify", url)
    assert refused.returncode != 0 and "deliver does not name 'notify'" in refused.stderr
    assert "s3cr3t" not in refused.stderr


def test_apprise_is_an_extra_and_in_the_test_extra() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not any(dep.startswith("apprise") for dep in project["dependencies"])
    extras = project["optional-dependencies"]
    assert any(dep.startswith("apprise>=") for dep in extras["notify"])
    assert any(dep.startswith("apprise>=") for dep in extras["test"])
