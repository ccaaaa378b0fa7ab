"""``harness report RUN_DIR``: the single-run report, as markdown (fits a PR comment) and one self-contained HTML
file, written to ``<reports_dir>/<run-id>/report.md`` and ``report.html`` (``--out DIR`` overrides the folder).

The report holds: headline recall, severity-weighted recall, critical/high misses, trap false-positive rate,
extra issues and errors, each with a 95 % interval clustered by case (the error rate too); recall per
category, severity and kind; a per-case table; per-finding found rates; cost, tokens and latency; grader
agreement when both deterministic and judge verdicts exist; and the run manifest.

Exit codes of :func:`cli`: 0 written; 2 bad input (not a run directory, invalid cases.json — raised as a
:class:`~harness.errors.HarnessError` and turned into 2 by :mod:`harness.cli`).
"""

from __future__ import annotations

import hashlib

import json
from urllib.parse import quote
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from ..cases import CATEGORIES, KINDS, SEVERITIES
from ..config import HarnessConfig, load_config
from ..exitcodes import ExitCode
from ..graders.registry import DEFAULT_GRADER, MODEL_GRADER, needs_model
from ..results import (Agreement, ResultsTable, VariantSummary, breakdown, grader_agreement, load_run,
                       outcome_counts, per_case, per_finding, per_trap, summarize)
from ..textio import atomic_write_text
from . import charts
from .html import render_html, render_md
from .samples import case_views

MAX_CASE_BARS = 60
ORDER = {"severity": list(SEVERITIES), "category": list(CATEGORIES), "kind": list(KINDS)}


@dataclass
class RunReport:
    """Everything a single-run report shows (frames from :mod:`harness.results`, plus charts as SVG strings)."""

    res: ResultsTable
    summaries: list[VariantSummary]
    per_finding: pd.DataFrame
    per_trap: pd.DataFrame
    per_case: pd.DataFrame
    breakdowns: dict[str, list[dict]]
    agreement: Agreement | None
    warnings: list[str]
    charts: dict[str, str] = field(default_factory=dict)
    calibration: str = ""   # the grader's last measured agreement with human labels (graders/record.py)


def ordered(values: Iterable[Any], by: str) -> list[Any]:
    """Group values in their natural order (severity critical→low, categories and kinds as in the case format),
    unknown values last, alphabetically."""
    order = ORDER.get(by, [])
    vals = list(dict.fromkeys(values))
    return sorted(vals, key=lambda v: (order.index(v) if v in order else len(order), str(v)))


def pivot_breakdown(pf: pd.DataFrame, by: str, variants: list[str]) -> list[dict]:
    """Recall per group as rows ``{group, cells: [{recall, lo, hi, n_findings, n_cases} per variant]}``."""
    bd = breakdown(pf, by)
    rows = []
    for grp in ordered(bd[by], by):
        cells = []
        for v in variants:
            m = bd[(bd[by] == grp) & (bd["variant"] == v)]
            cells.append(m.iloc[0].to_dict() if len(m) else {"recall": None, "lo": None, "hi": None,
                                                               "n_findings": 0, "n_cases": 0})
        rows.append({"group": grp, "cells": cells})
    return rows


def run_warnings(res: ResultsTable, summaries: list[VariantSummary]) -> list[str]:
    """Loud notes about a run: incomplete status, errored or ungraded samples, read problems."""
    out = []
    m = res.manifest
    if any(mi.provider == "local" for mi in m.models):
        out.append("reviews by the embedded local model (SmolLM2-135M): these scores show the harness working, "
                   "not the prompt's quality")
    for kept, others in (getattr(m, "prompt_aliases", None) or {}).items():
        out.append(f"prompt versions {', '.join([kept, *others])} have identical contents: they were run once, as "
                   f"{kept}; every difference between them is zero by construction")
    if m.status != "complete":
        out.append(f"run status is {m.status!r}" + (f" ({m.status_reason})" if m.status_reason else "") +
                   ": results may be partial")
    tg = truncated_graded(res)
    for s in summaries:
        if tg.get(s.variant):
            out.append(f"{s.variant}: {tg[s.variant]} graded reviews were cut at max_tokens (grade_truncated): their "
                       "recall under-states the full review's")
        if s.n_errors:
            oc = outcome_counts(res.samples).get(s.variant, {})
            kinds = ", ".join(f"{n} {o}" for o, n in oc.items() if o != "ok" and n)
            out.append(f"{s.variant}: {s.n_errors} of {s.n_samples} samples errored or gave no gradable review"
                       + (f" ({kinds})" if kinds else "") + "; they are excluded from quality metrics (not counted "
                       "as misses)")
        if s.n_grader_errors:
            out.append(f"{s.variant}: grading failed on {s.n_grader_errors} samples; excluded from quality metrics")
        if s.n_ungraded:
            out.append(f"{s.variant}: {s.n_ungraded} samples have no {res.grader!r} verdicts; excluded")
    return out + list(res.warnings)


