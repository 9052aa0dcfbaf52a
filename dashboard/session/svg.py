"""Small, dependency-free SVG charts for the session report (inline in the HTML)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np
import numpy.typing as npt

__all__ = ["Band", "Series", "bar_chart", "line_chart", "nice_ticks"]

LEFT_COLOUR = "#1f77b4"
RIGHT_COLOUR = "#d62728"


@dataclass(frozen=True)
class Series:
    """One line: x and y (same length; NaN breaks the line), colour and legend label."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    colour: str
    label: str
    dots: bool = False


@dataclass(frozen=True)
class Band:
    """A shaded y range between x0 and x1 (a target band)."""

    x0: float
    x1: float
    y0: float
    y1: float
    colour: str = "#2ca02c"
    label: str = ""


@dataclass
class _Frame:
    width: int
    height: int
    x0: float
    x1: float
    y0: float
    y1: float
    margin: tuple[int, int, int, int] = (26, 16, 40, 56)  # top, right, bottom, left
    parts: list[str] = field(default_factory=list)

    def px(self, x: float) -> float:
        _top, right, _, left = self.margin
        span = self.x1 - self.x0 or 1.0
        return left + (x - self.x0) / span * (self.width - left - right)

    def py(self, y: float) -> float:
        top, _, bottom, _ = self.margin
        span = self.y1 - self.y0 or 1.0
        return self.height - bottom - (y - self.y0) / span * (self.height - top - bottom)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else [0.0]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.1f}"


def _axes(f: _Frame, x_label: str, y_label: str) -> None:
    top, right, bottom, left = f.margin
    for y in nice_ticks(f.y0, f.y1):
        py = f.py(y)
        f.parts.append(
            f'<line x1="{left}" x2="{f.width - right}" y1="{py:.1f}" y2="{py:.1f}" '
            'stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{py + 4:.1f}" text-anchor="end">{_fmt(y)}</text>'
        )
    for x in nice_ticks(f.x0, f.x1, 8):
        px = f.px(x)
        f.parts.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{f.height - bottom}" '
            'stroke="#eee"/>'
            f'<text x="{px:.1f}" y="{f.height - bottom + 16}" text-anchor="middle">'
            f"{_fmt(x)}</text>"
        )
    f.parts.append(
        f'<rect x="{left}" y="{top}" width="{f.width - left - right}" '
        f'height="{f.height - top - bottom}" fill="none" stroke="#888"/>'
        f'<text x="{(left + f.width - right) / 2:.0f}" y="{f.height - 6}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
        f'<text transform="translate(14,{(top + f.height - bottom) / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )


def _path(f: _Frame, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> str:
    out: list[str] = []
    pen_up = True
    for xi, yi in zip(x.tolist(), y.tolist(), strict=True):
        if not (math.isfinite(xi) and math.isfinite(yi)):
            pen_up = True
            continue
        out.append(f"{'M' if pen_up else 'L'}{f.px(xi):.1f},{f.py(yi):.1f}")
        pen_up = False
    return " ".join(out)


def _svg(f: _Frame, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {f.width} {f.height}" '
        f'width="{f.width}" height="{f.height}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="11">'
        f"<title>{escape(title)}</title>" + "".join(f.parts) + "</svg>"
    )


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    bands: Sequence[Band] = (),
    vlines: Sequence[tuple[float, str]] = (),
    y_range: tuple[float, float] | None = None,
    width: int = 760,
    height: int = 260,
) -> str:
    """An SVG line chart with optional shaded bands and labelled vertical lines."""
    xs = [s.x[np.isfinite(s.x)] for s in series if s.x.size]
    ys = [s.y[np.isfinite(s.y)] for s in series if s.y.size]
    xs = [x for x in xs if x.size]
    ys = [y for y in ys if y.size]
    x0 = min((float(x.min()) for x in xs), default=0.0)
    x1 = max((float(x.max()) for x in xs), default=1.0)
    if y_range is None:
        lo = min([float(np.percentile(y, 1)) for y in ys] + [b.y0 for b in bands], default=0.0)
        hi = max([float(np.percentile(y, 99)) for y in ys] + [b.y1 for b in bands], default=1.0)
        pad = 0.08 * (hi - lo or 1.0)
        y_range = (lo - pad, hi + pad)
    f = _Frame(width, height, x0, x1 if x1 > x0 else x0 + 1.0, *y_range)
    _axes(f, x_label, y_label)
    for b in bands:
        ya, yb = sorted((f.py(max(b.y0, f.y0)), f.py(min(b.y1, f.y1))))
        xa, xb = f.px(max(b.x0, f.x0)), f.px(min(b.x1, f.x1))
        if xb > xa:
            f.parts.append(
                f'<rect x="{xa:.1f}" y="{ya:.1f}" width="{xb - xa:.1f}" height="{yb - ya:.1f}" '
                f'fill="{b.colour}" fill-opacity="0.15"/>'
            )
    top, _, bottom, _ = f.margin
    for x, label in vlines:
        if f.x0 <= x <= f.x1:
            px = f.px(x)
            f.parts.append(
                f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{height - bottom}" '
                'stroke="#555" stroke-dasharray="4 3"/>'
                f'<text x="{px + 3:.1f}" y="{top + 11}" fill="#333">{escape(label[:24])}</text>'
            )
    for s in series:
        f.parts.append(
            f'<path d="{_path(f, s.x, s.y)}" fill="none" stroke="{s.colour}" stroke-width="1.6"/>'
        )
    legend_x = f.margin[3] + 8
    legend: list[Series | Band] = [*series, *[b for b in bands if b.label]]
    for item in legend:
        colour, label, y = item.colour, item.label, 14
        f.parts.append(
            f'<rect x="{legend_x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 14}" y="{y}">{escape(label)}</text>'
        )
        legend_x += 24 + 7 * len(label)
    return _svg(f, title)


def bar_chart(
    rows: Sequence[tuple[str, Sequence[tuple[float, str, str]]]],
    *,
    title: str,
    unit: str = "%",
    width: int = 760,
    row_height: int = 28,
    reference: float | None = None,
) -> str:
    """Horizontal stacked bars: one row per label, segments (value, colour, text); values in
    percent of the row (0–100). ``reference`` draws a dashed line at that value."""
    left, right = 150, 16
    height = 24 + row_height * len(rows) + 10
    parts: list[str] = []
    span = width - left - right
    for i, (label, segments) in enumerate(rows):
        y = 16 + i * row_height
        parts.append(
            f'<text x="{left - 8}" y="{y + row_height / 2 + 2:.0f}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        x = float(left)
        for value, colour, text in segments:
            if not math.isfinite(value) or value <= 0:
                continue
            w = span * value / 100.0
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_height - 8}" '
                f'fill="{colour}"><title>{escape(text)}</title></rect>'
            )
            if w > 40:
                parts.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + row_height / 2 + 2:.0f}" '
                    f'text-anchor="middle" fill="#fff">{escape(text)}</text>'
                )
            x += w
    if reference is not None:
        px = left + span * reference / 100.0
        parts.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="10" y2="{height - 6}" stroke="#333" '
            'stroke-dasharray="4 3"/>'
        )
    parts.append(
        f'<text x="{left}" y="11" fill="#555">0 {escape(unit)}</text>'
        f'<text x="{width - right}" y="11" text-anchor="end" fill="#555">100 {escape(unit)}</text>'
    )
    f = _Frame(width, height, 0, 1, 0, 1, parts=parts)
    return _svg(f, title)
