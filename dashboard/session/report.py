"""The session report: one self-contained HTML page for the runner and the PT.

Session facts, the summary numbers, cadence over time against the target band, contact
time over time per side, left/right balance, foot-strike distribution, segments between the
PT's markers (the first segment is the baseline unless a segment is named "baseline"),
variability, and plain-language notes. With an involved side set, sides are named
"involved" and "uninvolved". Two sessions give a comparison page.

The page loads nothing: plots are inline SVG, styles inline, and a Content-Security-Policy
forbids every external resource, so it opens the same anywhere, offline, years later.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dashboard.session.analysis import SessionAnalysis
from dashboard.session.svg import LEFT_COLOUR, RIGHT_COLOUR, Band, Series, bar_chart, line_chart
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side
from realtime.events import FootStrike, Step
from realtime.metrics import GaitMetrics, compute_metrics

__all__ = [
    "TARGET_BAND_SPM",
    "Segment",
    "notes_for",
    "render_report",
    "segments_of",
    "write_pdf",
    "write_report",
]

TARGET_BAND_SPM = 2.0
"""Half-width of the cadence target band (steps/min), as the live view's adherence."""
ROLLING_STEPS = 8
"""Steps in the rolling cadence and contact-time curves."""
BALANCE_GREEN_PCT = 50.7
BALANCE_ORANGE_PCT = 52.2
"""GCT balance bands on the longer side (green ≤ 50.7 %, orange to 52.2 %, red above)."""

