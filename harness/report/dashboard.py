"""``harness dashboard [RUNS_ROOT] [--out DIR] [--baseline RUN]``: the nightly quality dashboard.

One self-contained static page, ``<out>/index.html`` (default ``<reports_dir>/dashboard/``), rebuilt from the run
directories under the runs root alone (``[tool.harness] runs_root``; their ``summary.json`` files, see
:mod:`harness.history`). It shows, per variant (prompt version × model):

* the latest night against the pinned baseline (``--baseline RUN_DIR`` or run id, else ``[tool.harness]
  baseline_run``) — every metric's paired difference with its 95 % interval and p-value, significant
  regressions on top (:mod:`harness.report.dashboard_analysis`), findings that flipped, since which night recall
  has been below the baseline, and a link to the full ``harness compare`` report, written into ``<out>/compare/``;
* the trend of recall and severity-weighted recall (95 % bands), trap false-positive rate and error rate;
* recall per category over the nights; a case × night heatmap of found rates; the flakiest cases and the
  findings that flip from night to night (over the last ``window`` nights);
* cost, tokens and latency per night; every run read, and every folder skipped with the reason.

Same security model as the other reports (:mod:`harness.report.html`): autoescaped jinja2, charts as inline SVG,
a CSP that forbids every external load and allows only the table-sorting script by its hash.

Exit codes of :func:`cli`: 0 written (also with no run: the page says so); 2 bad input (the runs root is not a
folder, the baseline is not a readable run) — a :class:`~harness.errors.HarnessError`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import HarnessConfig, load_config
from ..errors import HarnessError
from ..exitcodes import ExitCode
from ..history import History, RunEntry, discover_runs, load_history, read_run_summary
from ..records import RunDir, utcnow
from ..verdicts import Verdict, decide_summaries
from ..textio import atomic_write_text
from . import dashboard_charts as dc
from .dashboard_analysis import (FLAKY, BaselineRow, below_since, compare_to_baseline, finding_flips, flakiness,
                                 heatmap_frame, nights_vs_baseline, pair_variants, paired_findings, pool_variants)
from .html import render_html

INDEX = "index.html"


@dataclass
class BaselineView:
    """The latest night of one variant against the baseline."""

    variant: str
    base_variant: str
    rows: list[BaselineRow]
    flips: list[dict]
    nights: pd.DataFrame
    below_since: int | None
    verdict: Verdict | None = None
    verdict_error: str | None = None
    compare_href: str | None = None
    compare_error: str | None = None
    comparison: Any = None

    @property
    def regressions(self) -> list[BaselineRow]:
        """Rows shown as regressed (recall: the gate's test; others: Holm-adjusted p < 0.05). Display only: the
        night's status is :attr:`regressed`."""
        return [r for r in self.rows if r.regressed and r.gates]

    @property
    def gate_reasons(self) -> list[str]:
        """Why the gate says *regressed* (or *inconclusive* because of under-sampled critical findings)."""
        return self.verdict.reasons if self.verdict is not None else []

    @property
    def regressed(self) -> bool:
        """The gate's verdict (:func:`harness.verdicts.decide`) is *regressed*: the only thing that sets the
        dashboard's status and ``harness nightly``'s exit code."""
        return self.verdict is not None and self.verdict.fail


@dataclass
class Dashboard:
    """Everything the page shows. ``status``: ``regressed``, ``ok`` (no significant regression against the
    baseline), ``no-baseline``, ``no-comparison`` (the baseline shares no variant with the latest run) or
    ``empty`` (no run read)."""

    history: History
    latest: RunEntry | None
    baseline: RunEntry | None
    baseline_night: int | None
    views: list[BaselineView]
    flaky: dict[str, tuple[pd.DataFrame, pd.DataFrame]]
    window: int
    warnings: list[str]
    charts: dict[str, str] = field(default_factory=dict)
    index: Path | None = None
    baselines: list[RunEntry] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.history.runs:
            return "empty"
        if self.baseline is None:
            return "no-baseline"
        if not self.views:
            return "no-comparison"
        return "regressed" if any(v.regressed for v in self.views) else "ok"

    @property
    def flaky_cases(self) -> list[tuple[str, str, float]]:
        """``(variant, case, flakiness)`` of every case at or above the flaky threshold, flakiest first."""
        out = [(v, r["case"], float(r["flakiness"])) for v, (c, _) in self.flaky.items()
               for r in c.to_dict("records") if r["flakiness"] >= FLAKY]
        return sorted(out, key=lambda t: -t[2])


# ------------------------------------------------------------------------------------------- resolving runs

def baseline_values(value: str | Path | list | tuple | None) -> list[str]:
    """The runs of a baseline setting: a run directory or id, a comma-separated list of them (several nights
    pooled into one baseline), or a list; [] for None/empty."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(x).strip() for x in items if str(x).strip()]


def resolve_runs(value: str | Path | list | tuple, runs_root: Path, history: History | None = None,
                 root: Path | None = None, *, what: str = "baseline") -> list[Path]:
    """:func:`resolve_run` of every run of a (possibly pooled) baseline setting (:func:`baseline_values`).

    Raises:
        HarnessError: one of them is not found, or one run is listed twice (pooled twice, one night would count
        as two and the critical-finding test would gain power it does not have).
    """
    from .compare import check_distinct
    paths = [resolve_run(v, runs_root, history, root, what=what) for v in baseline_values(value)]
    return check_distinct(paths, baseline_values(value), what=what)


def resolve_run(value: str | Path, runs_root: Path, history: History | None = None,
                root: Path | None = None, *, what: str = "baseline") -> Path:
    """A run directory from a path (absolute, relative to the working folder, to ``root`` or to the runs root) or
    a run id of the history.

    Raises:
        HarnessError: nothing matching holds a ``run.json``.
    """
    p = Path(value)
    for cand in (p, *(([root / p] if root else [])), runs_root / p):
        if RunDir.exists(cand):
            return cand.resolve()
    if history is not None:
        e = history.get(str(value))
        if e is not None:
            return e.path.resolve()
    elif runs_root.is_dir():
        for d in discover_runs(runs_root)[0]:
            try:
                if RunDir.open(d).manifest.run_id == str(value):
                    return d.resolve()
            except HarnessError:
                continue
    raise HarnessError(f"{what} run {str(value)!r} not found: give a run directory or the run id of a run under "
                       f"{runs_root}", field=f"--{what}")


def _entry_for(path: Path, history: History, config: HarnessConfig) -> tuple[RunEntry, int | None]:
    for i, e in enumerate(history.runs):
        if e.path.resolve() == path:
            return e, i
    skipped = next((s for s in history.skipped if s.path.resolve() == path), None)
    if skipped is not None and "still running" in skipped.reason:
        raise HarnessError(f"the baseline run cannot be used: {skipped.reason}", file=path)
    data, note = read_run_summary(path, reducer=config.reducer, severity_weights=config.severity_weights)
    if not data["variants"]:
        raise HarnessError("the baseline run holds no sample", file=path)
    return RunEntry(path, data, note), None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "variant"


# ---------------------------------------------------------------------------------------------- building

def build_dashboard(runs_root: str | Path, out: str | Path | None = None, *, baseline: str | Path | None = None,
                    latest: str | Path | None = None, config: HarnessConfig | None = None, window: int = 30,
                    heatmap_nights: int = 120, with_compare: bool = True) -> Dashboard:
    """Read the history, compare the latest night with the baseline, draw the charts and write the page.

    Args:
        runs_root: folder of run directories.
        out: output folder (default ``<reports_dir>/dashboard``); ``index.html`` and ``compare/`` go there.
        baseline: pinned baseline (run directory or run id, or several comma-separated / a list: nights pooled
            into one baseline); None = ``config.baseline_run``; none at all = no comparison (the page says how to
            pin one).
        latest: the run to compare (default the newest run of the history; ``harness nightly`` passes its run).
        config: settings (reducer, severity weights, reports_dir); default :func:`harness.config.load_config`.
        window: nights over which flakiness and flips are measured.
        heatmap_nights: nights shown in the heatmap.
        with_compare: also write the full comparison report(s) (``harness compare``) into ``<out>/compare/``.
    Returns:
        The :class:`Dashboard` (``index`` is the written page).
    Raises:
        HarnessError: the runs root is not a folder; the baseline or ``latest`` is not a readable run.
    """
    config = config or load_config()
    runs_root = Path(runs_root)
    out = Path(out) if out is not None else config.path(config.reports_dir) / "dashboard"
    history = load_history(runs_root, config=config)
    warnings: list[str] = []
    latest_e = history.runs[-1] if history.runs else None
    if latest is not None:
        lp = resolve_run(latest, runs_root, history, config.root, what="latest")
        latest_e, _ = _entry_for(lp, history, config)
    base_e, base_night = None, None
    bases: list[RunEntry] = []
    baseline = baseline if baseline is not None else config.baseline_run
    # resolved even with no run to compare yet: a baseline that does not exist is bad input on the first day too
    base_paths = resolve_runs(baseline, runs_root, history, config.root) if baseline_values(baseline) else []  # type: ignore[arg-type]  # baseline_values(baseline) is true only for a value
    if base_paths and latest_e is not None:
        for bp in base_paths:
            e, night = _entry_for(bp, history, config)
            if e.note and night is None:
                warnings.append(f"baseline {e.run_id}: {e.note}")
            if latest_e is not None and e.path.resolve() == latest_e.path.resolve():
                warnings.append(f"baseline run {e.run_id} is the latest run itself: left out of the baseline")
                continue
            if base_e is None:
                base_e, base_night = e, night
            bases.append(e)
        if not bases:
            base_e, base_night = None, None
    views = []
    if base_e is not None and latest_e is not None:
        if len(bases) > 1:
            warnings.append(f"baseline pooled over {len(bases)} runs: {', '.join(e.run_id for e in bases)}")
        pairs = pair_variants(base_e.variants, latest_e.variants)
        if not pairs:
            warnings.append(f"the baseline ({', '.join(base_e.variants)}) and the latest run "
                            f"({', '.join(latest_e.variants)}) share no variant: nothing to compare")
        if base_e.run.get("suite_fingerprint") != latest_e.run.get("suite_fingerprint"):
            warnings.append("the suite changed since the baseline (suite fingerprints differ): differences may come "
                            "from the cases, not the prompt or model")
        for bv, cv in pairs:
            views.append(_baseline_view(history, bases, latest_e, bv, cv, out, config, with_compare))
    variants = _ordered_variants(history, latest_e)
    flaky = {v: flakiness(history, v, window=window) for v in variants}
    if latest_e is not None and latest_e.status != "complete":
        warnings.append(f"the latest run {latest_e.run_id} is {latest_e.status}"
                        + (f": {latest_e.run.get('status_reason')}" if latest_e.run.get("status_reason") else ""))
    dash = Dashboard(history=history, latest=latest_e, baseline=base_e, baseline_night=base_night, views=views,
                     flaky=flaky, window=window, warnings=warnings, baselines=bases)
    dash.charts = dashboard_charts(dash, variants, heatmap_nights=heatmap_nights)
    dash.index = out / INDEX
    atomic_write_text(dash.index, render_dashboard(dash, runs_root=runs_root))
    return dash


def _ordered_variants(history: History, latest: RunEntry | None) -> list[str]:
    first = latest.variants if latest is not None else []
    return list(dict.fromkeys([*first, *history.variants]))


def _baseline_view(history: History, bases: list[RunEntry], latest: RunEntry, bv: str, cv: str, out: Path,
                   config: HarnessConfig, with_compare: bool) -> BaselineView:
    variants = [v for e in bases if (v := e.variant(bv)) is not None]
    epochs = int(bases[0].run.get("epochs") or 1)
    b, c = pool_variants(variants, reducer=config.reducer, epochs=epochs), latest.variant(cv)
    assert c is not None     # cv is one of the latest run's variants (pair_variants)
    verdict, verdict_error = None, None
    try:
        verdict = decide_summaries(variants, c, reducer=config.reducer, base_epochs=epochs)
    except ValueError as e:
        verdict_error = f"no verdict: {e}"
    rows = compare_to_baseline(b, c, verdict=verdict)
    flips = finding_flips(paired_findings(b, c))
    nights = nights_vs_baseline(history, cv, b)
    latest_night = next((i for i, e in enumerate(history.runs) if e is latest), None)
    rec = next((r for r in rows if r.key == "recall"), None)
    if rec is not None and latest_night is not None and len(nights):
        # the latest night's flag follows the table (exact p-value of the same comparison)
        nights.loc[nights["night"] == latest_night, "below"] = rec.regressed
    view = BaselineView(variant=cv, base_variant=bv, rows=rows, flips=flips, nights=nights,
                        below_since=below_since(nights) if latest_night is not None else None, verdict=verdict,
                        verdict_error=verdict_error)
    if with_compare:
        from .compare import compare_runs, write_compare_report
        try:
            cmp = compare_runs([e.path for e in bases], latest.path, config=config, base_variant=bv,
                               cand_variant=cv)
            folder = out / "compare" / _slug(cv)
            _, html = write_compare_report(cmp, folder, config=config)
            view.comparison = cmp
            view.compare_href = html.relative_to(out).as_posix()
        except (HarnessError, OSError) as e:
            view.compare_error = f"the comparison report could not be built: {e}"
    return view


# ------------------------------------------------------------------------------------------------ charts

def night_labels(history: History) -> list[str]:
    """X labels of the nights: the runs' start dates (``MM-DD``, ``YYYY-MM-DD`` across years) when every night
    has its own date, else ``#<n>`` (1-based night number)."""
    dates = [e.started_at[:10] for e in history.runs]
    if dates and all(dates) and len(set(dates)) == len(dates):
        return [d[5:] if len({x[:4] for x in dates}) == 1 else d for d in dates]
    return [f"#{i + 1}" for i in range(len(dates))]


def _series(h: pd.DataFrame, variant: str, n: int, col: str, band: bool = True, marks=()) -> dc.Series:
    g = h[h["variant"] == variant].set_index("night")
    idx = range(n)
    vals = g[col].reindex(idx).to_numpy(float) if col in g else np.full(n, np.nan)
    lo = g[f"{col}_lo"].reindex(idx).to_numpy(float) if band and f"{col}_lo" in g else None
    hi = g[f"{col}_hi"].reindex(idx).to_numpy(float) if band and f"{col}_hi" in g else None
    return dc.Series(variant, vals, lo, hi, list(marks))  # type: ignore[arg-type]  # dc.Series takes any float sequence, numpy arrays included


def dashboard_charts(dash: Dashboard, variants: list[str], *, heatmap_nights: int = 120) -> dict[str, str]:
    """The page's charts as inline SVG: ``headline``, ``categories``, ``cost`` and ``heatmap:<variant>``."""
    hist = dash.history
    n = len(hist.runs)
    labels = night_labels(hist)
    h = hist.headline
    marks = {v.variant: v.nights.loc[v.nights["below"].astype(bool), "night"].astype(int).tolist()
             for v in dash.views}
    incomplete = [i for i, e in enumerate(hist.runs) if e.status != "complete"]
    common: dict[str, Any] = dict(baseline_night=dash.baseline_night, incomplete=incomplete)
    out: dict[str, str] = {}
    out["headline"] = dc.trend([
        dc.Panel("Recall (95% CI)", [_series(h, v, n, "recall", marks=marks.get(v, ())) for v in variants],
                 ylim=(0, 1)),
        dc.Panel("Severity-weighted recall (95% CI)", [_series(h, v, n, "weighted_recall") for v in variants],
                 ylim=(0, 1)),
        dc.Panel("Trap false-positive rate (95% CI)", [_series(h, v, n, "trap_fp_rate") for v in variants]),
        dc.Panel("Error rate (95% CI, clustered by case)", [_series(h, v, n, "error_rate") for v in variants]),
    ], labels, title="Headline metrics per night", **common)
    cats = hist.categories
    groups = sorted(cats["group"].dropna().unique()) if len(cats) else []
    panels = []
    for grp in groups:
        g = cats[cats["group"] == grp].rename(columns={"recall": "r", "lo": "r_lo", "hi": "r_hi"})
        panels.append(dc.Panel(f"{grp}", [_series(g, v, n, "r") for v in variants], ylim=(0, 1)))
    out["categories"] = dc.trend(panels, labels, title="Recall per category (95% CI)", ncols=4, panel_height=1.9,
                                 **common)
    out["cost"] = dc.trend([
        dc.Panel("Cost per night (USD)", [_series(h, v, n, "cost_usd", band=False) for v in variants], fmt="usd"),
        dc.Panel("Tokens per sample (mean)", [_series(h, v, n, "mean_tokens", band=False) for v in variants],
                 fmt="num"),
        dc.Panel("Latency per sample: p50 (solid), p95 (dashed)",
                 [_series(h, v, n, "latency_p50_s", band=False) for v in variants]
                 + [dc.Series(f"{v} p95", _series(h, v, n, "latency_p95_s", band=False).values, dashed=True,
                              color=j) for j, v in enumerate(variants)], fmt="s"),
    ], labels, title="Cost, tokens and latency per night", ncols=3, panel_height=2.2, **common)
    for v in variants[:4]:
        hm = heatmap_frame(hist, v, nights=heatmap_nights)
        cases, _ = dash.flaky.get(v, (pd.DataFrame(), None))
        top = cases.loc[cases["flakiness"] >= FLAKY, "case"].head(8).tolist() if len(cases) else []
        cols = list(hm.columns) if len(hm) else []
        out[f"heatmap:{v}"] = dc.heatmap(hm.to_numpy(float) if len(hm) else np.empty((0, 0)), list(hm.index),
                                         [labels[int(c)] for c in cols],
                                         title=f"Found rate per case and night — {v} (last {len(cols)} nights; "
                                               f"◆ = flaky, ≥ {FLAKY:.0%})", marked_rows=top)
    return out


# --------------------------------------------------------------------------------------------- rendering

def _records(df: pd.DataFrame | None, limit: int | None = None) -> list[dict]:
    if df is None or df.empty:
        return []
    return (df.head(limit) if limit else df).to_dict("records")


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return str(path)


def context(dash: Dashboard, runs_root: Path) -> dict:
    """The template context of ``dashboard.html.j2``."""
    hist = dash.history
    labels = night_labels(hist)
    runs = []
    for i, e in enumerate(hist.runs):
        runs.append({"night": i + 1, "label": labels[i], "e": e, "run": e.run, "folder": _rel(e.path, runs_root),
                     "variants": [{"name": v["variant"], "recall": (v["metrics"]["recall"] or {}).get("value"),
                                   "n_samples": v["counts"]["n_samples"], "n_errors": v["counts"]["n_errors"],
                                   "cost": v["usage"]["cost_usd"],
                                   "not_graded": {o: n for o, n in (v.get("outcomes") or {}).items()
                                                  if o != "ok" and n}} for v in e.summary["variants"]]})
    latest_night = len(hist.runs) if hist.runs else None
    return {
        "dash": dash, "title": "Nightly quality dashboard", "runs_root": str(runs_root), "generated": utcnow(),
        "runs": runs, "recent": runs[-10:][::-1], "skipped": hist.skipped, "notes": hist.notes, "adhoc": hist.adhoc,
        "views": dash.views, "flaky": [{"variant": v, "cases": _records(c, 10),
                                        "flips": _records(f[f["flips"] > 0], 15),
                   "n_findings": len(f)} for v, (c, f) in dash.flaky.items()],
        "charts": dash.charts, "status": dash.status, "flaky_at": FLAKY, "latest_night": latest_night, "labels": labels,
        "baseline_night": None if dash.baseline_night is None else dash.baseline_night + 1,
        "heatmaps": [(k.split(":", 1)[1], svg) for k, svg in dash.charts.items() if k.startswith("heatmap:")],
    }


def render_dashboard(dash: Dashboard, *, runs_root: Path) -> str:
    """The self-contained HTML page."""
    return render_html("dashboard.html.j2", **context(dash, runs_root))


def cli(args: Any) -> int:
    """``harness dashboard [RUNS_ROOT] [--out DIR] [--baseline RUN]``: write the page, print what was read and
    skipped, the verdict against the baseline and the page's path. Returns 0 (bad input raises HarnessError)."""
    config = load_config(getattr(args, "root", None))
    runs_root = Path(args.runs_root) if getattr(args, "runs_root", None) else config.path(config.runs_root)
    dash = build_dashboard(runs_root, getattr(args, "out", None), baseline=getattr(args, "baseline", None),
                           config=config)
    report(dash)
    return ExitCode.OK


def report(dash: Dashboard, file=None) -> None:
    """Print the dashboard's outcome: runs read and skipped (with why), notes, verdict, page path."""
    file = file or sys.stdout
    h = dash.history
    print(f"dashboard: read {len(h.runs)} run(s) under {h.root}, skipped {len(h.skipped)}"
          + (f", left out {len(h.adhoc)} ad-hoc run(s) (harness run / pytest evals)" if h.adhoc else ""), file=file)
    for s in h.skipped:
        print(f"  skipped {s.path}: {s.reason}", file=file)
    for n in h.notes:
        print(f"  note: {n}", file=file)
    for w in dash.warnings:
        print(f"  warning: {w}", file=file)
    for v in dash.views:
        if v.verdict is not None:
            print(f"{v.variant}: {v.verdict.headline()}", file=file)
            for reason in v.verdict.reasons:
                print(f"  {'regression' if v.verdict.fail else 'inconclusive'}: {reason}", file=file)
            for n in v.verdict.notes:
                print(f"  note: {n}", file=file)
        elif v.verdict_error:
            print(f"{v.variant}: {v.verdict_error}", file=file)
        for r in v.regressions:
            if r.key != "recall":
                # a fraction in points, as every other figure of the line and the page ("-0.355" read as a count)
                d = f"{r.cmp.diff * 100:+.1f} pts" if r.fmt == "pct" else f"{r.cmp.diff:+.3g}"
                print(f"  also worse (shown, not gated; Holm-adjusted p = {r.cmp.p_adjusted:.3g}): {r.label} {d}",
                      file=file)
    nights = min(dash.window, len(dash.history.runs))   # "over the last 30 nights" after one night was wrong
    for fv, case, f in dash.flaky_cases:
        print(f"flaky: {case} ({fv}): flakiness {f:.0%} over the last {nights} night(s)", file=file)
    if dash.status == "no-baseline":
        print("no baseline pinned: pass --baseline RUN_DIR or set [tool.harness] baseline_run", file=file)
    print(dash.index, file=file)
