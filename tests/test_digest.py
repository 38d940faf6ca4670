"""The digest: periods without gaps or overlaps (DST included), archive, updates, escaping, formats, mail."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest
from aiosmtpd.controller import Controller
from lxml import etree, html

from aggregator.config.settings import DigestSettings, Settings
from aggregator.digest import archive
from aggregator.digest.atom import section_feed
from aggregator.digest.build import DigestError, closing_time, latest_closed_date
from aggregator.digest.render import render
from aggregator.models import Digest
from aggregator.store.database import Database
from aggregator.stories.store import assign_stories
from tests.digestdata import REPO, add_item, add_source, topics, utc
from tests.test_cli import agg
from tests.test_mail import Recorder, free_port

FAR_FUTURE = utc(2030, 1, 1)


def settings_for(tmp_path: Path, zone: str = "America/Mexico_City", **digest: object) -> Settings:
    s = Settings(timezone=zone, data_dir=str(tmp_path / "data"), digest=DigestSettings(**digest))  # type: ignore[arg-type]
    s.config_dir = REPO / "config"
    return s


def shown_new_items(content: dict) -> set[int]:
    return {
        it["item_id"]
        for story in content["stories"].values()
        for outlet in story["outlets"]
        for it in outlet["items"]
        if it["new"]
    }


@pytest.mark.parametrize(
    ("zone", "first_day"),
    [
        ("America/New_York", date(2026, 3, 6)),
        ("America/New_York", date(2026, 10, 30)),
        ("Europe/Madrid", date(2026, 3, 27)),
    ],
    ids=["us-spring-forward", "us-fall-back", "eu-spring-forward"],
)
def test_consecutive_digests_cover_every_item_once_across_a_dst_change(
    tmp_path: Path, zone: str, first_day: date
) -> None:
    settings = settings_for(tmp_path, zone, time="07:00", per_section=0)
    opts = archive.options(settings)
    db = Database(f"sqlite:///{tmp_path}/d.sqlite")
    start = closing_time(first_day, opts)
    ids = []
    with db.session() as session:
        add_source(session, "wire")
        t, n = start, 0
        while t < closing_time(first_day + timedelta(days=5), opts):
            ids.append(add_item(session, "wire", f"Bulletin zq{n}x kx{n}w", "", seen=t, tags={"cartels": 0.9}))
            t += timedelta(minutes=37)
            n += 1
        assign_stories(session, now=FAR_FUTURE, window=timedelta(hours=72))
    seen: list[int] = []
    lengths = []
    with db.session() as session:
        # The first digest covers the day before its closing time; the next ones start where the previous ended.
        for offset in range(1, 6):
            built = archive.build(session, settings, topics(), first_day + timedelta(days=offset), now=FAR_FUTURE)
            row = built.digest
            assert row.period_end == closing_time(first_day + timedelta(days=offset), opts)
            assert row.period_end.astimezone(ZoneInfo(zone)).hour == 7
            lengths.append((row.period_end - row.period_start).total_seconds() / 3600)
            seen.extend(shown_new_items(row.content))
            assert row.content["counts"]["new_items"] == len(shown_new_items(row.content))
    assert sorted(seen) == sorted(ids)  # every item once: none missed, none twice
    assert sorted(set(lengths)) in ([23.0, 24.0], [24.0, 25.0])  # the DST day is an hour shorter or longer
    db.close()


def test_dates_that_would_leave_a_gap_or_overlap_are_refused(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "America/Mexico_City", time="07:00")
    opts = archive.options(settings)
    now = utc(2026, 5, 10, 20)  # 14:00 in Mexico City
    assert latest_closed_date(now, opts) == date(2026, 5, 10)
    assert latest_closed_date(utc(2026, 5, 10, 12), opts) == date(2026, 5, 9)  # 06:00 there: today's not closed
    db = Database(f"sqlite:///{tmp_path}/d.sqlite")
    with db.session() as session:
        with pytest.raises(DigestError, match="closes at 07:00"):
            archive.build(session, settings, topics(), date(2026, 5, 11), now=now)
        archive.build(session, settings, topics(), date(2026, 5, 10), now=now)
        with pytest.raises(DigestError, match="newer digest"):
            archive.build(session, settings, topics(), date(2026, 5, 8), now=now)
        # A gap of days (the machine was off) is covered by the next digest.
        later = archive.build(session, settings, topics(), date(2026, 5, 14), now=utc(2026, 5, 20))
        assert later.digest.period_start == closing_time(date(2026, 5, 10), opts)
    db.close()


def test_a_digest_closed_early_is_the_newest_closed_one(tmp_path: Path) -> None:
    """The demo closes today's digest at once: before the closing time, `aggregator digest` (and the daily job)
    must take that one, not yesterday's, which can no longer be built after it."""
    settings = settings_for(tmp_path, "America/Mexico_City", time="07:00")
    early = utc(2026, 5, 10, 12)  # 06:00 in Mexico City: by the clock, the newest closed digest is the 9th's
    db = Database(f"sqlite:///{tmp_path}/d.sqlite")
    with db.session() as session:
        assert archive.newest_closed_date(session, settings, early) == date(2026, 5, 9)
        archive.build(session, settings, topics(), date(2026, 5, 10), now=early, end=early)
    with db.session() as session:
        assert archive.newest_closed_date(session, settings, early) == date(2026, 5, 10)
        later = utc(2026, 5, 12, 20)  # the clock is ahead of the archive again
        assert archive.newest_closed_date(session, settings, later) == date(2026, 5, 12)
    db.close()


