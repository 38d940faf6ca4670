"""When sources are checked next: intervals, server hints, backoff with jitter."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.config.durations import parse_duration
from aggregator.crawl.polling import PollPolicy, cache_max_age, next_check, retry_after
from aggregator.store.urls import url_key

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = PollPolicy(default=1800, minimum=300, maximum=86400)


def _wait(**kw: object) -> float:
    when, _ = next_check(NOW, POLICY, rng=random.Random(1), **kw)  # type: ignore[arg-type]
    return (when - NOW).total_seconds()


def test_interval_ttl_and_cache_control_stretch_but_stay_bounded() -> None:
    assert 1800 * 0.84 <= _wait() <= 1800 * 1.16
    assert _wait(ttl=7200) >= 7200 * 0.84
    assert _wait(max_age=10 * 86400) <= 86400 * 1.16
    assert _wait(interval=60) >= 300 * 0.84  # never below the minimum


def test_errors_back_off_exponentially_with_jitter() -> None:
    waits = [_wait(error_count=n) for n in range(1, 6)]
    assert waits == sorted(waits) and waits[-1] <= 86400 * 1.16
    spread = {round(next_check(NOW, POLICY, error_count=2)[1]) for _ in range(20)}
    assert len(spread) > 1  # jitter: sources on one host do not retry in lock-step


def test_retry_after_wins_even_over_the_maximum_but_is_capped() -> None:
    assert _wait(retry_after_seconds=3 * 86400) >= 3 * 86400
    assert _wait(retry_after_seconds=90 * 86400) <= 7 * 86400


def test_header_parsing() -> None:
    assert cache_max_age("public, max-age=600") == 600
    assert cache_max_age('s-maxage="120"') == 120
    assert cache_max_age("no-cache") is None
    assert retry_after("120", NOW) == 120
    assert retry_after("Wed, 25 Nov 2026 13:00:00 GMT", NOW) == 3600
    assert retry_after("soon", NOW) is None


def test_durations() -> None:
    assert parse_duration("90s") == 90 and parse_duration("1h30m") == 5400 and parse_duration(45) == 45
    for bad in ("", "fast", "10x", "-5m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://www.example.com/a/story?utm_source=rss&utm_medium=feed", "http://example.com/a/story/"),
        ("https://m.example.com/a/story#comments", "https://example.com/a/story"),
        ("https://example.com/amp/a/story", "https://example.com/a/story"),
        ("https://example.com/a/story/amp/", "https://example.com/a/story"),
        ("https://example.com/a/story?outputType=amp", "https://example.com/a/story"),
        ("https://example.com/a?id=2&page=1", "https://example.com/a?page=1&id=2"),
    ],
)
def test_url_variants_share_a_key(a: str, b: str) -> None:
    assert url_key(a) == url_key(b)


def test_different_articles_keep_different_keys() -> None:
    assert url_key("https://example.com/a?id=1") != url_key("https://example.com/a?id=2")
    assert url_key("https://example.com/a") != url_key("https://other.example/a")
    assert url_key("mailto:x@example.com") is None and url_key("") is None
    assert len(url_key("https://example.com/" + "x" * 5000) or "") < 100
    assert NOW - timedelta(0) == NOW