def grader_calibration(config: HarnessConfig, res: ResultsTable):
    """The grader's recorded agreement with human labels, and warnings when it no longer applies to this run's
    grader or cases (:func:`harness.graders.record.calibration_status`)."""
    from ..config import find_root, load_config
    from ..graders.record import calibration_status
    fps = {cid: c.get("fingerprint", "") for cid, c in res.cases.items()}
    record = config.path(config.calibration_record)
    if not record.is_file() and res.path is not None:
        # a report made from outside the project: the record of the project the run lives in
        try:
            own = load_config(find_root(res.path))
            record = own.path(own.calibration_record)
        except Exception:  # noqa: BLE001 - no project around the run: the record stays missing
            pass
    return calibration_status(record, res.grader, case_fps=fps,
                              judge_model=config.judge_model if needs_model([res.grader]) else None)


def build_run_report(run_dir: str | Path, *, grader: str | None = None, config: HarnessConfig | None = None,
                     suite: Iterable[Any] | None = None, with_charts: bool = True) -> RunReport:
    """Load a run and compute everything the report shows.

    Args:
        run_dir: the run directory.
        grader: whose verdicts to score (default ``deterministic`` when present).
        config: settings (severity weights, reducer); default :func:`harness.config.load_config`.
        suite: loaded cases, used only when the run has no ``cases.json``.
        with_charts: render the SVG charts (the markdown report does not need them).
    Raises:
        RecordError: not a run directory / invalid cases.json.
    """
    config = config or load_config()
    res = load_run(run_dir, grader=grader, suite=suite, severity_weights=config.severity_weights,
                   reducer=config.reducer)
    pf, pt = per_finding(res), per_trap(res)
    pc = per_case(res, pf, pt)
    summaries = summarize(res, pf, pt)
    variants = [s.variant for s in summaries]
    bds = {by: pivot_breakdown(pf, by, variants) for by in ("category", "severity", "kind")}
    agreement = grader_agreement(res) if {DEFAULT_GRADER, MODEL_GRADER} <= set(res.graders_present) else None
    cal = grader_calibration(config, res)
    rep = RunReport(res=res, summaries=summaries, per_finding=pf, per_trap=pt, per_case=pc, breakdowns=bds,
                    agreement=agreement, warnings=run_warnings(res, summaries) + cal.stale, calibration=cal.text)
    if with_charts:
        rep.charts = run_charts(rep)
    return rep


def run_charts(rep: RunReport) -> dict[str, str]:
    """The report's charts as inline SVG: headline, recall per category and severity, per case, latency."""
    out: dict[str, str] = {}
    sums = rep.summaries
    metrics = [("recall", "recall"), ("weighted_recall", "severity-weighted recall"),
               ("trap_fp_rate", "trap false-positive rate")]
    out["headline"] = charts.bar_ci(
        [m[1] for m in metrics],
        {s.variant: ([getattr(s, k).value for k, _ in metrics], [getattr(s, k).lo for k, _ in metrics],
                     [getattr(s, k).hi for k, _ in metrics]) for s in sums},
        title="Headline metrics (95% CI, clustered by case)")
    for by in ("category", "severity"):
        rows = rep.breakdowns[by]
        out[by] = charts.bar_ci(
            [r["group"] for r in rows],
            {s.variant: ([r["cells"][i]["recall"] for r in rows], [r["cells"][i]["lo"] for r in rows],
                         [r["cells"][i]["hi"] for r in rows]) for i, s in enumerate(sums)},
            title=f"Recall by {by} (95% CI)")
    pc = rep.per_case[rep.per_case["n_findings"] > 0] if len(rep.per_case) else rep.per_case
    cases = list(dict.fromkeys(pc["case"])) if len(pc) else []
    title = "Recall per case (mean over epochs)"
    if len(cases) > MAX_CASE_BARS:
        worst = pc.groupby("case")["recall"].min().sort_values(kind="stable")
        cases = [c for c in cases if c in set(worst.index[:MAX_CASE_BARS])]
        title = f"Recall per case: the {MAX_CASE_BARS} lowest of {len(worst)} cases"
    out["cases"] = charts.bar_ci(
        cases, {v: ([_cell(pc, v, c, "recall") for c in cases], [float("nan")] * len(cases),
                    [float("nan")] * len(cases)) for v in (s.variant for s in sums)}, title=title)
    out["latency"] = charts.histogram(
        {v: g["latency_s"].tolist() for v, g in rep.res.samples.groupby("variant", sort=False)}
        if len(rep.res.samples) else {}, title="Latency per sample", xlabel="seconds")
    return out