def _story_day_one(session) -> list[int]:  # type: ignore[no-untyped-def]
    add_source(session, "borderreport", name="Border Report", tier="news")
    add_source(session, "cbp", name="CBP Newsroom", tier="government")
    add_source(session, "proceso", name="Proceso", tier="news", language="es")
    text = (
        "Officers at the Otay Mesa port of entry seized 2,400 pounds of methamphetamine hidden in a shipment of "
        "frozen strawberries on Monday night. The driver, a 34-year-old Tijuana resident, was arrested and turned "
        "over to Homeland Security Investigations. It was the largest methamphetamine seizure at the crossing this "
        "year, CBP said in a statement."
    )
    a = add_item(
        session, "cbp", "CBP officers seize 2,400 pounds of meth in strawberry shipment at Otay Mesa", text,
        seen=utc(2026, 6, 2, 15), published=utc(2026, 6, 2, 14), tags={"border_security": 0.95, "cartels": 0.7},
    )  # fmt: skip
    b = add_item(
        session, "borderreport", "Meth hidden in frozen strawberries seized at Otay Mesa crossing",
        "Federal officers at the Otay Mesa port of entry found 2,400 pounds of methamphetamine inside a load of "
        "frozen strawberries, CBP said. The Tijuana driver, 34, was arrested and handed to Homeland Security "
        "Investigations.", seen=utc(2026, 6, 2, 18), tags={"border_security": 0.9},
    )  # fmt: skip
    return [a, b]


def test_a_story_continued_next_day_is_an_update_with_all_its_outlets(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "America/Mexico_City", time="07:00")
    db = Database(f"sqlite:///{tmp_path}/d.sqlite")
    with db.session() as session:
        first_ids = _story_day_one(session)
        assign_stories(session, now=utc(2026, 6, 2, 20), window=timedelta(hours=72))
        day1 = archive.build(session, settings, topics(), date(2026, 6, 3), now=utc(2026, 6, 3, 20)).digest.content
    assert day1["counts"]["shown"] == 1 and day1["counts"]["new_items"] == 2
    story_id = next(iter(day1["stories"]))
    assert not day1["stories"][story_id]["is_update"]
    with db.session() as session:
        late = add_item(
            session, "proceso", "Decomisan 2,400 libras de metanfetamina ocultas en fresas en la garita de Otay Mesa",
            "Agentes de la CBP en la garita de Otay Mesa aseguraron 2,400 libras de metanfetamina ocultas en un "
            "cargamento de fresas congeladas. El conductor, de 34 años y residente de Tijuana, fue detenido.",
            seen=utc(2026, 6, 3, 16), language="es", tags={"border_security": 0.8},
        )  # fmt: skip
        report = assign_stories(session, now=utc(2026, 6, 3, 17), window=timedelta(hours=72))
        assert report.joined == 1 and report.created == 0
        day2 = archive.build(session, settings, topics(), date(2026, 6, 4), now=utc(2026, 6, 4, 20)).digest.content
    story = day2["stories"][story_id]
    assert story["is_update"] and "update" in story["why"]
    assert [o["source_id"] for o in story["outlets"]] == ["cbp", "borderreport", "proceso"]
    new = {it["item_id"]: it["new"] for o in story["outlets"] for it in o["items"]}
    assert new == {first_ids[0]: False, first_ids[1]: False, late: True}
    assert story["first_reported"]["source_id"] == "cbp"
    assert day2["counts"]["updates"] == 1
    assert "[UPDATE]" in render(day2, "txt")
    db.close()


