"""The command line: --help everywhere, one clear line and a non-zero exit on errors, export, the demo."""

from __future__ import annotations

import csv
import io
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests import feedgen
from tests.crawling import source
from tests.httpserver import Reply, TestServer

REPO = Path(__file__).resolve().parents[1]
COMMANDS = [[], ["crawl"], ["sources"], ["sources", "list"], ["sources", "check"], ["export"], ["demo"], ["digest"]]
COMMANDS += [["search"], ["stats"]]
COMMANDS += [["sources", verb] for verb in ("add", "test", "enable", "disable", "import-opml", "export-opml")]


def agg(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=180
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "aggregator")
def test_every_command_has_help(command: list[str]) -> None:
    result = agg(*command, "--help")
    assert result.returncode == 0 and "Usage:" in result.stdout
    assert "--config" in agg("--help").stdout


def test_errors_are_one_line_and_exit_non_zero(tmp_path: Path) -> None:
    missing = agg("--config", str(tmp_path / "nope"), "sources", "list")
    assert missing.returncode != 0
    assert missing.stderr.strip().count("\n") == 0 and "sources.toml: file not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_db = agg("--config", str(REPO / "config"), "--db", "postgresql+psycopg://x@127.0.0.1:1/none", "export")
    assert bad_db.returncode != 0 and "storage: cannot open" in bad_db.stderr
    assert bad_db.stderr.strip().count("\n") == 0
    verbose = agg("--verbose", "--config", str(tmp_path / "nope"), "sources", "list")
    assert "Traceback" in verbose.stderr and verbose.returncode != 0
    unknown = agg("--config", str(REPO / "config"), "--db", f"sqlite:///{tmp_path}/x.sqlite", "crawl", "-s", "zzz")
    assert unknown.returncode != 0 and "unknown source id(s): zzz" in unknown.stderr


def test_bad_source_line_is_reported_but_others_crawl(tmp_path: Path, server: TestServer) -> None:
    server.add("/feed", Reply(body=feedgen.rss20([feedgen.item(n, server.base) for n in range(3)])))
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.toml").write_text(
        '[crawl]\ndownload_delay = 0\nautothrottle = false\nallow_networks = ["127.0.0.1/32"]\n'
    )
    (config / "sources.toml").write_text(
        source("ok", server.url("/feed")) + '[[source]]\nid = "broken"\nname = "B"\nkind = "feed"\n'
        'url = "not a url"\nlanguage = "en"\ntier = "news"\n'
    )
    db = f"sqlite:///{tmp_path}/cli.sqlite"
    crawl = agg("--config", str(config), "--db", db, "crawl")
    assert crawl.returncode == 0, crawl.stderr
    assert "source #2 'broken'" in crawl.stderr and "field 'url'" in crawl.stderr
    assert "3 new" in crawl.stdout
    check = agg("--config", str(config), "--db", db, "sources", "check")
    assert check.returncode == 0 and "ok" in check.stdout.split("\n")[2]
    jsonl = agg("--config", str(config), "--db", db, "export", "--format", "jsonl")
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert len(rows) == 3 and all(r["sources"] == ["ok"] and r["first_seen_at"].endswith("Z") for r in rows)
    assert {"id", "source_id", "url", "canonical_url", "title", "published_at", "language"} <= set(rows[0])
    out = tmp_path / "items.csv"
    agg("--config", str(config), "--db", db, "export", "--format", "csv", "--out", str(out))
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(table) == 3 and table[0]["source_id"] == "ok"
    since = agg("--config", str(config), "--db", db, "export", "--since", "2099-01-01")
    assert since.returncode == 0 and since.stdout == ""


def test_demo_runs_offline_and_reports(tmp_path: Path) -> None:
    shutil.copytree(REPO / "config", tmp_path / "config")
    result = agg("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "not_modified" in result.stdout  # the second crawl costs 304s
    assert "items stored" in result.stdout and (tmp_path / "data" / "demo.sqlite").exists()
    summary = next(line for line in result.stdout.splitlines() if "items stored" in line)
    assert int(summary.split()[0]) >= 40 and "es:" in summary and "en:" in summary
    # It ends with the digest: in the terminal, and as HTML whose path is printed last.
    assert "== the digest" in result.stdout and "== CARTEL–TERROR NEXUS ==" in result.stdout
    html = Path(result.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    assert html.exists() and html.parent == tmp_path / "data" / "demo-digests"
    content = json.loads(html.with_suffix(".json").read_text(encoding="utf-8"))
    assert max(len(story["outlets"]) for story in content["stories"].values()) >= 4  # one event, many outlets


def test_demo_run_starts_the_scheduler_on_the_demo_outlets_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    shutil.copytree(REPO / "config", tmp_path / "config")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "demo", "--run"], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "next refresh" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(seen) + rest
    assert "scheduler stopped" in rest
    config = tmp_path / "data" / "demo-config"
    status = agg("--config", str(config), "--db", f"sqlite:///{tmp_path / 'data' / 'demo.sqlite'}", "status")
    assert status.returncode == 0 and "refresh" in status.stdout and "last digest: 20" in status.stdout