def _cell(df: pd.DataFrame, variant: str, case: str, col: str) -> float:
    m = df[(df["variant"] == variant) & (df["case"] == case)]
    return float(m[col].iloc[0]) if len(m) else float("nan")


def _records(df: pd.DataFrame) -> list[dict]:
    return [] if df is None or df.empty else df.to_dict("records")


def context(rep: RunReport, *, samples: bool = False, cases: Iterable[str] | None = None) -> dict:
    """The template context shared by the markdown and HTML templates; ``samples`` adds the sample view
    (:func:`harness.report.samples.case_views`, HTML only: it reads every review), limited to ``cases`` (then
    with every sample of them) when given."""
    m = rep.res.manifest
    pf = rep.per_finding.sort_values(["score", "case", "finding"], kind="stable") if len(rep.per_finding) else \
        rep.per_finding
    views = case_views(rep.res, cases=cases) if samples else []
    return {
        "cases_view": views, "case_anchor": {cv["case"]: f"case-{i}" for i, cv in enumerate(views)},
        "rep": rep, "m": m, "res": rep.res, "summaries": rep.summaries, "warnings": rep.warnings,
        "variants": [s.variant for s in rep.summaries], "breakdowns": rep.breakdowns,
        "per_case": _records(rep.per_case), "per_finding": _records(pf), "per_trap": _records(rep.per_trap),
        "agreement": rep.agreement, "calibration": rep.calibration,
        "agreement_rows": _records(rep.agreement.per_finding) if rep.agreement else [],
        "disagreements": _records(rep.agreement.disagreements) if rep.agreement else [],
        "charts": rep.charts, "manifest_json": json.dumps(m.model_dump(mode="json"), indent=2, ensure_ascii=False),
        "title": f"Eval report — {m.run_id}",
        "outcomes": outcome_counts(rep.res.samples), "truncated_graded": truncated_graded(rep.res),
    }


def truncated_graded(res: ResultsTable) -> dict[str, int]:
    """``{variant: n}`` of samples cut at max_tokens that were graded anyway (``grade_truncated``): flagged in
    the report, since their recall under-states what the full review would have found."""
    s = res.samples
    if s is None or s.empty or "outcome" not in s:
        return {}
    t = s[(s["outcome"] == "truncated") & (s["status"] != "error")]
    return {str(v): int(n) for v, n in t.groupby("variant", sort=False).size().items() if n}


def render_markdown(rep: RunReport, html_name: str = "report.html") -> str:
    """The markdown report (≤ 60,000 characters: fits a GitHub PR comment)."""
    return render_md("report.md.j2", html_name=quote(html_name), **context(rep))


def render_report_html(rep: RunReport, cases: Iterable[str] | None = None) -> str:
    """The self-contained HTML report (inline CSS, SVG charts and one hashed sorting script; CSP forbids loads).
    ``cases``: the sample view shows only these cases, every sample of them."""
    return render_html("report.html.j2", **context(rep, samples=True, cases=cases))


def default_out_dir(config: HarnessConfig, run: str | Path) -> Path:
    """Where a run's report goes: ``<reports_dir>/<run folder name>/``.

    Named by the run folder, not by the run id inside run.json (a copied run keeps the id). When that folder
    already holds the report of another run folder with the same name (``/tmp/a/x`` and ``/tmp/b/x``), the
    name gets a short hash of the run's absolute path, so one run's report never overwrites another's. The
    owner is recorded in ``.run-path`` beside the report."""
    p = Path(run)
    base = config.path(config.reports_dir)
    if not p.is_dir():
        return base / str(run)
    src = str(p.resolve())
    out = base / p.name
    marker = out / ".run-path"
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() != src:
        out = base / f"{p.name}-{hashlib.sha256(src.encode()).hexdigest()[:8]}"
    return out


