"""When every source fails its DNS lookup the fault is the network's: it is said once, not per source each tick."""

from __future__ import annotations

import logging

import pytest

from aggregator.crawl.health import CrawlLine
from aggregator.schedule import jobs
from aggregator.services.crawl import CrawlRun
from aggregator.spiders.process import CrawlOutcome


def _run(*errors: str | None) -> CrawlRun:
    lines = [
        CrawlLine(f"s{n}", "error" if e else "ok", None, 0, 0, 0, 0, 1, e) for n, e in enumerate(errors)
    ]  # fmt: skip
    return CrawlRun(CrawlOutcome("c", 0, len(lines), lines, None))


def test_all_dns_failures_mean_the_network() -> None:
    down = _run("fetch: DNS lookup failed (a.example)", "fetch: DNS lookup failed (b.example)").network_down
    assert down is not None and "network looks down" in down and "all 2 sources" in down


@pytest.mark.parametrize(
    "errors",
    [("fetch: DNS lookup failed (a.example)", None), ("fetch: DNS lookup failed (a.example)", "fetch: timed out"),
     ("fetch: DNS lookup failed (a.example)",)],
)  # fmt: skip
def test_one_source_down_is_that_sources_problem(errors: tuple[str | None, ...]) -> None:
    assert _run(*errors).network_down is None


def test_the_scheduler_says_it_once_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    down = _run("fetch: DNS lookup failed (a.example)", "fetch: DNS lookup failed (b.example)").network_down
    jobs._network["down"] = False
    with caplog.at_level(logging.INFO, logger=jobs.log.name):
        for _ in range(3):
            jobs._say_network(down, planned=2)
        jobs._say_network(None, planned=2)
    said = [r.getMessage() for r in caplog.records]
    assert sum("network looks down" in m for m in said) == 1
    assert said[-1] == "the network is back: sources resolve again"
