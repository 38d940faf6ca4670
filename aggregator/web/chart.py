"""The volume chart as SVG geometry: round-numbered axes, one line per series and a legend, drawn server-side."""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

WIDTH, PLOT_HEIGHT = 900, 300
LEFT, TOP, RIGHT, BOTTOM = 64, 16, 24, 78  # margins around the plot; BOTTOM holds the slanted period labels
FONT_SIZE = 13  # px in the SVG's own units; the page scales the SVG down only on narrow screens
# The legend sits below the plot in columns, each name whole (wrapped if need be): a legend at the side cut
# "Border security & migration enforcement" to 30 characters.
LEGEND_COLUMNS = 2
LEGEND_LINE = 18
LEGEND_GAP = 8  # between legend rows
LEGEND_SWATCH = 24  # the colour square and the space after it
CHAR_WIDTH = 0.6 * FONT_SIZE  # an average sans-serif character, enough for wrapping without measuring text
MAX_SERIES = 8  # more lines than this cannot be told apart; the smallest are summed into OTHER
MAX_X_LABELS = 12
# Five years of weeks. One bogus publication date (1970 is common) would otherwise stretch the axis over decades.
MAX_POINTS = 260
OTHER = "(all others)"
# Colour-blind-safe (Okabe-Ito) plus two greys for the overflow.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442", "#999999")


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    period: str
    value: int


@dataclass(frozen=True)
class Line:
    name: str
    color: str
    total: int
    points: list[Point]

    @property
    def path(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class Tick:
    at: float
    text: str


@dataclass(frozen=True)
class LegendEntry:
    """One series in the legend: where its swatch goes and its name and total, wrapped into lines."""

    x: float
    y: float  # top of the swatch; the first text line's baseline is FONT_SIZE - 2 below
    color: str
    name: str
    lines: list[str]


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: float
    top: float
    right: float  # x where the plot ends
    bottom: float  # y of the x axis
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    lines: list[Line]
    hidden_periods: int = 0  # older periods left out (MAX_POINTS); the page says so
    legend: tuple[LegendEntry, ...] = ()
    font_size: int = FONT_SIZE
    line_height: int = LEGEND_LINE

    @property
    def empty(self) -> bool:
        return not self.lines or all(line.total == 0 for line in self.lines)


def nice_step(maximum: int, ticks: int = 5) -> int:
    """A 1, 2 or 5 times a power of ten step that divides 0..maximum into at most `ticks` intervals."""
    if maximum <= ticks:
        return 1
    raw = maximum / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)


def top_series(series: dict[str, list[int]], limit: int = MAX_SERIES) -> list[tuple[str, list[int]]]:
    """The biggest series by total (ties by name); the rest summed into one OTHER series."""
    ranked = sorted(series.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    if len(ranked) <= limit:
        return ranked
    kept, rest = ranked[: limit - 1], ranked[limit - 1 :]
    summed = [sum(values) for values in zip(*(v for _, v in rest), strict=True)]
    return [*kept, (OTHER, summed)]


def legend(lines: list[Line], top: float) -> tuple[list[LegendEntry], float]:
    """The legend entries in LEGEND_COLUMNS columns from y=`top` down, and the y where the legend ends."""
    column = (WIDTH - LEFT - RIGHT) / LEGEND_COLUMNS
    chars = max(10, int((column - LEGEND_SWATCH - 8) / CHAR_WIDTH))
    entries: list[LegendEntry] = []
    y = top
    for start in range(0, len(lines), LEGEND_COLUMNS):
        row = lines[start : start + LEGEND_COLUMNS]
        tallest = 1
        for n, line in enumerate(row):
            # break_long_words=False: a long word overflows a little rather than being cut in two.
            text = textwrap.wrap(f"{line.name} ({line.total:,})", chars, break_long_words=False) or [""]
            entries.append(LegendEntry(LEFT + n * column, y, line.color, line.name, text))
            tallest = max(tallest, len(text))
        y += tallest * LEGEND_LINE + LEGEND_GAP
    return entries, y


def line_chart(periods: list[str], series: dict[str, list[int]]) -> Chart:
    """Geometry of a line chart of `series` (one count per period) over `periods`, oldest first; only the newest
    MAX_POINTS periods are drawn."""
    hidden = max(0, len(periods) - MAX_POINTS)
    if hidden:
        periods = periods[hidden:]
        series = {name: values[hidden:] for name, values in series.items()}
    right = WIDTH - RIGHT
    bottom = TOP + PLOT_HEIGHT
    plot_w, plot_h = right - LEFT, bottom - TOP
    shown = top_series(series)
    peak = max((max(values) for _, values in shown if values), default=0)
    step = nice_step(peak)
    ceiling = max(step, math.ceil(peak / step) * step)

    def x(i: int) -> float:
        return LEFT + plot_w / 2 if len(periods) == 1 else LEFT + i * plot_w / (len(periods) - 1)

    def y(value: int) -> float:
        return bottom - value * plot_h / ceiling

    every = max(1, math.ceil(len(periods) / MAX_X_LABELS))
    x_ticks = [Tick(x(i), p) for i, p in enumerate(periods) if i % every == 0]
    y_ticks = [Tick(y(v), f"{v:,}") for v in range(0, ceiling + 1, step)]
    lines = [
        Line(
            name=name,
            color=PALETTE[n % len(PALETTE)],
            total=sum(values),
            points=[Point(x(i), y(v), periods[i], v) for i, v in enumerate(values[: len(periods)])],
        )
        for n, (name, values) in enumerate(shown)
    ]
    entries, end = legend(lines, bottom + BOTTOM)
    return Chart(WIDTH, math.ceil(end), LEFT, TOP, right, bottom, x_ticks, y_ticks, lines, hidden, tuple(entries))
