"""Charts as inline SVG, drawn on the server: no script, no CDN, Chinese labels.

They scale with the page (viewBox, width 100%), so one drawing reads at 375 px and 1280 px.
Colours are presentation attributes, not style attributes: the CSP allows no inline style.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

# The three rates, in the colours the legend names.
SERIES = (("出勤率", "#c0392b"), ("签到率", "#2471a3"), ("学习完成率", "#1e8449"))


def _pct(value: float | None) -> str:
    return "无" if value is None else f"{value * 100:.0f}%"


def _segments(points: Sequence[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive points; a month without a figure breaks the line."""
    runs: list[list[tuple[float, float]]] = [[]]
    for p in points:
        if p is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(p)
    return [r for r in runs if r]


def _polyline(run: list[tuple[float, float]], colour: str, width: float) -> str:
    if len(run) == 1:  # a single month: a dot, not an invisible line
        x, y = run[0]
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{width * 1.2:.1f}" fill="{colour}"/>'
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
    return (
        f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="{width}" '
        'stroke-linejoin="round" stroke-linecap="round"/>'
    )


def sparkline(values: Sequence[float | None], months: Sequence[date], label: str) -> Markup:
    """A small 12-month line of one rate, 0–100 %, for a table cell."""
    w, h, pad = 120.0, 30.0, 3.0
    step = (w - 2 * pad) / max(len(values) - 1, 1)
    points = [
        None if v is None else (pad + i * step, h - pad - v * (h - 2 * pad))
        for i, v in enumerate(values)
    ]
    described = "，".join(f"{m.month}月 {_pct(v)}" for m, v in zip(months, values, strict=True))
    body = "".join(_polyline(r, SERIES[0][1], 1.8) for r in _segments(points))
    return Markup(
        f'<svg class="spark" viewBox="0 0 {w:.0f} {h:.0f}" role="img" '
        f'aria-label="{escape(label)}"><title>{escape(label)}：{escape(described)}</title>'
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#ddd"/>'
        f"{body}</svg>"
    )


def trend_chart(
    months: Sequence[date], series: Sequence[Sequence[float | None]], title: str
) -> Markup:
    """The three rates over the months, with a 0/50/100 % scale, month labels and a legend."""
    w, h = 360.0, 210.0
    left, right, top, bottom = 34.0, 10.0, 12.0, 58.0
    plot_w, plot_h = w - left - right, h - top - bottom
    step = plot_w / max(len(months) - 1, 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {w:.0f} {h:.0f}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{w - right}" y2="{y:.1f}" stroke="#e5e5e5"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#666">{frac * 100:.0f}%</text>'
        )
    for i, m in enumerate(months):
        if len(months) > 6 and i % 2 and i != len(months) - 1:
            continue  # every other month label, so they do not overlap on a phone
        x = left + i * step
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16:.1f}" font-size="11" '
            f'text-anchor="middle" fill="#666">{m.month}月</text>'
        )
    for (_, colour), values in zip(SERIES, series, strict=True):
        points = [
            None if v is None else (left + i * step, top + plot_h * (1 - v))
            for i, v in enumerate(values)
        ]
        parts += [_polyline(r, colour, 2.2) for r in _segments(points)]
    x = left
    for name, colour in SERIES:
        y = h - 14
        parts.append(
            f'<rect x="{x:.0f}" y="{y - 9}" width="12" height="4" fill="{colour}"/>'
            f'<text x="{x + 16:.0f}" y="{y - 4}" font-size="12" fill="#333">{name}</text>'
        )
        x += 16 + 13 * len(name) + 18
    parts.append("</svg>")
    return Markup("".join(parts))
