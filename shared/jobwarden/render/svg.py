"""Charts as inline SVG, drawn here: line, grouped bar and stacked bar over categorical x.

No JavaScript and no external assets: axes with rounded ticks, thinned x labels,
a `<title>` on every mark (the browser shows it on hover), and colours that stay
apart for up to eight series. Every text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape

from jobwarden.render.common import fmt_number
from jobwarden.report import ChartBlock

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 72
MAX_X_LABELS = 12
Scale = Callable[[float], float]
XPos = Callable[[int], float]


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high], about `count` of them."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _bounds(chart: ChartBlock, categories: list[str]) -> tuple[float, float]:
    if chart.kind == "stackedBar":
        pos = dict.fromkeys(categories, 0.0)
        neg = dict.fromkeys(categories, 0.0)
        for series in chart.series:
            for p in series.points:
                if p.y >= 0:
                    pos[p.x] += p.y
                else:
                    neg[p.x] += p.y
        return min(0.0, *neg.values()), max(0.0, *pos.values())
    ys = [p.y for s in chart.series for p in s.points]
    low, high = min(ys), max(ys)
    if chart.kind == "bar" or low >= 0:
        low = min(0.0, low)
    return low, (max(high, 0.0) if low < 0 else high)


def render_chart_svg(chart: ChartBlock) -> str:
    """The chart as an `<svg>` element (empty charts say so)."""
    label = escape(chart.title)
    categories = chart.categories()
    if not categories:
        return (
            f'<svg class="chart" role="img" aria-label="{label}" viewBox="0 0 {WIDTH} 60" '
            f'xmlns="http://www.w3.org/2000/svg"><text x="{WIDTH // 2}" y="34" '
            f'text-anchor="middle" class="muted">No data</text></svg>'
        )
    low, high = _bounds(chart, categories)
    ticks = nice_ticks(low, high)
    y_min, y_max = ticks[0], ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    band = plot_w / len(categories)

    def y_at(value: float) -> float:
        return TOP + plot_h - (value - y_min) / (y_max - y_min) * plot_h

    def x_mid(index: int) -> float:
        return LEFT + band * (index + 0.5)

    parts = [
        f'<svg class="chart" role="img" aria-label="{label}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="sans-serif">',
        f"<title>{label}</title>",
    ]
    for tick in ticks:
        y = y_at(tick)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#4b5563">'
            f"{escape(fmt_number(tick))}</text>"
        )
    step = max(1, math.ceil(len(categories) / MAX_X_LABELS))
    for i, x in enumerate(categories):
        if i % step:
            continue
        xm, yb = x_mid(i), TOP + plot_h + 14
        parts.append(
            f'<text x="{xm:.1f}" y="{yb}" text-anchor="end" fill="#4b5563" '
            f'transform="rotate(-30 {xm:.1f} {yb})">{escape(x[:24])}</text>'
        )
    zero = y_at(max(y_min, min(0.0, y_max)))
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="#6b7280"/>'
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#6b7280"/>'
    )
    index = {x: i for i, x in enumerate(categories)}
    if chart.kind == "line":
        parts.extend(_lines(chart, index, x_mid, y_at))
    elif chart.kind == "bar":
        parts.extend(_bars(chart, index, band, x_mid, y_at))
    else:
        parts.extend(_stacked(chart, index, band, x_mid, y_at))
    if chart.x_label:
        parts.append(
            f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
            f'fill="#111827">{escape(chart.x_label)}</text>'
        )
    if chart.y_label:
        cy = TOP + plot_h / 2
        parts.append(
            f'<text x="14" y="{cy:.1f}" text-anchor="middle" fill="#111827" '
            f'transform="rotate(-90 14 {cy:.1f})">{escape(chart.y_label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _mark_title(series: str, x: str, y: float) -> str:
    return f"<title>{escape(series)} · {escape(x)}: {escape(fmt_number(y))}</title>"


def _lines(chart: ChartBlock, index: dict[str, int], x_mid: XPos, y_at: Scale) -> list[str]:
    out: list[str] = []
    for n, series in enumerate(chart.series):
        points = sorted(series.points, key=lambda p: index[p.x])
        coords = " ".join(f"{x_mid(index[p.x]):.1f},{y_at(p.y):.1f}" for p in points)
        out.append(
            f'<polyline fill="none" stroke="{color(n)}" stroke-width="2" points="{coords}"/>'
        )
        out.extend(
            f'<circle cx="{x_mid(index[p.x]):.1f}" cy="{y_at(p.y):.1f}" r="3" fill="{color(n)}">'
            f"{_mark_title(series.name, p.x, p.y)}</circle>"
            for p in points
        )
    return out


def _bars(
    chart: ChartBlock, index: dict[str, int], band: float, x_mid: XPos, y_at: Scale
) -> list[str]:
    out: list[str] = []
    count = max(1, len(chart.series))
    width = band * 0.8 / count
    zero = y_at(0.0)
    for n, series in enumerate(chart.series):
        for p in series.points:
            x = x_mid(index[p.x]) - band * 0.4 + n * width
            top, bottom = sorted((y_at(p.y), zero))
            out.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{max(width - 1, 1):.1f}" '
                f'height="{max(bottom - top, 0.5):.1f}" fill="{color(n)}">'
                f"{_mark_title(series.name, p.x, p.y)}</rect>"
            )
    return out


def _stacked(
    chart: ChartBlock, index: dict[str, int], band: float, x_mid: XPos, y_at: Scale
) -> list[str]:
    out: list[str] = []
    pos = dict.fromkeys(index, 0.0)
    neg = dict.fromkeys(index, 0.0)
    width = band * 0.6
    for n, series in enumerate(chart.series):
        for p in series.points:
            base = pos if p.y >= 0 else neg
            start, end = base[p.x], base[p.x] + p.y
            base[p.x] = end
            top, bottom = sorted((y_at(start), y_at(end)))
            out.append(
                f'<rect x="{x_mid(index[p.x]) - width / 2:.1f}" y="{top:.1f}" '
                f'width="{width:.1f}" height="{max(bottom - top, 0.5):.1f}" fill="{color(n)}">'
                f"{_mark_title(series.name, p.x, p.y)}</rect>"
            )
    return out