def test_building_twice_gives_the_same_digest_and_keeps_one_row(db: Database, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "America/Mexico_City", time="07:00")
    with db.session() as session:
        _story_day_one(session)
        assign_stories(session, now=utc(2026, 6, 2, 20), window=timedelta(hours=72))
        first = archive.build(session, settings, topics(), date(2026, 6, 3), now=utc(2026, 6, 3, 20))
        first_content = json.loads(json.dumps(first.digest.content))
    with db.session() as session:
        # An item first seen after the period closed must not change the archived digest.
        add_item(session, "cbp", "Unrelated later release", "Nothing.", seen=utc(2026, 6, 3, 19), tags={"cartels": 1})
        again = archive.build(session, settings, topics(), date(2026, 6, 3), now=utc(2026, 6, 4, 20))
        again_content = json.loads(json.dumps(again.digest.content))
        rebuilt = archive.build(session, settings, topics(), date(2026, 6, 3), now=utc(2026, 6, 4, 21), rebuild=True)
        rows = session.query(Digest).count()
    assert first.created and not again.created and rebuilt.created
    assert again_content == first_content
    strip = {"built_at"}
    assert {k: v for k, v in rebuilt.digest.content.items() if k not in strip} == {
        k: v for k, v in first_content.items() if k not in strip
    }
    assert rows == 1


HOSTILE_TITLE = '<script>alert("t")</script>Cartel <img src=x onerror=alert(1)> ambush [x](javascript:alert(2))'
HOSTILE_TEXT = (
    'Gunmen linked to the cartel ambushed a convoy near the border crossing on Tuesday <script>alert("b")</script>. '
    "The attack left six officers dead and prompted a federal response <iframe src=//evil.example></iframe>. "
    'Officials said the gunmen used armoured trucks <a href="javascript:alert(3)" onclick="x()">here</a>.'
)


def test_hostile_markup_in_items_never_reaches_the_digest(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "America/Mexico_City", time="07:00")
    db = Database(f"sqlite:///{tmp_path}/d.sqlite")
    with db.session() as session:
        add_source(session, "evil", name='Evil <b onmouseover="x()">Outlet</b>', tier="blog")
        add_item(
            session, "evil", HOSTILE_TITLE, HOSTILE_TEXT, seen=utc(2026, 6, 2, 15), url="javascript:alert(4)",
            tags={"cartels": 0.9},
        )  # fmt: skip
        assign_stories(session, now=utc(2026, 6, 2, 20), window=timedelta(hours=72))
        content = archive.build(session, settings, topics(), date(2026, 6, 3), now=utc(2026, 6, 3, 20)).digest.content
        feed = section_feed([content], "cartels", title="T", self_name="x.atom", limit=10)
    page = render(content, "html")
    tree = html.fromstring(page)
    assert not tree.xpath("//script | //iframe | //img | //object | //embed | //style")
    for element in tree.iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (element.tag, name)
            if name == "href":
                assert value.startswith(("http://", "https://", "#")), value
    # Markup in feed text is shown as the text it is: escaped, never live.
    assert "<script" not in page.lower() and 'href="javascript' not in page.lower() and "<iframe" not in page
    assert "alert(4)" not in page  # the item's own javascript: URL is dropped, not linked
    assert "&lt;script&gt;" in page  # the title is shown as the text it is, escaped
    markdown = render(content, "md")
    assert "<script" not in markdown and "<img" not in markdown
    assert "\\[x\\](javascript" in markdown  # a feed's markdown link syntax stays inert text
    # The feed is well-formed XML and its HTML content, once unescaped, has no script either.
    parsed = feedparser.parse(feed)
    assert not parsed.bozo and len(parsed.entries) == 1
    entry_html = html.fromstring(parsed.entries[0].content[0].value)
    assert not entry_html.xpath("//script | //img")
    db.close()