def write_report(rep: RunReport, out: str | Path | None = None, *, config: HarnessConfig | None = None,
                 cases: Iterable[str] | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html``; returns their paths.

    ``out`` is a folder (created), or a path ending in ``.md``/``.html`` whose folder and stem are used.
    ``cases``: the HTML sample view shows only these cases, every sample of them.
    """
    config = config or load_config()
    folder, stem = out_paths(out, default_out_dir(config, rep.res.path), "report")
    md, html = folder / f"{stem}.md", folder / f"{stem}.html"
    if out is None:
        atomic_write_text(folder / ".run-path", str(Path(rep.res.path).resolve()) + "\n")
    atomic_write_text(md, render_markdown(rep, html.name))
    atomic_write_text(html, render_report_html(rep, cases))
    return md, html


def out_paths(out: str | Path | None, default: Path, stem: str) -> tuple[Path, str]:
    """Resolve ``--out``: None → (default, stem); ``x/name.md|.html`` → (x, name); else (out, stem)."""
    if out is None:
        return default, stem
    p = Path(out)
    if p.suffix.lower() in (".md", ".html", ".htm"):
        return p.parent, p.stem
    return p, stem


def variant_stem(grader: str | None, cases: Iterable[str] | None) -> str:
    """The file stem of a report limited by ``--grader`` / ``--case`` (``report-grader-judge``,
    ``report-case-a-b``): beside the run's main ``report.md``/``.html``, never over it, since the run's output and
    the comparisons link to that one. Many or long case ids are shortened to a hash of them."""
    import re
    stem = "report"
    if grader:
        stem += f"-grader-{grader}"
    ids = sorted(dict.fromkeys(cases or []))
    if ids:
        joined = "-".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", c) for c in ids)
        if len(ids) > 3 or len(joined) > 80:
            joined = f"{len(ids)}-cases-{hashlib.sha256(chr(0).join(ids).encode()).hexdigest()[:10]}"
        stem += f"-case-{joined}"
    return stem


def graders_with_verdicts(res: ResultsTable) -> dict[str, int]:
    """``{grader: samples it graded without error}`` over the run's records, in first-seen order."""
    out: dict[str, int] = {}
    for r in res.records:
        for g, grade in r.grades.items():
            out[g] = out.get(g, 0) + (0 if grade.error else 1)
    return out


def cli(args: Any) -> int:
    """``harness report RUN_DIR [--out DIR] [--case ID ...] [--grader G]``: write the reports and print their
    paths. Returns 0. Without ``--out``, a report limited by ``--case`` or ``--grader`` is written beside the run's
    main report under its own name (:func:`variant_stem`), never over it. Bad input (HarnessError, exit 2): an
    unknown ``--case``, a ``--grader`` with no verdict in the run (the message names the graders it has)."""
    from ..errors import HarnessError
    config = load_config(getattr(args, "root", None))
    grader = getattr(args, "grader", None)
    rep = build_run_report(args.run_dir, grader=grader, config=config)
    cases = getattr(args, "cases", None)
    if grader:
        have = graders_with_verdicts(rep.res)
        if not have.get(grader):
            has = ", ".join(f"{g} ({n} samples)" for g, n in have.items() if n) or "none"
            why = (f"every {grader} grade of the run is a grading error" if grader in have
                   else f"no sample of the run has {grader} verdicts")
            model = " --judge-model M" if needs_model([grader]) else ""
            raise HarnessError(f"--grader {grader}: {why}; graders with verdicts in it: {has}. Grade it with "
                               f"`harness grade {rep.res.path} --grader {grader}{model}`", file=rep.res.path)
    if cases:
        unknown = sorted(set(cases) - {r.case for r in rep.res.records})
        if unknown:
            raise HarnessError(f"--case: no sample of {', '.join(unknown)} in this run", file=rep.res.path)
    out = getattr(args, "out", None)
    if out is None and (cases or grader):
        out = default_out_dir(config, rep.res.path) / f"{variant_stem(grader, cases)}.md"
    md, html = write_report(rep, out, config=config, cases=cases)
    for w in rep.warnings:
        print(f"warning: {w}")
    print(md)
    print(html)
    return ExitCode.OK
