"""Crawl planning and source state: due sources, polling pace, health, discovery, trials, probes (engine: spiders)."""
