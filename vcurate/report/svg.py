"""The report's charts as SVG written directly: a horizontal bar chart and a histogram with a
threshold. Drawing them with matplotlib cost more than analysing a small job (importing it ~1 s,
each PNG ~0.5 s on a loaded 2-core VM); these take milliseconds and scale with the page."""

from __future__ import annotations

import base64
import html
import math

import numpy as np

FONT = 'font-family="system-ui,sans-serif" font-size="11"'


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode()


def _svg(width: int, height: int, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" {FONT}>' + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{html.escape(text)}</text>'


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round values (1, 2 or 5 × a power of ten apart) spanning [low, high]."""
    if not high > low:
        return [low]
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


def bar_chart(labels: list[str], counts: list[int], colours: list[str], title: str) -> str:
    """Horizontal bars, one per label, top to bottom, each with its count at its end."""
    row, left, right, top = 20, 170, 60, 28
    width, height = 640, top + row * len(labels) + 10
    scale = (width - left - right) / max(1, max(counts, default=0))
    body = [_text(width / 2, 16, title, "middle", 'font-weight="bold"')]
    for i, (label, count, colour) in enumerate(zip(labels, counts, colours)):
        y = top + i * row
        body += [_text(left - 6, y + 14, label, "end"),
                 f'<rect x="{left}" y="{y + 3}" width="{count * scale:.1f}" height="{row - 6}" fill="{colour}"/>',
                 _text(left + count * scale + 4, y + 14, str(count))]
    return _svg(width, height, body)


def histogram(groups: list[tuple[str, np.ndarray, str]], xlabel: str, bins: int = 30,
              threshold: float | None = None, threshold_label: str = "") -> str:
    """Overlaid histograms of (name, values, colour) groups on shared bins spanning all values, with
    a dashed vertical line at `threshold` and a legend."""
    values = np.concatenate([v for _, v, _ in groups])
    low, high = float(values.min()), float(values.max())
    if high <= low:  # one distinct value: a bin of width 1 around it
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    counts = [np.histogram(v, bins=edges)[0] for _, v, _ in groups]
    left, right, top, bottom = 48, 16, 12, 40
    width, height = 540, 270
    plot_w, plot_h = width - left - right, height - top - bottom
    lo = min(low, threshold) if threshold is not None else low
    hi = max(high, threshold) if threshold is not None else high
    peak = max(1, max(int(c.max()) for c in counts))

    def x(value: float) -> float:
        return left + (value - lo) / (hi - lo) * plot_w

    def y(count: float) -> float:
        return top + plot_h - count / peak * plot_h

    body = []
    for (_, _, colour), per_bin in zip(groups, counts):
        body += [f'<rect x="{x(a):.1f}" y="{y(n):.1f}" width="{max(0.5, x(b) - x(a)):.1f}" height="{y(0) - y(n):.1f}" '
                 f'fill="{colour}" fill-opacity="0.7"/>' for a, b, n in zip(edges[:-1], edges[1:], per_bin) if n]
    body.append(f'<path d="M{left} {top}V{top + plot_h}H{left + plot_w}" fill="none" stroke="#333"/>')
    for tick in nice_ticks(lo, hi):
        body += [f'<path d="M{x(tick):.1f} {top + plot_h}v4" stroke="#333"/>',
                 _text(x(tick), top + plot_h + 15, f"{tick:g}", "middle")]
    for tick in nice_ticks(0, peak):
        if tick == int(tick):
            body += [f'<path d="M{left} {y(tick):.1f}h-4" stroke="#333"/>', _text(left - 6, y(tick) + 4, f"{tick:g}", "end")]
    body += [_text(left + plot_w / 2, height - 6, xlabel, "middle"),
             _text(12, top + plot_h / 2, "clips", "middle", f'transform="rotate(-90 12 {top + plot_h / 2:.1f})"')]
    legend = [(name, f'<rect width="10" height="10" fill="{colour}" fill-opacity="0.7"/>') for name, _, colour in groups]
    if threshold is not None:
        body.append(f'<path d="M{x(threshold):.1f} {top}V{top + plot_h}" stroke="#000" stroke-dasharray="5 3"/>')
        legend.append((threshold_label, '<path d="M0 5h10" stroke="#000" stroke-dasharray="3 2"/>'))
    for i, (name, mark) in enumerate(legend):
        body.append(f'<g transform="translate({left + plot_w - 250} {top + 6 + 14 * i})">{mark}{_text(14, 9, name)}</g>')
    return _svg(width, height, body)