def test_formats_and_feeds_parse(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "America/Mexico_City", time="07:00")
    db = Database(f"sqlite:///{tmp_path}/d.sqlite")
    with db.session() as session:
        _story_day_one(session)
        assign_stories(session, now=utc(2026, 6, 2, 20), window=timedelta(hours=72))
        content = archive.build(session, settings, topics(), date(2026, 6, 3), now=utc(2026, 6, 3, 20)).digest.content
        written = archive.write_outputs(session, settings, content)
    assert json.loads(written["json"].read_text(encoding="utf-8")) == content
    text = written["txt"].read_text(encoding="utf-8")
    assert "First reported by CBP Newsroom, Tue 02 Jun 08:00 CST" in text  # 14:00 UTC, in the reporter's zone
    feed = feedparser.parse(written["atom"].read_bytes())
    assert not feed.bozo and feed.entries[0].title.endswith("2026-06-03")
    per_topic = feedparser.parse((written["html"].parent / "digests-border_security.atom").read_bytes())
    assert [e.title for e in per_topic.entries] == [content["stories"][next(iter(content["stories"]))]["headline"]]
    page = etree.HTML(written["html"].read_text(encoding="utf-8"))
    assert page.xpath("//a[starts-with(@href, 'https://cbp.example/')]")
    db.close()


def _mail_config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "config"
    config.mkdir()
    (config / "topics.toml").write_text((REPO / "config" / "topics.toml").read_text(encoding="utf-8"))
    (config / "sources.toml").write_text("")
    (config / "settings.toml").write_text(
        f'data_dir = "{tmp_path / "data"}"\ntimezone = "America/Mexico_City"\n'
        f'[digest]\ntime = "07:00"\n'
        f'[mail]\nhost = "127.0.0.1"\nport = {port}\nsender = "digest@beat.example"\n'
        f'recipients = ["reporter@beat.example"]\ntimeout = "5s"\n'
    )
    return config


def test_cli_builds_writes_and_mails_once(db_url: str, tmp_path: Path) -> None:
    recorder, port = Recorder(), free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    try:
        config = _mail_config(tmp_path, port)
        db = Database(db_url)
        with db.session() as session:
            _story_day_one(session)
        db.close()
        args = ["--config", str(config), "--db", db_url, "digest", "--date", "2026-06-03"]
        first = agg(*args, "--format", "json", "--send")
        assert first.returncode == 0, first.stderr
        content = json.loads(first.stdout)
        assert content["counts"]["shown"] == 1 and "(built)" in first.stderr and "mailed to" in first.stderr
        second = agg(*args, "--format", "md", "--send")
        assert second.returncode == 0, second.stderr
        assert "from the archive" in second.stderr and "already mailed" in second.stderr
        assert second.stdout.startswith("# Beat digest")
        assert len(recorder.envelopes) == 1  # sent once
        message = recorder.parsed()
        assert message["Subject"].startswith("[beat digest] Beat digest — 2026-06-03")
        kinds = [part.get_content_type() for part in message.iter_parts()]
        assert kinds == ["text/plain", "text/html"]
        html_part = message.get_body(("html",))
        assert html_part is not None and "Otay Mesa" in html_part.get_content()
        assert (tmp_path / "data" / "digests" / "digest-2026-06-03.html").exists()
        resent = agg(*args, "--resend")
        assert resent.returncode == 0 and len(recorder.envelopes) == 2
    finally:
        controller.stop()


def test_mail_failure_keeps_the_digest_and_says_why(tmp_path: Path) -> None:
    config = _mail_config(tmp_path, free_port())  # nothing listens there
    db_url = f"sqlite:///{tmp_path}/d.sqlite"
    db = Database(db_url)
    with db.session() as session:
        _story_day_one(session)
    db.close()
    failed = agg("--config", str(config), "--db", db_url, "digest", "--date", "2026-06-03", "--send")
    assert failed.returncode != 0 and re.search(r"mail: cannot connect to 127\.0\.0\.1:\d+", failed.stderr)
    assert failed.stderr.strip().count("\n") == 1  # the build line, then the one error line
    db = Database(db_url)
    with db.session() as session:
        row = session.query(Digest).one()
        assert row.sent_at is None  # the next --send tries again
    db.close()
