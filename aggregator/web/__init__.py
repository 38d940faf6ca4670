"""The web app behind `aggregator serve`: search, items, digests, volume chart and source health, in HTML and JSON."""

from aggregator.web.app import create_app

__all__ = ["create_app"]
