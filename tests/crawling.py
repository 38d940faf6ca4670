"""Run real crawls (Scrapy in a child process) against the local test server, with test-speed settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aggregator.config.settings import CrawlSettings, Settings
from aggregator.config.sources import SourceCatalog, parse_sources
from aggregator.spiders.process import CrawlOutcome, crawl_sources
from aggregator.store.database import Database

# What tests that crawl their own servers allow; 127.0.0.2 and the rest of 127.0.0.0/8 stay refused.
LOCAL_NETWORK = "127.0.0.1/32"


def source(
    sid: str,
    url: str,
    *,
    kind: str = "feed",
    language: str = "en",
    fulltext: bool = False,
    options: dict[str, Any] | None = None,
) -> str:
    """One [[source]] table in TOML."""
    lines = [
        "[[source]]",
        f'id = "{sid}"',
        f'name = "Test {sid}"',
        f'kind = "{kind}"',
        f'url = "{url}"',
        f'language = "{language}"',
        'tier = "news"',
        f"fulltext = {'true' if fulltext else 'false'}",
    ]
    if options:
        lines.append("[source.options]")
        for key, value in options.items():
            rendered = "[" + ", ".join(f'"{v}"' for v in value) + "]" if isinstance(value, list) else f'"{value}"'
            if isinstance(value, int | float) and not isinstance(value, bool):
                rendered = str(value)
            lines.append(f"{key} = {rendered}")
    return "\n".join(lines) + "\n"


def catalog(*tables: str) -> SourceCatalog:
    return parse_sources("\n".join(tables), Path("sources.toml"))


def fast_settings(tmp_path: Path, **crawl: Any) -> Settings:
    values: dict[str, Any] = {
        "download_delay": 0.0,
        "autothrottle": False,
        "concurrent_per_host": 16,
        "timeout": 4.0,
        "retry_times": 1,
        "max_redirects": 3,
        # The test servers listen on 127.0.0.1, which the crawler refuses unless told otherwise.
        "allow_networks": [LOCAL_NETWORK],
    }
    values.update(crawl)
    settings = Settings(data_dir=str(tmp_path / "data"), crawl=CrawlSettings(**values))
    settings.config_dir = tmp_path / "config"
    return settings


def run(db: Database, settings: Settings, cat: SourceCatalog, wanted: list[str] | None = None) -> CrawlOutcome:
    outcome = crawl_sources(db, settings, cat, wanted=wanted, extra_scrapy_settings={"RETRY_BACKOFF_BASE": 0.05})
    assert outcome.exit_code == 0, outcome.log_path.read_text() if outcome.log_path else "no log"
    return outcome


def lines_by_source(outcome: CrawlOutcome) -> dict[str, Any]:
    return {line.source_id: line for line in outcome.lines}
