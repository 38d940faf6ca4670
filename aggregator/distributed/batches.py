"""Group due sources into batches by host: a host's sources always travel together, so its politeness holds."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Batch:
    """One task's worth of sources, and the hosts they live on (the worker locks these)."""

    sources: list[str]
    hosts: list[str]

    def message(self) -> dict[str, list[str]]:
        return {"sources": self.sources, "hosts": self.hosts}


def host_of(url: str) -> str:
    """The host a source's requests go to: its URL's host name (ports share a host's politeness, as in Scrapy)."""
    return (urlsplit(url).hostname or url).lower()


def make_batches(due: list[tuple[str, str]], size: int) -> list[Batch]:
    """Pack (source id, host) pairs, most overdue first, into batches of about `size` sources. Every host's
    sources go in one batch; a host with more than `size` due sources makes a batch of its own."""
    by_host: dict[str, list[str]] = {}
    for source_id, host in due:
        by_host.setdefault(host, []).append(source_id)
    batches: list[Batch] = []
    sources: list[str] = []
    hosts: list[str] = []
    for host, ids in by_host.items():  # dicts keep insertion order: the most overdue host first
        if sources and len(sources) + len(ids) > size:
            batches.append(Batch(sources, hosts))
            sources, hosts = [], []
        sources = sources + ids
        hosts = hosts + [host]
    if sources:
        batches.append(Batch(sources, hosts))
    return batches
