"""Charts of the nightly dashboard: trends over nights (with 95 % bands) and a case × night heatmap.

Same conventions as :mod:`harness.report.charts` (whose :func:`~harness.report.charts.to_svg`, colours and label
escaping are reused): object-API matplotlib figures on the Agg canvas, returned as inline ``<svg>`` strings with
text kept as text. The x axis of every trend is the night's index in the history (runs in start order), labelled
with the runs' dates, so nights are evenly spaced whatever their timestamps. The heatmap is one embedded PNG
(``data:`` URI, allowed by the report CSP's ``img-src data:``) so a year of nights stays small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from .charts import COLORS, RC, label, to_svg

BELOW_COLOR = "#d62728"
MAX_ROW_LABELS = 60    # heatmap rows labelled one by one; a bigger suite gets every k-th label
HEAT_CMAP = LinearSegmentedColormap.from_list("found", ["#c0392b", "#f4d03f", "#27ae60"])


@dataclass
class Series:
    """One line: ``values`` aligned with the nights (NaN = no value that night), optional 95 % band ``lo``/``hi``
    and nights to mark (``marks``: indices drawn as red dots, e.g. nights below the baseline)."""

    name: str
    values: Sequence[float]
    lo: Sequence[float] | None = None
    hi: Sequence[float] | None = None
    marks: Sequence[int] = field(default_factory=list)
    dashed: bool = False
    color: int | None = None


@dataclass
class Panel:
    """One small chart of a trend figure. ``fmt``: ``pct`` (fractions shown as %), ``usd``, ``num``, ``s``."""

    title: str
    series: list[Series]
    fmt: str = "pct"
    ylim: tuple[float, float] | None = None


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(fig)
        return fig


def _ticks(n: int, labels: Sequence[str], most: int = 8) -> tuple[list[int], list[str]]:
    if n <= 0:
        return [], []
    step = max(1, math.ceil(n / most))
    pos = list(range(0, n, step))
    if pos[-1] != n - 1 and n - 1 - pos[-1] >= step / 2:
        pos.append(n - 1)
    return pos, [label(labels[i], 14) for i in pos]


def _fmt_axis(ax, fmt: str) -> None:
    # cost, seconds and counts are never negative: a tick below 0 (the axis margin under a low band) gets no
    # label rather than "$-0.020"
    f = {"pct": lambda y, _p: f"{y * 100:.0f}%",
         "usd": lambda y, _p: "" if y < 0 else (f"${y:,.2f}" if y >= 0.1 else f"${y:.3f}"),
         "s": lambda y, _p: "" if y < 0 else f"{y:g} s",
         "num": lambda y, _p: "" if y < 0 else (f"{y:,.0f}" if abs(y) >= 100 else f"{y:g}")}[fmt]
    ax.yaxis.set_major_formatter(f)


def trend(panels: list[Panel], night_labels: Sequence[str], *, title: str, ncols: int = 2,
          baseline_night: int | None = None, incomplete: Sequence[int] = (), panel_height: float = 2.3,
          width: float = 11.0) -> str:
    """Small multiples of per-night lines with optional 95 % bands.

    Args:
        panels: one :class:`Panel` per small chart (several variants = several series per panel).
        night_labels: one label per night (x tick labels, usually dates), len = number of nights.
        title: the figure title (also the SVG's aria-label).
        ncols: panels per row.
        baseline_night: index of the pinned baseline run, drawn as a dashed vertical line.
        incomplete: indices of runs that ended incomplete, drawn as grey ticks at the bottom of each panel.
    Returns:
        An inline ``<svg>`` string; a "no data" chart when there is no night.
    """
    n = len(night_labels)
    rows = max(1, math.ceil(len(panels) / ncols))
    with matplotlib.rc_context(RC):
        fig = _figure(width, panel_height * rows + 0.5)
        fig.suptitle(label(title, 110), x=0.01, ha="left", fontsize=10)
        if not n or not panels:
            ax = fig.add_subplot()
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="#666")
            ax.set_xticks([])
            ax.set_yticks([])
            return to_svg(fig, title=title)
        axes = fig.subplots(rows, ncols, squeeze=False, sharex=True)
        x = np.arange(n)
        pos, labs = _ticks(n, night_labels, most=8 if ncols <= 2 else 4)
        for k, ax in enumerate(axes.flat):
            if k >= len(panels):
                ax.set_visible(False)
                continue
            p = panels[k]
            ax.set_title(label(p.title, 70), loc="left", fontsize=9)
            for j, s in enumerate(p.series):
                colour = COLORS[(j if s.color is None else s.color) % len(COLORS)]
                y = np.asarray(s.values, dtype=float)
                if s.lo is not None and s.hi is not None:
                    lo, hi = np.asarray(s.lo, dtype=float), np.asarray(s.hi, dtype=float)
                    if n > 1:
                        ax.fill_between(x, lo, hi, color=colour, alpha=0.18, lw=0, step=None)
                    else:
                        ax.errorbar(x, y, yerr=[np.nan_to_num(y - lo), np.nan_to_num(hi - y)], fmt="none",
                                    ecolor=colour, capsize=3)
                ax.plot(x, y, color=colour, lw=1.4, ls="--" if s.dashed else "-", label=label(s.name, 60),
                        marker="o" if n <= 45 else None, ms=3)
                marks = [i for i in s.marks if 0 <= i < n and not math.isnan(y[i])]
                if marks:
                    ax.plot(marks, y[marks], "o", ms=5, mfc="none", mec=BELOW_COLOR, mew=1.4,
                            label="below baseline (p < 0.05)" if j == 0 else None)
            if baseline_night is not None and 0 <= baseline_night < n:
                ax.axvline(baseline_night, color="#555", lw=0.9, ls=":", label="baseline run")
            for i in incomplete:
                ax.axvline(i, ymax=0.06, color="#888", lw=2)
            if p.ylim:
                ax.set_ylim(*p.ylim)
            _fmt_axis(ax, p.fmt)
            ax.grid(color="#e6e6e6", lw=0.6)
            ax.set_xlim(-0.5, n - 0.5)
            ax.set_xticks(pos, labs, fontsize=8)
        first = axes.flat[0]
        handles, names = first.get_legend_handles_labels()
        if handles:
            fig.legend(handles, names, loc="outside lower center", ncols=min(4, len(handles)), frameon=False,
                       fontsize=8)
        return to_svg(fig, title=title)


def heatmap(matrix: np.ndarray, rows: Sequence[str], night_labels: Sequence[str], *, title: str,
            marked_rows: Sequence[str] = ()) -> str:
    """A case × night heatmap of found rates (0..1, red → yellow → green; grey = no value).

    Args:
        matrix: shape ``(len(rows), len(night_labels))``, fractions with NaN for missing.
        rows: row labels (case ids), top to bottom.
        night_labels: column labels.
        marked_rows: row labels to highlight (drawn bold, with a "◆" in front: e.g. the flakiest cases).
    """
    m = np.asarray(matrix, dtype=float)
    nr, nc = (m.shape if m.ndim == 2 else (0, 0))
    marked = set(marked_rows)
    # Past MAX_ROW_LABELS rows the cells shrink and only every k-th row (and every marked one) is labelled: a label
    # per row of a 400-case suite made a 77-inch figure whose 400 label extents took most of the dashboard's time.
    step = max(1, math.ceil(nr / MAX_ROW_LABELS))
    shown = sorted(set(range(0, nr, step)) | {i for i, r in enumerate(rows) if r in marked})
    with matplotlib.rc_context(RC):
        fig = _figure(11.0, max(2.2, 0.19 * min(nr, MAX_ROW_LABELS) + 1.4))
        ax = fig.add_subplot()
        ax.set_title(label(title, 110), loc="left", fontsize=10)
        if not nr or not nc:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="#666")
            ax.set_xticks([])
            ax.set_yticks([])
            return to_svg(fig, title=title)
        cmap = HEAT_CMAP.with_extremes(bad="#d9d9d9")
        im = ax.imshow(np.ma.masked_invalid(m), aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_yticks(shown, [("◆ " if rows[i] in marked else "") + label(rows[i], 40) for i in shown], fontsize=7)
        for t, i in zip(ax.get_yticklabels(), shown):
            if rows[i] in marked:
                t.set_fontweight("bold")
        if step > 1:
            ax.set_ylabel(f"{nr} cases; every {step}th and every ◆ labelled", fontsize=8)
        pos, labs = _ticks(nc, night_labels, most=12)
        ax.set_xticks(pos, labs, fontsize=8)
        ax.tick_params(length=2)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        cb = fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
        cb.ax.yaxis.set_major_formatter(lambda y, _p: f"{y * 100:.0f}%")
        cb.ax.tick_params(labelsize=7)
        cb.set_label("found rate", fontsize=8)
        return to_svg(fig, title=title)
