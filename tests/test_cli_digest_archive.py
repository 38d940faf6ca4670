"""What a reporter expects of `digest` around the archive: listing it, asking for an old date, mailing from cron."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller

from aggregator.config.settings import Settings
from aggregator.digest import archive
from aggregator.digest.render import render
from aggregator.store.database import Database
from tests.digestdata import topics
from tests.test_cli import agg
from tests.test_digest import _mail_config, _story_day_one
from tests.test_mail import Recorder, free_port


def test_send_is_quiet_list_shows_the_archive_and_old_dates_name_it(tmp_path: Path) -> None:
    recorder, port = Recorder(), free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    try:
        config = _mail_config(tmp_path, port)
        db_url = f"sqlite:///{tmp_path / 'd.sqlite'}"
        db = Database(db_url)
        with db.session() as session:
            _story_day_one(session)
        db.close()
        base = ["--config", str(config), "--db", db_url, "digest"]
        sent = agg(*base, "--date", "2026-06-03", "--send")
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout == ""  # cron mails stdout: the digest must not go out twice
        assert "mailed to" in sent.stderr and len(recorder.envelopes) == 1
        again = agg(*base, "--date", "2026-06-03", "--send")
        assert again.returncode == 0 and again.stdout == ""
        assert "already mailed on " in again.stderr and "(America/Mexico_City)" in again.stderr
        assert "UTC" not in again.stderr
        asked = agg(*base, "--date", "2026-06-03", "--send", "--format", "md")  # asked for: printed
        assert asked.stdout.startswith("# Beat digest")
        listed = agg(*base, "--list")
        assert listed.returncode == 0, listed.stderr
        row = next(line for line in listed.stdout.splitlines() if line.startswith("2026-06-03"))
        assert "2026-06-02 07:00 - 2026-06-03 07:00" in row  # the period in the reporter's zone
        old = agg(*base, "--date", "2026-06-01")
        assert old.returncode == 1
        assert "no digest for 2026-06-01" in old.stderr and "archived: 2026-06-03" in old.stderr
        assert "digest --list" in old.stderr
    finally:
        controller.stop()


def test_the_preview_points_at_the_preview(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path / "data"))
    db = Database(f"sqlite:///{tmp_path / 'p.sqlite'}")
    with db.session() as session:
        content = archive.preview(session, settings, topics(), now=datetime.now(UTC), everything=False)
    db.close()
    assert content["see_all"] == "aggregator digest --preview --all --format txt"
    assert "--preview --all" in render(content, "txt")
