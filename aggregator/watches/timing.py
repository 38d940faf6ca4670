"""When an alert may go: right away or after its batch period, never in quiet hours, later after each failure."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from aggregator.config.watches import WatchConfig

FIRST_RETRY = 60.0  # seconds before the first retry of a failed channel; doubled after each further failure


def first_attempt(watch: WatchConfig, matched_at: datetime) -> datetime:
    """When a new match is due: now for "now" watches, one batch period later for the others (so one message
    carries every match of the period)."""
    return matched_at + timedelta(seconds=watch.period)


def retry_at(attempts: int, now: datetime, longest: float) -> datetime:
    """The next try after the `attempts`-th failure: 1m, 2m, 4m... at most `longest` seconds away."""
    wait = min(FIRST_RETRY * 2 ** max(attempts - 1, 0), longest)
    return now + timedelta(seconds=wait)


def quiet_until(watch: WatchConfig, now: datetime, zone: tzinfo) -> datetime | None:
    """The end of the quiet hours `now` falls in (in UTC, as stored), or None when it is not quiet."""
    hours = watch.quiet_hours
    if hours is None:
        return None
    start, end = hours
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    overnight = start > end  # "22:00-07:00" spans midnight
    inside = (clock >= start or clock < end) if overnight else (start <= clock < end)
    if not inside:
        return None
    day = local.date() + timedelta(days=1) if overnight and clock >= start else local.date()
    ends = datetime.combine(day, end, tzinfo=zone)
    return ends.astimezone(now.tzinfo)
