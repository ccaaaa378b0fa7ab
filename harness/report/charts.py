"""Charts for reports: matplotlib figures rendered to inline SVG strings.

Every function returns one ``<svg>`` element (no XML prolog, no DOCTYPE, no metadata), ready to embed in HTML.
Text is kept as ``<text>`` (``svg.fonttype = 'none'``, set inside :func:`matplotlib.rc_context` — no global
rcParams change) and is XML-escaped by matplotlib; ``$`` is escaped so labels are never parsed as mathtext.
Element ids are prefixed per chart so several charts can share a page. Figures are created with the object API
(:class:`matplotlib.figure.Figure` on the Agg canvas, printed as SVG), never pyplot, so no GUI backend and no
global figure state are involved. An empty input still draws a chart saying "no data".
"""

from __future__ import annotations

import html
import io
import itertools
import math
import re
from typing import Any, Sequence

import matplotlib
from matplotlib.typing import RcKeyType
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

RC: dict[RcKeyType, Any] = {"svg.fonttype": "none", "svg.hashsalt": "harness-report", "font.size": 9,
                            "axes.spines.top": False, "axes.spines.right": False}
COLORS = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2")
BASE_COLOR, CAND_COLOR = COLORS[0], COLORS[1]
_counter = itertools.count(1)


