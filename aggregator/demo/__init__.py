"""The demo's sample outlets: their sources (with the local server's address) and crawl settings for our own server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aggregator.config.sources import SourceCatalog, parse_sources

DEMO_DIR = Path(__file__).parent
SITE_DIR = DEMO_DIR / "site"
DEMO_NETWORK = "127.0.0.1/32"  # where SiteServer listens


def demo_catalog(base: str) -> SourceCatalog:
    """The demo sources with the local server's address filled in."""
    path = DEMO_DIR / "sources.toml"
    return parse_sources(path.read_text(encoding="utf-8").replace("@@BASE@@", base), path)


def demo_settings(settings: Any) -> Any:
    """Politeness delays exist for other people's servers; the demo server is ours, on 127.0.0.1 (allowed by name:
    the crawler refuses loopback and private addresses by default)."""
    crawl = settings.crawl.model_copy(
        update={
            "download_delay": 0.0,
            "autothrottle": False,
            "concurrent_per_host": 8,
            "allow_networks": [*settings.crawl.allow_networks, DEMO_NETWORK],
        }
    )
    digest = settings.digest.model_copy(update={"output_dir": "demo-digests", "title": "Beat digest (demo)"})
    demo = settings.model_copy(update={"crawl": crawl, "digest": digest})
    demo.config_dir = settings.config_dir
    return demo
