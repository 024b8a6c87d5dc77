"""Inline SVG charts drawn on the server: no JavaScript, no external asset, works offline.

Every mark carries its number in a ``<title>`` (the browser's tooltip); the pages also print the
same numbers in a table beside each chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

ROUTE_COLOURS = {"automate": "#2f7d4f", "assist": "#d08c1f", "manual": "#5b6b8c"}
PALETTE = ("#2f6f9f", "#d08c1f", "#2f7d4f", "#a8475a", "#6b5b95", "#5b6b8c", "#8c7b3a", "#3a8c86")


def nice_ceiling(v: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``v`` (axis ends people read at a glance)."""
    if v <= 0:
        return 1.0
    k = math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * 10**k >= v * (1 - 1e-12):
            return m * 10**k
    return 10 ** (k + 1)


def _svg(width: int, height: int, title: str) -> str:
    return (f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
            f'style="max-width:{width}px"><title>{escape(title)}</title>')


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.3g}"


def stacked_bars(categories: Sequence[str], series: dict[str, Sequence[float]], *,
                 title: str, colours: dict[str, str] | None = None, width: int = 640,
                 height: int = 220) -> Markup:
    """Vertical bars per category, stacked by series (e.g. routes per day)."""
    colours = colours or {}
    left, bottom, top = 48, 36, 12
    plot_w, plot_h = width - left - 12, height - bottom - top
    totals = [sum(series[s][i] for s in series) for i in range(len(categories))]
    peak = nice_ceiling(max(totals or [0]))
    n = max(len(categories), 1)
    slot = plot_w / n
    bar = max(min(slot * 0.7, 48), 2)
    out = [_svg(width, height, title)]
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        out.append(f'<line x1="{left}" x2="{width - 12}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
                   f'{_fmt(peak * frac)}</text>')
    for i, cat in enumerate(categories):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        for j, (name, values) in enumerate(series.items()):
            v = values[i]
            if v <= 0:
                continue
            h = plot_h * v / peak
            y -= h
            colour = colours.get(name, PALETTE[j % len(PALETTE)])
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                       f'fill="{colour}"><title>{escape(cat)} · {escape(name)}: {_fmt(v)}</title></rect>')
        if n <= 12 or i % max(n // 10, 1) == 0:
            out.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" class="axis" '
                       f'text-anchor="middle">{escape(cat)}</text>')
    out.append(_legend(list(series), colours, left, height - 6))
    out.append("</svg>")
    return Markup("".join(out))


def _legend(names: list[str], colours: dict[str, str], x: float, y: float) -> str:
    parts = []
    for j, name in enumerate(names):
        colour = colours.get(name, PALETTE[j % len(PALETTE)])
        parts.append(f'<rect x="{x:.0f}" y="{y - 9:.0f}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{x + 14:.0f}" y="{y:.0f}" class="legend">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return "".join(parts)


def interval_chart(rows: Sequence[dict], *, title: str, width: int = 1100) -> Markup:
    """One line per row: the realised error (dot), its interval (whisker) and the guarantee
    (red tick). Rows: label, point, lower, upper, guarantee (any may be None)."""
    row_h, left, right, top = 30, 120, 36, 20
    height = top + row_h * max(len(rows), 1) + 24
    values = [v for r in rows for v in (r.get("upper"), r.get("guarantee"), r.get("point"))
              if v is not None]
    peak = min(1.0, nice_ceiling(max(values + [0.01]) * 1.05))
    plot_w = width - left - right

    def sx(v: float) -> float:
        return left + plot_w * v / peak

    out = [_svg(width, height, title)]
    for k in range(5):
        v = peak * k / 4
        out.append(f'<line x1="{sx(v):.1f}" x2="{sx(v):.1f}" y1="{top - 6}" y2="{height - 20}" '
                   f'class="grid"/><text x="{sx(v):.1f}" y="{height - 6}" class="axis" '
                   f'text-anchor="middle">{v:.1%}</text>')
    for i, r in enumerate(rows):
        y = top + row_h * i + row_h / 2
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" class="label" text-anchor="end">'
                   f'{escape(r["label"])}</text>')
        if r.get("lower") is not None and r.get("upper") is not None:
            out.append(f'<line x1="{sx(r["lower"]):.1f}" x2="{sx(r["upper"]):.1f}" y1="{y:.1f}" '
                       f'y2="{y:.1f}" class="whisker"><title>{escape(r["label"])}: interval '
                       f'{r["lower"]:.2%} to {r["upper"]:.2%}</title></line>')
        if r.get("guarantee") is not None:
            g = sx(r["guarantee"])
            out.append(f'<line x1="{g:.1f}" x2="{g:.1f}" y1="{y - 10:.1f}" y2="{y + 10:.1f}" '
                       f'class="guarantee"><title>{escape(r["label"])}: guarantee '
                       f'{r["guarantee"]:.2%}</title></line>')
        if r.get("point") is not None:
            out.append(f'<circle cx="{sx(r["point"]):.1f}" cy="{y:.1f}" r="5" class="point">'
                       f'<title>{escape(r["label"])}: realised error {r["point"]:.2%}</title></circle>')
    out.append("</svg>")
    return Markup("".join(out))


def hbars(rows: Sequence[tuple[str, float]], *, title: str, unit: str = "", width: int = 640,
          colour: str = "#2f6f9f") -> Markup:
    """Horizontal bars, one per (label, value)."""
    row_h, left, right, top = 24, 130, 70, 6
    height = top + row_h * max(len(rows), 1) + 6
    peak = max([v for _, v in rows] + [0]) or 1
    plot_w = width - left - right
    out = [_svg(width, height, title)]
    for i, (label, v) in enumerate(rows):
        y = top + row_h * i
        w = plot_w * v / peak
        out.append(f'<text x="{left - 8}" y="{y + 15}" class="label" text-anchor="end">{escape(label)}</text>'
                   f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}">'
                   f'<title>{escape(label)}: {_fmt(v)}{escape(unit)}</title></rect>'
                   f'<text x="{left + w + 6:.1f}" y="{y + 15}" class="axis">{_fmt(v)}{escape(unit)}</text>')
    out.append("</svg>")
    return Markup("".join(out))