def label(text: object, limit: int = 48) -> str:
    """A tick/legend label: str, cut to ``limit`` characters, ``$`` escaped (no mathtext)."""
    s = " ".join(str(text).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("$", r"\$")


def _nan(x: object) -> float:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
    return v


def to_svg(fig: Figure, *, title: str = "") -> str:
    """Render a figure to an inline ``<svg>`` string: prolog/DOCTYPE/metadata stripped, ids made unique,
    ``role="img"`` and an escaped ``aria-label``."""
    buf = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    prefix = f"c{next(_counter)}-"
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    # one pass over the text (a loop of re.sub per id is quadratic: seconds on a chart with thousands of ids)
    svg = re.sub(r'(\bid="|url\(#|href="#)([^")]+)(?=[")])',
                 lambda m: m.group(1) + prefix + m.group(2) if m.group(2) in ids else m.group(0), svg)
    attrs = f' class="chart" role="img" aria-label="{html.escape(title, quote=True)}"'
    return svg.replace("<svg", "<svg" + attrs, 1).strip()


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(fig)   # Agg canvas for layout; savefig(format="svg") prints through the SVG backend
        return fig


def _no_data(ax, message: str = "no data") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def bar_ci(labels: Sequence[object], series: dict[str, tuple[Sequence[float], Sequence[float], Sequence[float]]],
           *, title: str, xlabel: str = "", percent: bool = True, xlim: tuple[float, float] | None = (0, 1)
           ) -> str:
    """Horizontal grouped bars with 95 % interval whiskers.

    Args:
        labels: one label per group (row), top to bottom.
        series: name -> ``(values, lo, hi)``, each a sequence aligned with ``labels`` (NaN allowed: no bar).
        title, xlabel: chart title and x-axis label.
        percent: show the x axis as percentages (values are fractions).
        xlim: x-axis limits (None = automatic).
    Returns:
        An inline ``<svg>`` string.
    """
    n, k = len(labels), max(1, len(series))
    with matplotlib.rc_context(RC):
        fig = _figure(6.4, max(1.6, 0.32 * n * (1 + 0.35 * (k - 1)) + 1.0))
        ax = fig.add_subplot()
        ax.set_title(label(title, 90), loc="left")
        if not n or not series:
            _no_data(ax)
            return to_svg(fig, title=title)
        h = 0.8 / k
        for j, (name, (vals, lo, hi)) in enumerate(series.items()):
            ys = [i + (j - (k - 1) / 2) * h for i in range(n)]
            v = [_nan(x) for x in vals]
            err_lo = [max(0.0, a - _nan(b)) for a, b in zip(v, lo)]      # NaN bound -> no whisker
            err_hi = [max(0.0, _nan(b) - a) for a, b in zip(v, hi)]
            whiskers = any(not (math.isnan(x) or math.isnan(y)) for x, y in zip(err_lo, err_hi))
            ax.barh(ys, [0 if math.isnan(x) else x for x in v], height=h * 0.9, color=COLORS[j % len(COLORS)],
                    label=label(name), xerr=[err_lo, err_hi] if whiskers else None,
                    error_kw={"ecolor": "#333", "capsize": 2, "lw": 0.8})
        ax.set_yticks(range(n), [label(x) for x in labels])
        ax.invert_yaxis()
        if xlim:
            ax.set_xlim(*xlim)
        if percent:
            ax.xaxis.set_major_formatter(lambda x, _pos: f"{x * 100:.0f}%")
        if xlabel:
            ax.set_xlabel(label(xlabel, 90))
        if k > 1:
            ax.legend(loc="lower right", fontsize=8, frameon=False)
        ax.grid(axis="x", color="#ddd", lw=0.6)
        ax.set_axisbelow(True)
        return to_svg(fig, title=title)


def forest(labels: Sequence[object], diffs: Sequence[float], lo: Sequence[float], hi: Sequence[float], *,
           title: str, xlabel: str = "candidate − baseline", percent: bool = True) -> str:
    """A forest plot of paired differences with their 95 % intervals and a zero line; points left of zero in
    red, right in green when the interval excludes zero, grey otherwise."""
    n = len(labels)
    with matplotlib.rc_context(RC):
        fig = _figure(6.4, max(1.6, 0.34 * n + 1.0))
        ax = fig.add_subplot()
        ax.set_title(label(title, 90), loc="left")
        if not n:
            _no_data(ax)
            return to_svg(fig, title=title)
        for i, (d, a, b) in enumerate(zip(diffs, lo, hi)):
            d, a, b = _nan(d), _nan(a), _nan(b)
            colour = "#999"
            if not (math.isnan(a) or math.isnan(b)):
                colour = "#2a9d3f" if a > 0 else ("#d62728" if b < 0 else "#777")
                ax.plot([a, b], [i, i], color=colour, lw=1.6)
            if not math.isnan(d):
                ax.plot([d], [i], "o", color=colour, ms=5)
        ax.axvline(0, color="#333", lw=0.8)
        ax.set_yticks(range(n), [label(x) for x in labels])
        ax.set_ylim(n - 0.5, -0.5)
        if percent:
            ax.xaxis.set_major_formatter(lambda x, _pos: f"{x * 100:+.0f} pts" if x else "0")
        ax.set_xlabel(label(xlabel, 90))
        ax.grid(axis="x", color="#ddd", lw=0.6)
        return to_svg(fig, title=title)


def paired_scatter(base: Sequence[float], cand: Sequence[float], *, title: str, xlabel: str = "baseline",
                   ylabel: str = "candidate", percent: bool = True) -> str:
    """Per-item scatter of candidate against baseline values with the y = x diagonal (points above improved)."""
    pts = [(_nan(a), _nan(b)) for a, b in zip(base, cand)]
    pts = [(a, b) for a, b in pts if not (math.isnan(a) or math.isnan(b))]
    with matplotlib.rc_context(RC):
        fig = _figure(4.2, 4.0)
        ax = fig.add_subplot()
        ax.set_title(label(title, 60), loc="left")
        if not pts:
            _no_data(ax)
            return to_svg(fig, title=title)
        ax.plot([0, 1], [0, 1], color="#999", lw=0.8, ls="--", transform=ax.transAxes)
        ax.scatter([a for a, _ in pts], [b for _, b in pts], s=22, alpha=0.7, color=BASE_COLOR,
                   edgecolors="white", linewidths=0.5)
        if percent:
            ax.set_xlim(-0.03, 1.03)
            ax.set_ylim(-0.03, 1.03)
            def fmt(x: float, _pos: float) -> str:
                return f"{x * 100:.0f}%"
            ax.xaxis.set_major_formatter(fmt)
            ax.yaxis.set_major_formatter(fmt)
        ax.set_xlabel(label(xlabel, 60))
        ax.set_ylabel(label(ylabel, 60))
        ax.grid(color="#eee", lw=0.6)
        return to_svg(fig, title=title)


def histogram(series: dict[str, Sequence[float]], *, title: str, xlabel: str, bins: int = 20) -> str:
    """Overlaid histograms of one or more value sets (e.g. latency in seconds per variant); NaNs dropped."""
    clean = {k: [v for v in (_nan(x) for x in vals) if not math.isnan(v)] for k, vals in series.items()}
    with matplotlib.rc_context(RC):
        fig = _figure(6.4, 2.6)
        ax = fig.add_subplot()
        ax.set_title(label(title, 90), loc="left")
        allv = [v for vals in clean.values() for v in vals]
        if not allv:
            _no_data(ax)
            return to_svg(fig, title=title)
        lo, hi = min(allv), max(allv)
        edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)] if hi > lo else bins
        for j, (name, vals) in enumerate(clean.items()):
            if vals:
                ax.hist(vals, bins=edges, alpha=0.55, color=COLORS[j % len(COLORS)], label=label(name))
        ax.set_xlabel(label(xlabel, 90))
        ax.set_ylabel("samples")
        from matplotlib.ticker import MaxNLocator
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))   # counts of samples: no "1.5" tick
        if len(clean) > 1:
            ax.legend(fontsize=8, frameon=False)
        return to_svg(fig, title=title)