_STRIKE_COLOURS = {
    FootStrike.REARFOOT: "#8c564b",
    FootStrike.MIDFOOT: "#ff7f0e",
    FootStrike.FOREFOOT: "#2ca02c",
    FootStrike.NOT_REARFOOT: "#9467bd",
}
_COMPARE_COLOURS = ("#1f77b4", "#ff7f0e")

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;
max-width:820px;color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.15em;border-bottom:1px solid #ccc;
padding-bottom:2px;margin-top:1.6em}.sub{color:#666;margin-top:2px}
table{border-collapse:collapse;margin:6px 0;font-size:.92em}
td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.notes li{margin:4px 0}.green{color:#2a7d2a}.orange{color:#c06a00}.red{color:#c62828}
.facts td:first-child{color:#666}svg{max-width:100%;height:auto}
@media print{body{margin:0}h2{break-after:avoid}svg{break-inside:avoid}}
"""


# --------------------------------------------------------------------------- pieces
@dataclass(frozen=True)
class Segment:
    """Part of a session between markers: name, start and end (host s), its steps."""

    name: str
    t0_s: float
    t1_s: float
    steps: tuple[Step, ...]
    baseline: bool = False

    @property
    def metrics(self) -> GaitMetrics:
        return compute_metrics(self.steps)


def _side_name(side: Side, involved: Side | None) -> str:
    name = side.name.capitalize()
    if involved is None:
        return name
    return f"{name} ({'involved' if side == involved else 'uninvolved'})"


def _num(value: float, digits: int = 0, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "—"
    text = f"{value:.{digits}f}"
    return f"{text} {unit}".rstrip() if unit else text


def segments_of(analysis: SessionAnalysis) -> list[Segment]:
    """Segments between the PT's markers (and baseline events); the first segment, or the
    one whose name says "baseline", is the baseline."""
    session = analysis.session
    steps = sorted(analysis.result.steps, key=lambda s: s.ic_s)
    start = steps[0].ic_s if steps else session.host_t0_s
    end = steps[-1].to_s if steps else session.end_s
    cuts = sorted(
        (e for e in session.events if e.kind in ("marker", "baseline") and start < e.t_s < end),
        key=lambda e: e.t_s,
    )
    names = ["start", *[e.text or e.kind for e in cuts]]
    bounds = [start, *[e.t_s for e in cuts], end + 1e-9]
    segments = []
    for name, t0, t1 in zip(names, bounds[:-1], bounds[1:], strict=True):
        chosen = tuple(s for s in steps if t0 <= s.ic_s < t1)
        segments.append(Segment(name, t0, t1, chosen))
    named = [i for i, s in enumerate(segments) if "baseline" in s.name.lower()]
    base = named[0] if named else 0
    return [
        Segment(s.name, s.t0_s, s.t1_s, s.steps, baseline=(i == base))
        for i, s in enumerate(segments)
    ]


def _rolling_mean(x: npt.NDArray[np.float64], n: int) -> npt.NDArray[np.float64]:
    out = np.full(x.shape, np.nan)
    for i in range(x.shape[0]):
        window = x[max(0, i - n + 1) : i + 1]
        window = window[np.isfinite(window)]
        if window.size >= max(2, n // 2):
            out[i] = window.mean()
    return out


def _target_spans(analysis: SessionAnalysis, t_end: float) -> list[tuple[float, float, float]]:
    """(start s, end s, target spm) of each target setting."""
    targets = sorted(
        (e for e in analysis.session.events if e.kind == "target" and e.value > 0),
        key=lambda e: e.t_s,
    )
    spans = []
    for i, e in enumerate(targets):
        t1 = targets[i + 1].t_s if i + 1 < len(targets) else t_end
        spans.append((e.t_s, t1, e.value))
    return spans


def _time_in_band_pct(steps: Sequence[Step], spans: list[tuple[float, float, float]]) -> float:
    ic = np.array([s.ic_s for s in steps])
    st = np.array([s.step_time_ms for s in steps])
    cadence = 60000.0 / _rolling_mean(st, ROLLING_STEPS)
    inside = total = 0
    for t0, t1, target in spans:
        sel = (ic >= t0) & (ic < t1) & np.isfinite(cadence)
        total += int(sel.sum())
        inside += int((np.abs(cadence[sel] - target) <= TARGET_BAND_SPM).sum())
    return 100.0 * inside / total if total else math.nan


def _balance_class(longer_pct: float) -> str:
    if not math.isfinite(longer_pct):
        return ""
    if longer_pct <= BALANCE_GREEN_PCT:
        return "green"
    return "orange" if longer_pct <= BALANCE_ORANGE_PCT else "red"


def _percent_longer(a: float, b: float) -> float:
    return 100.0 * (a / b - 1.0) if b > 0 and math.isfinite(a) and math.isfinite(b) else math.nan


def notes_for(analysis: SessionAnalysis) -> list[str]:
    """Plain-language findings, most important first."""
    session = analysis.session
    steps = analysis.result.steps
    m = compute_metrics(steps)
    involved = session.involved_side
    notes: list[str] = []
    if not steps:
        return ["No steps were found in this session."]
    notes.append(f"Average cadence {_num(m.cadence_spm)} steps per minute over {m.n_steps} steps.")
    spans = _target_spans(analysis, steps[-1].to_s)
    in_band = _time_in_band_pct(sorted(steps, key=lambda s: s.ic_s), spans)
    if math.isfinite(in_band):
        notes.append(
            f"Cadence was within ±{TARGET_BAND_SPM:.0f} steps/min of the target "
            f"{in_band:.0f} % of the time."
        )
    left, right = m.left.gct_ms_mean, m.right.gct_ms_mean
    if math.isfinite(left) and math.isfinite(right):
        longer = Side.LEFT if left >= right else Side.RIGHT
        pct = _percent_longer(max(left, right), min(left, right))
        if pct < 1.0:
            notes.append("Contact time is even between the two feet (within 1 %).")
        else:
            where = _side_name(longer, involved).lower()
            if involved is not None:
                where = ("the involved side" if longer == involved else "the uninvolved side") + (
                    f" ({longer.name.lower()})"
                )
            else:
                where = f"the {where}"
            notes.append(f"Contact time is {pct:.0f} % longer on {where}.")
        balance = max(m.gct_balance_left_pct, m.gct_balance_right_pct)
        rating = {"green": "balanced", "orange": "slightly unbalanced", "red": "unbalanced"}
        cls = _balance_class(balance)
        if cls:
            notes.append(
                f"Contact-time balance {m.gct_balance_left_pct:.1f} % left / "
                f"{m.gct_balance_right_pct:.1f} % right: {rating[cls]} "
                f"(green up to {BALANCE_GREEN_PCT} % on the longer side, orange to "
                f"{BALANCE_ORANGE_PCT} %)."
            )
    for side_metrics, side in ((m.left, Side.LEFT), (m.right, Side.RIGHT)):
        shares = side_metrics.foot_strike_pct
        if shares:
            kind, pct = max(shares.items(), key=lambda kv: kv[1])
            label = kind.value.replace("_", " ")
            notes.append(
                f"{_side_name(side, involved)} foot: mostly {label} strike ({pct:.0f} % of steps)."
            )
    segments = segments_of(analysis)
    base = next((s for s in segments if s.baseline), None)
    if base is not None and len(segments) > 1 and base.steps:
        bm = base.metrics
        for seg in segments:
            if seg is base or len(seg.steps) < 10:
                continue
            sm = seg.metrics
            dc = _percent_longer(sm.cadence_spm, bm.cadence_spm)
            gct_now = np.nanmean([sm.left.gct_ms_mean, sm.right.gct_ms_mean])
            gct_base = np.nanmean([bm.left.gct_ms_mean, bm.right.gct_ms_mean])
            dg = _percent_longer(float(gct_now), float(gct_base))
            if math.isfinite(dc):
                notes.append(
                    f"“{seg.name}”: cadence {abs(dc):.1f} % {'higher' if dc >= 0 else 'lower'} "
                    f"and contact time {abs(dg):.1f} % {'longer' if dg >= 0 else 'shorter'} "
                    f"than in the baseline (“{base.name}”)."
                )
    if math.isfinite(m.step_time_cv_pct):
        notes.append(
            f"Step-to-step variability: step time varies by {m.step_time_cv_pct:.1f} % and "
            f"contact time by {m.gct_cv_pct:.1f} % (coefficient of variation)."
        )
    if m.flagged_pct > 5:
        notes.append(
            f"{m.flagged_pct:.0f} % of steps are flagged (data gaps, clipping or a single "
            "sensor): treat their numbers with care."
        )
    if session.interrupted:
        notes.append("The recording was interrupted; this report covers what was saved.")
    return notes


def _facts(analysis: SessionAnalysis) -> list[tuple[str, str]]:
    s = analysis.session
    runner = s.runner
    kinds = sorted(
        {f"{d.get('side', '?')} {d.get('kind', '?')} ({d.get('mount', '?')})" for d in s.devices}
    )
    speeds = [
        f"{e.value:.1f} km/h at {(e.t_s - s.host_t0_s) / 60:.1f} min"
        + (f", incline {e.extra['incline_pct']:.1f} %" if "incline_pct" in e.extra else "")
        for e in s.events_of("treadmill")
    ]
    placement = s.meta.get("placement") or {}
    rows = [
        ("Date", str(s.meta.get("created", "—"))),
        (
            "Runner",
            " ".join(filter(None, [str(runner.get("runner_id", "")), str(runner.get("name", ""))]))
            or "—",
        ),
        ("Body mass", _num(s.body_mass_kg or math.nan, 1, "kg")),
        ("Involved side", s.involved_side.name.lower() if s.involved_side is not None else "none"),
        ("Duration", f"{s.duration_s / 60:.1f} min" + (" (interrupted)" if s.interrupted else "")),
        ("Source", s.source),
        ("Sensors", ", ".join(kinds) or "—"),
        ("Placement", ", ".join(f"{k}: {v}" for k, v in placement.items()) or "—"),
        ("Shoe", str(s.meta.get("shoe") or "—")),
        ("Treadmill", "; ".join(speeds) or "—"),
    ]
    return rows


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i >= numeric_from else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _metric_rows(m: GaitMetrics) -> list[tuple[str, str, str]]:
    return [
        ("Steps", str(m.left.n_steps), str(m.right.n_steps)),
        ("Contact time (ms)", _num(m.left.gct_ms_mean), _num(m.right.gct_ms_mean)),
        ("Contact time SD (ms)", _num(m.left.gct_ms_sd, 1), _num(m.right.gct_ms_sd, 1)),
        ("Flight time (ms)", _num(m.left.flight_ms_mean), _num(m.right.flight_ms_mean)),
        ("Step time (ms)", _num(m.left.step_time_ms_mean), _num(m.right.step_time_ms_mean)),
        ("Stride time (ms)", _num(m.left.stride_time_ms_mean), _num(m.right.stride_time_ms_mean)),
        ("Duty factor (%)", _num(m.left.duty_factor_pct, 1), _num(m.right.duty_factor_pct, 1)),
        ("Contact-time CV (%)", _num(m.left.gct_cv_pct, 1), _num(m.right.gct_cv_pct, 1)),
        ("Step-time CV (%)", _num(m.left.step_time_cv_pct, 1), _num(m.right.step_time_cv_pct, 1)),
        ("Peak force (N)", _num(m.left.peak_force_n_mean), _num(m.right.peak_force_n_mean)),
        (
            "Loading rate (BW/s)",
            _num(m.left.loading_rate_bw_s_mean, 1),
            _num(m.right.loading_rate_bw_s_mean, 1),
        ),
        (
            "Peak acceleration (g)",
            _num(m.left.peak_accel_g_mean, 1),
            _num(m.right.peak_accel_g_mean, 1),
        ),
    ]


def _minutes(
    analysis: SessionAnalysis, t_s: npt.NDArray[np.float64] | float
) -> npt.NDArray[np.float64]:
    return (np.asarray(t_s, dtype=np.float64) - analysis.session.host_t0_s) / 60.0


def _cadence_series(analysis: SessionAnalysis, colour: str, label: str) -> Series:
    steps = sorted(analysis.result.steps, key=lambda s: s.ic_s)
    ic = np.array([s.ic_s for s in steps])
    st = np.array([s.step_time_ms for s in steps])
    return Series(_minutes(analysis, ic), 60000.0 / _rolling_mean(st, ROLLING_STEPS), colour, label)


def _cadence_chart(analysis: SessionAnalysis) -> str:
    steps = analysis.result.steps
    t_end = max((s.to_s for s in steps), default=analysis.session.end_s)
    bands = [
        Band(
            float(_minutes(analysis, t0)),
            float(_minutes(analysis, t1)),
            target - TARGET_BAND_SPM,
            target + TARGET_BAND_SPM,
            label="",
        )
        for t0, t1, target in _target_spans(analysis, t_end)
    ]
    if bands:
        bands[0] = Band(
            bands[0].x0,
            bands[0].x1,
            bands[0].y0,
            bands[0].y1,
            label=f"target ±{TARGET_BAND_SPM:.0f} spm",
        )
    return line_chart(
        [_cadence_series(analysis, "#333", f"cadence ({ROLLING_STEPS}-step mean)")],
        title="Cadence over time",
        x_label="time (min)",
        y_label="cadence (steps/min)",
        bands=bands,
        vlines=_vlines(analysis),
    )


def _vlines(analysis: SessionAnalysis) -> list[tuple[float, str]]:
    return [
        (float(_minutes(analysis, e.t_s)), e.text or e.kind)
        for e in analysis.session.events
        if e.kind in ("marker", "baseline")
    ]


def _gct_chart(analysis: SessionAnalysis) -> str:
    involved = analysis.session.involved_side
    series = []
    for side, colour in ((Side.LEFT, LEFT_COLOUR), (Side.RIGHT, RIGHT_COLOUR)):
        steps = sorted((s for s in analysis.result.steps if s.side == side), key=lambda s: s.ic_s)
        if not steps:
            continue
        ic = np.array([s.ic_s for s in steps])
        gct = np.array([s.gct_ms for s in steps])
        series.append(
            Series(
                _minutes(analysis, ic),
                _rolling_mean(gct, ROLLING_STEPS),
                colour,
                _side_name(side, involved),
            )
        )
    return line_chart(
        series,
        title="Ground contact time over time",
        x_label="time (min)",
        y_label="contact time (ms)",
        vlines=_vlines(analysis),
    )


def _balance_chart(m: GaitMetrics, involved: Side | None) -> str:
    rows = []
    for name, lp in (
        ("Contact time", m.gct_balance_left_pct),
        ("Step time", m.step_time_balance_left_pct),
        ("Peak force", m.peak_force_balance_left_pct),
    ):
        if not math.isfinite(lp):
            continue
        rows.append(
            (
                name,
                [
                    (lp, LEFT_COLOUR, f"{_side_name(Side.LEFT, involved)} {lp:.1f} %"),
                    (
                        100 - lp,
                        RIGHT_COLOUR,
                        f"{_side_name(Side.RIGHT, involved)} {100 - lp:.1f} %",
                    ),
                ],
            )
        )
    return bar_chart(rows, title="Left/right balance", reference=50.0) if rows else ""


def _strike_chart(m: GaitMetrics, involved: Side | None) -> str:
    rows = []
    for side, sm in ((Side.LEFT, m.left), (Side.RIGHT, m.right)):
        if not sm.foot_strike_pct:
            continue
        rows.append(
            (
                _side_name(side, involved),
                [
                    (
                        pct,
                        _STRIKE_COLOURS.get(kind, "#999"),
                        f"{kind.value.replace('_', ' ')} {pct:.0f} %",
                    )
                    for kind, pct in sm.foot_strike_pct.items()
                ],
            )
        )
    return bar_chart(rows, title="Foot-strike distribution") if rows else ""


def _segments_table(analysis: SessionAnalysis) -> str:
    involved = analysis.session.involved_side
    rows = []
    for seg in segments_of(analysis):
        m = seg.metrics
        rows.append(
            [
                escape(seg.name) + (" (baseline)" if seg.baseline else ""),
                f"{(seg.t0_s - analysis.session.host_t0_s) / 60:.1f}–"
                f"{(seg.t1_s - analysis.session.host_t0_s) / 60:.1f}",
                str(m.n_steps),
                _num(m.cadence_spm),
                _num(m.left.gct_ms_mean),
                _num(m.right.gct_ms_mean),
                _num(m.gct_balance_left_pct, 1),
                _num(m.step_time_cv_pct, 1),
            ]
        )
    return _table(
        [
            "Segment",
            "min",
            "steps",
            "cadence",
            f"GCT {_side_name(Side.LEFT, involved)}",
            f"GCT {_side_name(Side.RIGHT, involved)}",
            "GCT balance L %",
            "step-time CV %",
        ],
        rows,
        numeric_from=2,
    )


def _page(title: str, subtitle: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="sub">{escape(subtitle)}</p>{body}'
        '<p class="sub">Asymmetry: symmetry index SI = 100·(L−R)/(0.5·(L+R)); balance '
        "L % = 100·L/(L+R). Cadence = 60 000 / mean step time. Generated by gaitcue.</p>"
        "</body></html>\n"
    )


def _single(analysis: SessionAnalysis) -> str:
    session = analysis.session
    m = compute_metrics(analysis.result.steps)
    involved = session.involved_side
    facts = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in _facts(analysis)
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in notes_for(analysis))
    balance = max(m.gct_balance_left_pct, m.gct_balance_right_pct)
    summary = _table(
        ["", "value"],
        [
            ["Cadence", _num(m.cadence_spm, 1, "steps/min")],
            ["Steps", f"{m.n_steps} ({_num(m.flagged_pct, 1)} % flagged)"],
            [
                "Contact-time balance",
                f'<span class="{_balance_class(balance)}">{_num(m.gct_balance_left_pct, 1)} % L / '
                f"{_num(m.gct_balance_right_pct, 1)} % R</span>",
            ],
            ["Contact-time SI", _num(m.gct_si_pct, 1, "%")],
            ["Step-time SI", _num(m.step_time_si_pct, 1, "%")],
            [
                "Variability (CV)",
                f"step time {_num(m.step_time_cv_pct, 1)} %, contact time "
                f"{_num(m.gct_cv_pct, 1)} %",
            ],
        ],
    )
    per_side = _table(
        ["", _side_name(Side.LEFT, involved), _side_name(Side.RIGHT, involved)],
        _metric_rows(m),
    )
    body = (
        f'<h2>Notes</h2><ul class="notes">{notes}</ul>'
        f'<h2>Session</h2><table class="facts">{facts}</table>'
        f"<h2>Summary</h2>{summary}{per_side}"
        f"<h2>Cadence</h2>{_cadence_chart(analysis)}"
        f"<h2>Contact time</h2>{_gct_chart(analysis)}"
        f"<h2>Left/right balance</h2>{_balance_chart(m, involved)}"
        f"<h2>Foot strike</h2>{_strike_chart(m, involved)}"
        f"<h2>Segments</h2>{_segments_table(analysis)}"
    )
    return _page(
        "Running gait report",
        f"{session.meta.get('created', '')} · runner {session.runner_id}",
        body,
    )


def _compare(a: SessionAnalysis, b: SessionAnalysis) -> str:
    ma, mb = compute_metrics(a.result.steps), compute_metrics(b.result.steps)
    involved = a.session.involved_side or b.session.involved_side

    def change(x: float, y: float, digits: int = 1) -> str:
        d = _percent_longer(y, x)
        return "—" if not math.isfinite(d) else f"{d:+.{digits}f} %"

    rows = [
        [
            "Date",
            escape(str(a.session.meta.get("created", ""))),
            escape(str(b.session.meta.get("created", ""))),
            "",
        ],
        [
            "Duration (min)",
            f"{a.session.duration_s / 60:.1f}",
            f"{b.session.duration_s / 60:.1f}",
            "",
        ],
        [
            "Cadence (steps/min)",
            _num(ma.cadence_spm, 1),
            _num(mb.cadence_spm, 1),
            change(ma.cadence_spm, mb.cadence_spm),
        ],
    ]
    for side in (Side.LEFT, Side.RIGHT):
        sa, sb = ma.side(side), mb.side(side)
        name = _side_name(side, involved)
        rows += [
            [
                f"Contact time {name} (ms)",
                _num(sa.gct_ms_mean),
                _num(sb.gct_ms_mean),
                change(sa.gct_ms_mean, sb.gct_ms_mean),
            ],
            [
                f"Flight time {name} (ms)",
                _num(sa.flight_ms_mean),
                _num(sb.flight_ms_mean),
                change(sa.flight_ms_mean, sb.flight_ms_mean),
            ],
        ]
    rows += [
        [
            "Contact-time balance L (%)",
            _num(ma.gct_balance_left_pct, 1),
            _num(mb.gct_balance_left_pct, 1),
            "",
        ],
        ["Step-time CV (%)", _num(ma.step_time_cv_pct, 1), _num(mb.step_time_cv_pct, 1), ""],
        ["Contact-time CV (%)", _num(ma.gct_cv_pct, 1), _num(mb.gct_cv_pct, 1), ""],
    ]
    notes = []
    dc = _percent_longer(mb.cadence_spm, ma.cadence_spm)
    if math.isfinite(dc):
        notes.append(
            f"Cadence is {abs(dc):.1f} % {'higher' if dc >= 0 else 'lower'} in B than in A."
        )
    for side in (Side.LEFT, Side.RIGHT):
        d = _percent_longer(mb.side(side).gct_ms_mean, ma.side(side).gct_ms_mean)
        if math.isfinite(d):
            notes.append(
                f"Contact time on the {_side_name(side, involved).lower()} is {abs(d):.1f} % "
                f"{'longer' if d >= 0 else 'shorter'} in B."
            )
    chart = line_chart(
        [
            _cadence_series(a, _COMPARE_COLOURS[0], "A"),
            _cadence_series(b, _COMPARE_COLOURS[1], "B"),
        ],
        title="Cadence over time, A and B",
        x_label="time from each session's start (min)",
        y_label="cadence (steps/min)",
    )
    body = (
        '<h2>Notes</h2><ul class="notes">'
        + "".join(f"<li>{escape(n)}</li>" for n in notes)
        + "</ul><h2>A and B</h2>"
        + _table(["", "A", "B", "B vs A"], rows)
        + f"<h2>Cadence</h2>{chart}"
        + '<h2>Session A</h2><ul class="notes">'
        + "".join(f"<li>{escape(n)}</li>" for n in notes_for(a))
        + f'</ul>{_gct_chart(a)}<h2>Session B</h2><ul class="notes">'
        + "".join(f"<li>{escape(n)}</li>" for n in notes_for(b))
        + f"</ul>{_gct_chart(b)}"
    )
    return _page(
        "Running gait comparison",
        f"A: {a.session.meta.get('created', '')} · B: {b.session.meta.get('created', '')} · "
        f"runner {a.session.runner_id}",
        body,
    )


def render_report(analyses: Sequence[SessionAnalysis]) -> str:
    """The report page of one session, or the comparison page of two."""
    if len(analyses) == 1:
        return _single(analyses[0])
    if len(analyses) == 2:
        return _compare(analyses[0], analyses[1])
    raise ConfigurationError("a report takes one session, or two to compare")


def write_report(analyses: Sequence[SessionAnalysis], out: Path) -> Path:
    """Write the report page to ``out`` (owner-only: it holds health data)."""
    if not out.parent.is_dir():
        raise ConfigurationError(f"cannot write {out}: the folder {out.parent} does not exist")
    html = render_report(analyses)
    out.touch(mode=0o600, exist_ok=True)
    out.chmod(0o600)
    out.write_text(html, encoding="utf-8")
    return out


def find_chromium() -> str | None:
    """A headless-capable Chromium or Chrome on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def write_pdf(html_path: Path, pdf_path: Path, *, timeout_s: float = 60.0) -> Path:
    """Print the report page to PDF with headless Chromium (no Python PDF library renders
    HTML with inline SVG as faithfully without system libraries of its own).

    Raises:
        ConfigurationError: no Chromium is installed, or it failed.
    """
    browser = find_chromium()
    if browser is None:
        raise ConfigurationError("--pdf needs Chromium: install it (apt install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={profile}",
                "--no-pdf-header-footer",
                f"--print-to-pdf={pdf_path}",
                html_path.resolve().as_uri(),
            ],
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    if result.returncode != 0 or not pdf_path.exists():
        raise ConfigurationError(
            f"Chromium could not print {html_path} to PDF (exit status {result.returncode})"
        )
    pdf_path.chmod(0o600)
    return pdf_path
