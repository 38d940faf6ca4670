"""Config validation: a bad source or setting is named precisely, and never stops the good ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.config.settings import load_settings
from aggregator.config.sources import load_sources, parse_sources
from aggregator.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_shipped_config_is_valid() -> None:
    catalog = load_sources(REPO / "config")
    assert catalog.problems == ()
    ids = {s.id for s in catalog.sources}
    # The beat's core outlets, in both languages, and the kinds the issue names.
    for wanted in (
        "insightcrime-en",
        "insightcrime-es",
        "foreignpolicy",
        "borderreport",
        "cbp-media-releases",
        "doj-press",
        "dea-press",
        "crisisgroup",
        "ctc-sentinel",
        "longwarjournal",
        "smallwarsjournal",
        "borderlandbeat",
        "animalpolitico",
        "proceso",
        "riodoce",
        "zetatijuana",
        "eluniversal",
        "milenio",
        "lagunajournal",
        "uapress-author-news",
    ):
        assert wanted in ids
    assert {s.language for s in catalog.sources} >= {"en", "es"}
    assert {s.kind.value for s in catalog.sources} >= {"feed", "sitemap", "listing"}
    settings = load_settings(REPO / "config")
    assert settings.crawl.user_agent.startswith("beat-aggregator/") and "+http" in settings.crawl.user_agent


def test_bad_sources_are_reported_and_skipped() -> None:
    text = """
[[source]]
id = "good"
name = "Good"
kind = "feed"
url = "https://good.example/feed"
language = "en"
tier = "news"

[[source]]
id = "Bad Id"
name = "Bad"
kind = "feed"
url = "https://bad.example/feed"
language = "en"
tier = "news"

[[source]]
id = "noscheme"
name = "No scheme"
kind = "feed"
url = "ftp://x.example/feed"
language = "en"
tier = "news"

[[source]]
id = "kind"
name = "Kind"
kind = "podcast"
url = "https://k.example/"
language = "en"
tier = "news"

[[source]]
id = "listing"
name = "Listing"
kind = "listing"
url = "https://l.example/"
language = "en"
tier = "news"
[source.options]
item_selector = "article[[["

[[source]]
id = "good"
name = "Duplicate"
kind = "feed"
url = "https://dup.example/feed"
language = "en"
tier = "news"

[[source]]
id = "interval"
name = "Interval"
kind = "feed"
url = "https://i.example/feed"
language = "en"
tier = "news"
poll_interval = "every now and then"
"""
    catalog = parse_sources(text, Path("config/sources.toml"))
    assert [s.id for s in catalog.sources] == ["good"]
    messages = {p.source_id: p.message for p in catalog.problems}
    assert "source #2 'Bad Id'" in messages["Bad Id"] and "field 'id'" in messages["Bad Id"]
    assert "field 'url'" in messages["noscheme"] and "config/sources.toml" in messages["noscheme"]
    assert "field 'kind'" in messages["kind"]
    assert "item_selector" in messages["listing"] and "invalid CSS selector" in messages["listing"]
    assert "duplicate id" in messages["good"]
    assert "field 'poll_interval'" in messages["interval"] and "not a duration" in messages["interval"]


def test_unparseable_files_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "sources.toml").write_text("[[source]\nid = ")
    with pytest.raises(ConfigError, match="sources.toml: not valid TOML"):
        load_sources(tmp_path)
    (tmp_path / "settings.toml").write_text('timezone = "Mars/Olympus"\n[crawl]\nretry_times = "many"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path)
    assert "field 'timezone'" in str(info.value) and "field 'crawl.retry_times'" in str(info.value)
    (tmp_path / "settings.toml").write_text("[crawl]\nunknown_knob = 1\n")
    with pytest.raises(ConfigError, match="crawl.unknown_knob"):
        load_settings(tmp_path)
    with pytest.raises(ConfigError, match="file not found"):
        load_sources(tmp_path / "nowhere")
