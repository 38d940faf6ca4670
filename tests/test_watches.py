"""Watches against real parts: a refresh of a local feed mails (aiosmtpd) and POSTs (signed) its alerts, once."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import select

from aggregator.config.watches import parse_watches
from aggregator.models import WatchDelivery
from aggregator.schedule.jobs import refresh
from aggregator.services.context import Context
from aggregator.services.watching import run_watches
from aggregator.store.database import Database
from aggregator.watches.atom import feed_path
from aggregator.watches.timing import quiet_until
from tests import feedgen
from tests.crawling import source
from tests.httpserver import Reply, TestServer

SECRET = "test-secret-0123456789"
HOSTILE = '<script>alert("x")</script> Cártel & "Golfo" \x1b[31m'


class Hooks:
    """A webhook receiver on 127.0.0.1: records each POST (headers, raw body); answers `status` (a list: in turn)."""

    def __init__(self, statuses: list[int] | None = None, host: str = "127.0.0.1") -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.statuses = list(statuses or [])
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = hooks.statuses.pop(0) if hooks.statuses else 200
                if status == 200:
                    hooks.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def items(self) -> list[int]:
        return [item["item_id"] for _, body in self.posts for item in json.loads(body)["items"]]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # noqa: N802
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box, port = Inbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    receiver = Hooks()
    yield receiver
    receiver.close()


def feed_items(base: str) -> list[dict[str, Any]]:
    return [
        feedgen.item(1, base, title="Gulf Cartel leader arrested in Reynosa"),
        feedgen.item(2, base, title=HOSTILE),
        feedgen.item(3, base, title="Festival poster wins design prize", summary="<p>Music and art.</p>"),
    ]


def write_config(config: Path, server: TestServer, *, port: int = 25, watches: str = "", extra: str = "") -> None:
    config.mkdir(exist_ok=True)
    (config / "settings.toml").write_text(
        'data_dir = "data"\ntimezone = "America/Mexico_City"\n'
        '[crawl]\ndownload_delay = 0\nautothrottle = false\nallow_networks = ["127.0.0.1/32"]\n'
        'timeout = "5s"\nretry_times = 0\n'
        f'[mail]\nhost = "127.0.0.1"\nport = {port}\nsender = "alerts@beat.example"\n'
        f'recipients = ["reporter@beat.example"]\n[watches]\nwebhook_secret = "{SECRET}"\n{extra}',
        encoding="utf-8",
    )
    (config / "sources.toml").write_text(source("wire", server.url("/feed")), encoding="utf-8")
    (config / "watches.toml").write_text(watches, encoding="utf-8")


def watch(wid: str, query: str, deliver: str, **more: str) -> str:
    lines = ["[[watch]]", f'id = "{wid}"', f"query = '{query}'", f"deliver = {deliver}"]
    lines += [f'{key} = "{value}"' for key, value in more.items()]
    return "\n".join(lines) + "\n"


def deliveries(db_url: str) -> list[tuple[str, int, str, str, int]]:
    db = Database(db_url)
    with db.session() as session:
        rows = session.execute(
            select(WatchDelivery.watch_id, WatchDelivery.item_id, WatchDelivery.channel, WatchDelivery.state,
                   WatchDelivery.attempts).order_by(WatchDelivery.id)
        ).all()  # fmt: skip
    db.close()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_one_refresh_mails_and_posts_signed_alerts_once(
    tmp_path: Path, db_url: str, server: TestServer, inbox: tuple[Inbox, int], hooks: Hooks
) -> None:
    box, port = inbox
    server.add("/feed", Reply(body=feedgen.rss20(feed_items(server.base))))
    watches = watch("gulf", "cartel OR cártel", '["mail", "webhook", "atom"]', webhook=hooks.url)
    watches += watch("music", "festival", '["webhook"]', webhook=hooks.url)
    config = tmp_path / "config"
    write_config(config, server, port=port, watches=watches)

    result = refresh(str(config), db_url)
    assert result.new == 3

    # One mail listing both cartel items, with outlet, local time and links, escaped in the HTML part.
    assert len(box.messages) == 1
    message = box.messages[0]
    assert "gulf: 2 new matches" in str(message["Subject"])
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Gulf Cartel leader arrested in Reynosa" in text and "Test wire" in text
    assert server.url("/articles/1.html") in text and ("CST" in text or "CDT" in text)  # the reporter's zone
    assert "\x1b" not in text  # ingest drops control characters; mail.text_body escapes any left
    assert "<script>" not in html and "Cártel &amp; &#34;Golfo&#34;" in html
    assert f'href="{server.url("/articles/1.html")}"' in html

    # Two signed POSTs (one per watch), the HMAC of the raw body under the secret.
    assert len(hooks.posts) == 2
    by_watch = {}
    for headers, body in hooks.posts:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-aggregator-signature"] == expected
        payload = json.loads(body)
        by_watch[payload["watch"]] = payload
    assert by_watch["gulf"]["query"] == "cartel OR cártel"
    titles = {item["title"] for item in by_watch["gulf"]["items"]}
    assert titles == {"Gulf Cartel leader arrested in Reynosa", 'Cártel & "Golfo" [31m'}
    first = by_watch["gulf"]["items"][0]
    assert set(first) == {"item_id", "url", "title", "source_id", "published_at", "topics", "entities"}
    assert first["source_id"] == "wire" and first["published_at"].endswith("Z")
    assert [i["title"] for i in by_watch["music"]["items"]] == ["Festival poster wins design prize"]

    # The Atom feed parses, with both alerts.
    parsed = feedparser.parse(feed_path(tmp_path / "data", "gulf").read_bytes())
    assert not parsed.bozo, parsed.bozo_exception
    assert {entry.title for entry in parsed.entries} == titles

    # A second refresh (nothing new) sends nothing again.
    assert all(state == "sent" for *_, state, _ in deliveries(db_url))
    refresh(str(config), db_url)
    assert len(box.messages) == 1 and len(hooks.posts) == 2
    assert len(deliveries(db_url)) == 2 * 3 + 1


def test_a_webhook_that_is_down_is_retried_with_backoff_then_delivered(
    tmp_path: Path, db_url: str, server: TestServer
) -> None:
    receiver = Hooks(statuses=[503, 503])
    try:
        server.add("/feed", Reply(body=feedgen.rss20(feed_items(server.base))))
        config = tmp_path / "config"
        write_config(config, server, watches=watch("gulf", "cartel", '["webhook", "atom"]', webhook=receiver.url))
        ctx = Context(config, db_url)
        db = ctx.database()
        refresh(str(config), db_url)  # crawls and tries at once: 503
        assert receiver.posts == []
        rows = deliveries(db_url)
        assert {(channel, state) for _, _, channel, state, _ in rows} == {("webhook", "pending"), ("atom", "sent")}
        now = datetime.now(UTC)
        # Not due yet: the stored next attempt is a minute away, so nothing is tried (the server is not asked).
        early = run_watches(ctx, db, now=now + timedelta(seconds=30))
        assert [c.sent for c in early.channels if c.channel == "webhook"] == [0] and receiver.statuses == [503]
        second = run_watches(ctx, db, now=now + timedelta(seconds=70))  # 503 again: the wait doubles
        assert "HTTP 503" in (next(c for c in second.channels if c.channel == "webhook").error or "")
        with db.session() as session:
            waits = set(session.scalars(select(WatchDelivery.next_attempt_at).where(WatchDelivery.state == "pending")))
        assert len(waits) == 1 and next(iter(waits)) >= now + timedelta(seconds=70 + 110)
        assert run_watches(ctx, db, now=now + timedelta(seconds=120)).channels[0].sent == 0
        third = run_watches(ctx, db, now=now + timedelta(seconds=200))
        assert third.channels[0].sent == 2 and len(receiver.posts) == 1 and len(receiver.items()) == 2
        assert {state for *_, state, _ in deliveries(db_url)} == {"sent"}
        db.close()
    finally:
        receiver.close()


def test_a_webhook_to_a_private_address_is_refused_with_a_clear_error(tmp_path: Path, server: TestServer) -> None:
    other = Hooks(host="127.0.0.2")  # another loopback address: not in allow_networks
    try:
        server.add("/feed", Reply(body=feedgen.rss20(feed_items(server.base))))
        config = tmp_path / "config"
        db_url = f"sqlite:///{tmp_path / 'w.sqlite'}"
        write_config(config, server, watches=watch("gulf", "cartel", '["webhook"]', webhook=other.url))
        refresh(str(config), db_url)
        ctx = Context(config, db_url)
        db = ctx.database()
        run = run_watches(ctx, db, now=datetime.now(UTC) + timedelta(hours=1))
        db.close()
        error = run.channels[0].error or ""
        assert "refused" in error and "127.0.0.2 is a loopback address" in error and "allow_networks" in error
        assert other.posts == []
    finally:
        other.close()


def test_bad_watches_are_named_with_their_line_and_the_others_load() -> None:
    text = (
        "# watches\n"
        + watch("ok", "cartel", '["atom"]')
        + "[[watch]]\nid = \"broken\"\nquery = 'cartel (sinaloa'\n"
        + watch("nohook", "cjng", '["webhook"]')
        + watch("ok", "again", '["atom"]')
        + '[[watch]]\nid = "odd"\nquery = "x"\nevery = "sometimes"\nquiet = "25:00-07:00"\ndeliver = ["fax"]\n'
    )
    catalog = parse_watches(text, Path("watches.toml"))
    assert [w.id for w in catalog.watches] == ["ok"]
    messages = [p.message for p in catalog.problems]
    assert messages[0].startswith("watches.toml:8: watch #2 'broken': field 'query': 'cartel (sinaloa': unbalanced")
    assert "watches.toml:9: watch #3 'nohook'" in messages[1] and "'webhook' must be an http(s) URL" in messages[1]
    assert "watches.toml:14: watch #4 'ok': field 'id': duplicate id" == messages[2]
    rest = " | ".join(messages[3:])
    assert "watches.toml:20: watch #5 'odd': field 'every'" in rest
    assert "watches.toml:21: watch #5 'odd': field 'quiet'" in rest and "25:00" in rest
    assert "watches.toml:22: watch #5 'odd': field 'deliver" in rest


def test_quiet_hours_and_batches_hold_alerts_in_the_reporters_zone(tmp_path: Path, server: TestServer) -> None:
    server.add("/feed", Reply(body=feedgen.rss20(feed_items(server.base))))
    config = tmp_path / "config"
    db_url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    watches = watch("night", "cartel", '["atom"]', quiet="22:00-07:00")
    watches += watch("hourly", "cartel OR festival", '["atom"]', every="1h")
    write_config(config, server, watches=watches)
    ctx = Context(config, db_url)
    zone = ctx.settings.zone
    # 23:30 in Mexico City (UTC-6): quiet until 07:00 there, the next morning.
    late = datetime(2026, 3, 2, 23, 30, tzinfo=zone).astimezone(UTC)
    night = next(w for w in parse_watches((config / "watches.toml").read_text(), Path("w")).watches)
    assert quiet_until(night, late, zone) == datetime(2026, 3, 3, 7, 0, tzinfo=zone).astimezone(UTC)
    assert quiet_until(night, datetime(2026, 3, 3, 12, 0, tzinfo=zone), zone) is None
    db = ctx.database()
    from aggregator.services.watching import watch_mark
    from tests.crawling import run as crawl_run

    mark = watch_mark(db)
    crawl_run(db, ctx.settings, ctx.catalog())
    first = run_watches(ctx, db, start_after=mark, now=late)
    held = {c.watch_id: c for c in first.channels}
    assert held["night"].held_until is not None and held["night"].sent == 0
    assert held["hourly"].sent == 0  # matched now, due one hour later
    assert not feed_path(ctx.settings.data_path, "night").exists()
    at_six = datetime(2026, 3, 3, 6, 59, tzinfo=zone).astimezone(UTC)
    assert {c.watch_id: c.sent for c in run_watches(ctx, db, now=at_six).channels} == {"night": 0, "hourly": 3}
    at_seven = datetime(2026, 3, 3, 7, 0, tzinfo=zone).astimezone(UTC)
    assert {c.watch_id: c.sent for c in run_watches(ctx, db, now=at_seven).channels} == {"night": 2, "hourly": 0}
    db.close()
    hourly = feedparser.parse(feed_path(ctx.settings.data_path, "hourly").read_bytes())
    assert len(hourly.entries) == 3  # one batch, every match of the hour


def test_the_atom_feed_parses_and_keeps_hostile_titles_as_text() -> None:
    from aggregator.config.watches import WatchConfig
    from aggregator.watches.alerts import Alert
    from aggregator.watches.atom import feed_bytes

    now = datetime(2026, 3, 3, 13, 0, tzinfo=UTC)
    alert = Alert(7, "javascript:alert(1)", HOSTILE.replace("\x1b", ""), "wire", "Wire <b>News</b>", now, now,
                  {"cartels": 0.9}, [])  # fmt: skip
    fine = Alert(8, "https://news.example/a?b=1&c=2", "Plain", "wire", "Wire", None, now, {}, [])
    data = feed_bytes(WatchConfig(id="w", query='cartel "a & b"'), [(alert, now), (fine, now)], UTC)
    assert b"<script>" not in data and b"&lt;script&gt;" in data
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.bozo_exception
    hostile, plain = parsed.entries
    assert "<script>" in hostile.title and "&" in hostile.title  # the outlet's text, as text
    assert "links" not in hostile or all(link.href != "javascript:alert(1)" for link in hostile.links)
    assert plain.link == "https://news.example/a?b=1&c=2" and plain.author == "Wire"
    assert parsed.feed.title == 'Watch w: cartel "a & b"'
