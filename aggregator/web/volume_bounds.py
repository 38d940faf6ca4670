"""What one volume request may cost: at most MAX_PERIODS periods per answer, and the bytes an answer holds.

Every period is a label and one count per series, computed, kept in the cache and sent, so a request for
0001-01-02..9999-12-30 by day (3.65 million periods) took seconds, answered tens of megabytes and kept hundreds
in memory. A range that would give more periods is refused (400, naming the parameter); without since, only the
newest MAX_PERIODS periods are answered.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import date

from aggregator.search.stats import Volume

# Ten years of days (3,653 with the leap days) and a little more: "the last ten years by day" always fits. The
# same bound is 71 years of weeks and 308 of months, more than counted dates span (they start in 1990).
MAX_PERIODS = 3_700
UNITS = {"day": "days", "week": "weeks", "month": "months"}


class ParameterError(ValueError):
    """A request parameter the web app refuses (400), with the parameter's name for the JSON error."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter


def _index(day: date, by: str) -> int:
    """The period's number: consecutive periods get consecutive numbers."""
    if by == "day":
        return day.toordinal()
    if by == "week":
        return (day.toordinal() - 1) // 7  # 0001-01-01 is a Monday, so these are ISO weeks
    return day.year * 12 + day.month - 1


def period_count(first: date, last: date, by: str) -> int:
    """How many `by` periods from the one holding `first` to the one holding `last`, both included."""
    return _index(last, by) - _index(first, by) + 1


def check_range(by: str, since: date | None, until: date | None, newest: date | None) -> None:
    """Refuse a range whose answer would hold more than MAX_PERIODS periods of `by`, or that ends before it starts.

    `newest` is the latest local day any item can be counted under (None: no items): without until the periods
    run to the newest item counted, without since they start at the first, which is never after `newest`.
    Raises ParameterError naming the parameter to change.
    """
    unit = UNITS[by]
    shorter = "" if by == "month" else " or count by a longer period"
    if since is not None and until is not None:
        if until < since:
            raise ParameterError("until", f"{until} is before since={since}")
        count = period_count(since, until, by)
        if count > MAX_PERIODS:
            raise ParameterError(
                "until", f"since={since} to until={until} is {count:,} {unit}; at most {MAX_PERIODS:,} are counted "
                f"at once: narrow the range{shorter}"
            )  # fmt: skip
    elif since is not None and newest is not None and (count := period_count(since, newest, by)) > MAX_PERIODS:
        raise ParameterError(
            "since", f"since={since} is {count:,} {unit} before the newest item; at most {MAX_PERIODS:,} are counted "
            f"at once: give a later since, or an until{shorter}"
        )  # fmt: skip
    elif until is not None and newest is not None and (count := period_count(newest, until, by)) > MAX_PERIODS:
        raise ParameterError(
            "until", f"until={until} is {count:,} {unit} after the newest item; at most {MAX_PERIODS:,} are counted "
            f"at once: give an earlier until, or a since{shorter}"
        )  # fmt: skip


def newest_periods(found: Volume) -> Volume:
    """`found` with at most its newest MAX_PERIODS periods.

    Only an open start can give more: the periods then start at the first item counted, and counted dates go back
    to 1990 (parse.dates.EARLIEST), some 13,000 days. A `since` is not made up instead: stats.volume filters since
    and until on another date than it counts by, so it would drop items (an implausible date, counted when seen).
    """
    if len(found.periods) <= MAX_PERIODS:
        return found
    cut = len(found.periods) - MAX_PERIODS
    return replace(found, periods=found.periods[cut:], series={k: v[cut:] for k, v in found.series.items()})


def volume_bytes(found: Volume) -> int:
    """What `found` holds in memory, as the cache accounts it: the lists, the labels, the keys and the counts."""
    size = sys.getsizeof(found) + sys.getsizeof(found.periods) + sum(map(sys.getsizeof, found.periods))
    size += sys.getsizeof(found.series)
    for key, counts in found.series.items():
        size += sys.getsizeof(key) + sys.getsizeof(counts)
        # CPython shares the ints -5..256; a larger count is an object of its own.
        size += sum(sys.getsizeof(c) for c in counts if not -5 <= c <= 256)
    return size
