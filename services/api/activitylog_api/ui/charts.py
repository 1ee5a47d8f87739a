"""Server-rendered bar charts (stacked by category): SVG bars, HTML axis labels, no script.

The bars are drawn in a unit viewBox stretched to the box (so the chart fills any width, a
phone's too), while the labels stay HTML text of a fixed size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True, slots=True)
class Series:
    """One stacked layer: a name, its colour and one value per bar."""

    name: str
    colour: str
    values: Sequence[int]


@dataclass(frozen=True, slots=True)
class Bar:
    """One position on the x axis: its tick text (may be empty) and its hover title."""

    tick: str
    title: str


def nice_max(value: int) -> int:
    """The smallest 1/2/5×10^n at or above `value` (the y axis top)."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def short_number(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000:
        return f"{n / 1_000:g}k"
    return f"{n:g}"


def _open(count: int, *, label: str, top: float, unit: str = "") -> list[str]:
    """A chart's frame up to its plot: the y axis and the grid, 10 units a bar or point."""
    width = count * 10
    parts = [f'<figure class="chart" role="img" aria-label="{escape(label)}">']
    parts.append('<div class="chart-y">')
    for value in (top, top / 2, 0):
        parts.append(f"<span>{short_number(value)}{escape(unit)}</span>")
    parts.append("</div>")
    parts.append(
        f'<svg class="chart-plot" viewBox="0 0 {width} 100" preserveAspectRatio="none" '
        'aria-hidden="true">'
    )
    for y in (0, 50, 100):
        parts.append(
            f'<line class="grid" x1="0" x2="{width}" y1="{y}" y2="{y}" '
            'vector-effect="non-scaling-stroke"/>'
        )
    return parts


def _close(parts: list[str], columns: Sequence[Bar]) -> Markup:
    """The plot closed, the x axis ticks, the figure as markup."""
    count = max(len(columns), 1)
    parts.append("</svg>")
    parts.append('<div class="chart-x">')
    for i, column in enumerate(columns):
        if column.tick:
            left = 100 * (i + 0.5) / count
            parts.append(f'<span style="left: {left:.2f}%">{escape(column.tick)}</span>')
    parts.append("</div></figure>")
    # Every piece of text above went through escape(); the rest is our own markup.
    return Markup("".join(parts))  # noqa: S704


def stacked_bars(bars: Sequence[Bar], series: Sequence[Series], *, label: str) -> Markup:
    """A chart of `bars` with `series` stacked bottom-up in order; hover a bar for its figures."""
    count = max(len(bars), 1)
    totals = [sum(s.values[i] for s in series) for i in range(len(bars))]
    top = nice_max(max(totals, default=0))
    parts = _open(count, label=label, top=top)
    for i, bar in enumerate(bars):
        x = i * 10 + 1
        detail = [f"{s.name}: {s.values[i]:,}" for s in series if s.values[i]]
        title = escape("\n".join([f"{bar.title} — {totals[i]:,} events", *detail]))
        parts.append(f'<g class="bar" data-total="{totals[i]}"><title>{title}</title>')
        # A transparent full-height target keeps thin and empty bars hoverable.
        parts.append(f'<rect class="hit" x="{x}" y="0" width="8" height="100"/>')
        base = 100.0
        for s in series:
            value = s.values[i]
            if not value:
                continue
            height = 100 * value / top
            base -= height
            parts.append(
                f'<rect x="{x}" y="{base:.3f}" width="8" height="{height:.3f}" '
                f'fill="{escape(s.colour)}"/>'
            )
        parts.append("</g>")
    return _close(parts, bars)


@dataclass(frozen=True, slots=True)
class Line:
    """One line: a name, its colour and one value per point (None: no point there)."""

    name: str
    colour: str
    values: Sequence[float | None]


def lines(
    points: Sequence[Bar], series: Sequence[Line], *, label: str, top: float, unit: str = ""
) -> Markup:
    """A line chart over `points` (same axes as `stacked_bars`); hover a point for its values."""
    count = max(len(points), 1)
    parts = _open(count, label=label, top=top, unit=unit)
    for i, point in enumerate(points):
        detail = [f"{s.name}: {s.values[i]:g}{unit}" for s in series if s.values[i] is not None]
        title = escape("\n".join([point.title, *detail]))
        parts.append(f'<g class="bar point"><title>{title}</title>')
        parts.append(f'<rect class="hit" x="{i * 10}" y="0" width="10" height="100"/></g>')
    for s in series:
        # A gap (None) ends one segment; the next value starts another.
        segments: list[list[str]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                segments.append([])
                continue
            y = 100 - 100 * min(value, top) / top if top else 100
            segments[-1].append(f"{i * 10 + 5},{y:.3f}")
        for segment in segments:
            if not segment:
                continue
            if len(segment) == 1:  # one point alone: a short tick, so it shows
                x, y = segment[0].split(",")
                segment = [f"{float(x) - 2},{y}", f"{float(x) + 2},{y}"]
            parts.append(
                f'<polyline class="line" points="{" ".join(segment)}" fill="none" '
                f'stroke="{escape(s.colour)}" stroke-width="2" '
                'vector-effect="non-scaling-stroke"/>'
            )
    return _close(parts, points)
