"""When to check a source next: its own interval, what the server asked for, and backoff after errors."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# Errors double the wait up to the maximum; the jitter keeps sources on one host from retrying in step.
JITTER = 0.15
MAX_BACKOFF_DOUBLINGS = 10


@dataclass(frozen=True)
class PollPolicy:
    """Bounds for the interval between two checks of one source, in seconds."""

    default: float = 1800.0
    minimum: float = 300.0
    maximum: float = 86400.0

    def clamp(self, seconds: float) -> float:
        return max(self.minimum, min(self.maximum, seconds))


# How fast the estimate of a source's publishing rate follows what each fetch finds.
RATE_SMOOTHING = 0.3
CHECKS_PER_ITEM = 2.0  # look about twice per expected new item, so news waits half a gap on average


def publish_rate(previous: float | None, new_items: int, hours: float) -> float:
    """New items per hour, smoothed over fetches (an exponential moving average)."""
    observed = new_items / max(hours, 1 / 60)
    return observed if previous is None else RATE_SMOOTHING * observed + (1 - RATE_SMOOTHING) * previous


def adaptive_interval(rate_per_hour: float | None, policy: PollPolicy) -> float | None:
    """Seconds between checks for a source publishing at `rate_per_hour`, within the policy's bounds;
    None while the rate is unknown (the default interval applies)."""
    if rate_per_hour is None:
        return None
    if rate_per_hour <= 0:
        return policy.maximum
    return policy.clamp(3600.0 / (rate_per_hour * CHECKS_PER_ITEM))


def cache_max_age(cache_control: str | None) -> float | None:
    """max-age (or s-maxage) from a Cache-Control header, in seconds."""
    if not cache_control:
        return None
    match = re.search(r"(?:s-maxage|max-age)\s*=\s*\"?(\d+)", cache_control, re.IGNORECASE)
    return float(match.group(1)) if match else None


def retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from `now`; accepts delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_check(
    now: datetime,
    policy: PollPolicy,
    *,
    interval: float | None = None,
    error_count: int = 0,
    ttl: float | None = None,
    max_age: float | None = None,
    retry_after_seconds: float | None = None,
    rng: random.Random | None = None,
) -> tuple[datetime, float]:
    """Return (when to check next, the interval used).

    A healthy source waits its interval, stretched by what the feed (TTL) or server (Cache-Control)
    asked for; a failing one backs off exponentially. Retry-After is always honoured as a minimum.
    """
    rng = rng or random.Random()
    base = interval or policy.default
    wait = max(base, ttl or 0.0, max_age or 0.0)
    if error_count > 0:
        wait = base * (2 ** min(error_count, MAX_BACKOFF_DOUBLINGS))
    wait = policy.clamp(wait)
    wait *= 1 + rng.uniform(-JITTER, JITTER)
    if retry_after_seconds is not None:
        # The server's own word beats our bounds, but never beyond a week.
        wait = max(wait, min(retry_after_seconds, 7 * 86400.0))
    return now + timedelta(seconds=wait), wait
