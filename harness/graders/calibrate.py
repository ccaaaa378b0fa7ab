"""Measure a grader against human labels: ``harness calibrate [PATH] [--grader deterministic|judge] [--json FILE]``.

A calibration folder holds case folders (``case.yaml`` + artifacts, see CASE_FORMAT.md), each with
``reviews/r*.md`` and ``labels.yaml`` (LABELS_FORMAT.md): a careful human's verdict on every finding and trap of
every review. :func:`calibrate` grades every review and compares, pair by pair:

* finding-level agreement: share of (review, finding) pairs where grader and human agree (found / missed);
* Cohen's kappa over those pairs (chance-corrected agreement, Cohen 1960);
* the grader's precision and recall, taking the human verdict as the truth;
* trap agreement: share of (review, trap) pairs where grader and human agree (flagged / not flagged);
* the same figures per review style (r1 thorough, r2 other language, r3 hurried, r4 checklist, r5 over-cautious),
  per review language and per case, the mean absolute error of ``extra_issues``, and every disagreement with
  the grader's evidence.

Reference: J. Cohen, "A coefficient of agreement for nominal scales", Educational and Psychological Measurement
20(1):37-46, 1960.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..cases import load_case
from ..errors import HarnessError
from ..stats import cohen_kappa

__all__ = ["calibrate", "cohen_kappa", "agreement_stats", "cli", "STYLES"]

STYLES = {"r1": "thorough", "r2": "other language", "r3": "hurried", "r4": "checklist", "r5": "over-cautious"}


def agreement_stats(human: list[bool], grader: list[bool]) -> dict[str, Any]:
    """Agreement figures of a grader against a human over paired binary verdicts.

    Returns:
        ``{"pairs", "agreement", "kappa", "precision", "recall", "tp", "fp", "fn", "tn"}``; precision (recall)
        is None when the grader (human) says yes nowhere; agreement and kappa are None for no pairs.
    """
    h = np.asarray(human, dtype=bool)
    g = np.asarray(grader, dtype=bool)
    tp = int(np.sum(h & g))
    fp = int(np.sum(~h & g))
    fn = int(np.sum(h & ~g))
    tn = int(np.sum(~h & ~g))
    n = int(h.size)
    return {
        "pairs": n,
        "agreement": (tp + tn) / n if n else None,
        "kappa": cohen_kappa(h, g) if n else None,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
    }


def _make_grader(name: str, judge_model: str | None = None):
    if name == "deterministic":
        from .rubric import DeterministicGrader
        return DeterministicGrader()
    if name == "judge":
        try:
            mod = importlib.import_module("harness.graders.judge")
            cls = getattr(mod, "JudgeGrader")
        except (ImportError, AttributeError):
            raise HarnessError("the judge grader is not available (harness.graders.judge.JudgeGrader is "
                               "missing); use --grader deterministic", field="--grader") from None
        cfg = None
        try:
            from ..config import load_config
            cfg = load_config()
        except HarnessError:
            cfg = None
        model = judge_model or (cfg.judge_model if cfg is not None else None)
        if not model:
            raise HarnessError("the judge grader needs a model: pass --judge-model or set [tool.harness] "
                               "judge_model", field="--judge-model")
        return cls(model, cfg=cfg)
    raise HarnessError(f"unknown grader {name!r}; expected deterministic or judge", field="--grader")


def _review_sort_key(p: Path):
    m = re.match(r"r(\d+)", p.stem)
    return (int(m.group(1)) if m else 10**6, p.name)


def calibrate(path: str | Path, grader, *, suite: dict | None = None) -> dict[str, Any]:
    """Grade every ``reviews/r*.md`` of every case folder under ``path`` and compare with ``labels.yaml``.

    Args:
        path: a calibration folder (or one case folder) holding case folders with reviews and labels.
        grader: an object with ``name`` and ``grade(case, review) -> SampleGrade``, or a grader name
            (``"deterministic"`` / ``"judge"``).
        suite: cases by id, for labelled folders without their own case.yaml (a held-out set of reviews of
            the project's own cases names its case in labels.yaml ``case:``).
    Returns:
        a dict with ``path``, ``grader``, ``reviews`` (count), ``pairs``, ``finding_agreement``, ``kappa``,
        ``precision``, ``recall``, ``trap_pairs``, ``trap_agreement``, ``extra_issues_mae``, ``by_style``,
        ``by_language``, ``by_case`` (each ``{finding_agreement, kappa, precision, recall, trap_agreement,
        reviews, ...}``), ``disagreements`` (list of ``{case, review, style, language, kind, id, human, grader,
        evidence, reason}``) and ``errors`` (reviews the grader could not grade; excluded from the figures).
    Raises:
        HarnessError: the folder does not exist, holds no labelled case, or a labels.yaml is malformed.
    """
    root = Path(path)
    if not root.exists():
        raise HarnessError("calibration folder does not exist", file=root)
    if isinstance(grader, str):
        grader = _make_grader(grader)
    dirs = sorted({p.parent for p in ([root / "labels.yaml"] if (root / "labels.yaml").is_file()
                                      else root.rglob("labels.yaml"))})
    if not dirs:
        raise HarnessError("no case folder with labels.yaml found; expected <case>/case.yaml, labels.yaml and "
                           "reviews/r*.md", file=root)
    rows: list[dict] = []       # one per (review, finding)
    trows: list[dict] = []      # one per (review, trap)
    extra_err: list[float] = []
    disagreements: list[dict] = []
    errors: list[dict] = []
    n_reviews = 0
    for d in dirs:
        labels_file = d / "labels.yaml"
        try:
            labels = yaml.safe_load(labels_file.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError, ValueError) as e:
            raise HarnessError(f"malformed labels: {e}", file=labels_file) from None
        if (d / "case.yaml").is_file():
            case = load_case(d)
        else:
            cid = labels.get("case") if isinstance(labels, dict) else None
            if not suite or cid not in suite:
                raise HarnessError(f"no case.yaml beside the labels, and case {cid!r} is not in the suite",
                                   file=labels_file, field="case")
            case = suite[cid]
        reviews = labels.get("reviews") if isinstance(labels, dict) else None
        if not isinstance(reviews, dict):
            raise HarnessError("expected a 'reviews' mapping of review file -> verdicts", file=labels_file,
                               field="reviews")
        finding_ids = [f.id for f in case.findings]
        trap_ids = [t.id for t in case.traps]
        for rf in sorted((d / "reviews").glob("r*.md"), key=_review_sort_key):
            lab = reviews.get(rf.name)
            if lab is None:
                continue
            if not isinstance(lab, dict):
                raise HarnessError("expected a mapping with language, found, traps_flagged", file=labels_file,
                                   field=f"reviews.{rf.name}")
            style = re.match(r"(r\d+)", rf.stem).group(1) if re.match(r"r\d+", rf.stem) else rf.stem
            lang = str(lab.get("language", "?"))
            found_h = set(lab.get("found") or [])
            flagged_h = set(lab.get("traps_flagged") or [])
            for unknown in (found_h - set(finding_ids)) | (flagged_h - set(trap_ids)):
                raise HarnessError(f"unknown id {unknown!r}; expected one of the case's finding/trap ids",
                                   file=labels_file, field=f"reviews.{rf.name}")
            text = rf.read_text(encoding="utf-8", errors="replace")
            sg = grader.grade(case, text)
            if sg.error:
                errors.append({"case": case.id, "review": rf.name, "error": sg.error})
                continue
            n_reviews += 1
            base = {"case": case.id, "review": rf.name, "style": style, "language": lang}
            for kind, ids, verdicts, attr, human_ids, out in (
                    ("finding", finding_ids, sg.findings, "found", found_h, rows),
                    ("trap", trap_ids, sg.traps, "flagged", flagged_h, trows)):
                by_id = {v.id: v for v in verdicts}
                for item_id in ids:
                    v = by_id.get(item_id)
                    g = bool(v and getattr(v, attr))
                    h = item_id in human_ids
                    out.append({**base, "id": item_id, "human": h, "grader": g})
                    if g != h:
                        disagreements.append({**base, "kind": kind, "id": item_id, "human": h, "grader": g,
                                              "evidence": _evidence(v), "reason": v.reason if v else ""})
            if sg.extra_issues is not None and isinstance(lab.get("extra_issues"), int):
                extra_err.append(abs(sg.extra_issues - lab["extra_issues"]))

    def summary(rs: list[dict], ts: list[dict]) -> dict[str, Any]:
        st = agreement_stats([r["human"] for r in rs], [r["grader"] for r in rs])
        tt = agreement_stats([r["human"] for r in ts], [r["grader"] for r in ts])
        reviews = {(r["case"], r["review"]) for r in rs} | {(r["case"], r["review"]) for r in ts}
        return {"reviews": len(reviews), "pairs": st["pairs"], "finding_agreement": st["agreement"],
                "kappa": st["kappa"], "precision": st["precision"], "recall": st["recall"],
                "confusion": {k: st[k] for k in ("tp", "fp", "fn", "tn")},
                "trap_pairs": tt["pairs"], "trap_agreement": tt["agreement"],
                "traps_flagged_human": sum(r["human"] for r in ts),
                "traps_flagged_grader": sum(r["grader"] for r in ts)}

    def group(key: str) -> dict[str, dict]:
        keys = sorted({r[key] for r in rows} | {r[key] for r in trows})
        out = {}
        for k in keys:
            out[k] = summary([r for r in rows if r[key] == k], [r for r in trows if r[key] == k])
            if key == "style":
                out[k]["label"] = STYLES.get(k, k)
        return out

    overall = summary(rows, trows)
    return {
        "path": str(root),
        "grader": getattr(grader, "name", type(grader).__name__),
        **overall,
        "extra_issues_mae": float(np.mean(extra_err)) if extra_err else None,
        "by_style": group("style"),
        "by_language": group("language"),
        "by_case": group("case"),
        "disagreements": disagreements,
        "errors": errors,
    }


def _evidence(v) -> str:
    if v is None or v.evidence is None:
        return ""
    item = v.evidence.item
    return (f"item {item}: " if item is not None else "") + v.evidence.quote


def _fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return "nan" if x != x else f"{x:.3f}"
    return str(x)


def print_report(res: dict[str, Any], console=None) -> None:
    """Print a calibration result (from :func:`calibrate`) with rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    console.print(f"[bold]Calibration[/bold] of grader [cyan]{res['grader']}[/cyan] on {res['path']}: "
                  f"{res['reviews']} reviews, {res['pairs']} finding pairs, {res['trap_pairs']} trap pairs")
    t = Table(title="Agreement with the human labels")
    for col in ("slice", "reviews", "finding agr.", "kappa", "precision", "recall", "trap agr."):
        t.add_column(col, justify="right" if col != "slice" else "left")

    def row(name: str, s: dict) -> None:
        t.add_row(name, _fmt(s["reviews"]), _fmt(s["finding_agreement"]), _fmt(s["kappa"]),
                  _fmt(s["precision"]), _fmt(s["recall"]), _fmt(s["trap_agreement"]))

    row("[bold]overall[/bold]", res)
    for k, s in res["by_style"].items():
        row(f"style {k} ({s.get('label', k)})", s)
    for k, s in res["by_language"].items():
        row(f"language {k}", s)
    for k, s in res["by_case"].items():
        row(f"case {k}", s)
    console.print(t)
    console.print("kappa is 0 for a slice where one rater gives the same verdict on every pair (no variance to "
                  "agree on beyond chance); read the agreement there.", style="dim")
    if res.get("extra_issues_mae") is not None:
        console.print(f"extra_issues: mean absolute error {res['extra_issues_mae']:.2f} per review")
    if res["disagreements"]:
        d = Table(title=f"Disagreements ({len(res['disagreements'])})", show_lines=True)
        for col in ("case", "review", "kind", "id", "human", "grader", "evidence"):
            d.add_column(col, overflow="fold")
        for x in res["disagreements"]:
            d.add_row(x["case"], x["review"], x["kind"], x["id"], _yn(x["human"], x["kind"]),
                      _yn(x["grader"], x["kind"]), (x["reason"] + "\n" if x["reason"] else "") + x["evidence"])
        console.print(d)
    for e in res.get("errors", []):
        console.print(f"[red]grading error[/red] {e['case']}/{e['review']}: {e['error']}")


def _yn(v: bool, kind: str) -> str:
    if kind == "trap":
        return "flagged" if v else "not flagged"
    return "found" if v else "missed"


def cli(args) -> int:
    """``harness calibrate``: args.path (default ../shared/calibration, relative to the project root),
    args.grader (deterministic | judge), args.judge_model (optional), args.json_out (optional file).

    Returns:
        0. Raises HarnessError (exit code 2) for a missing folder, missing labels or an unavailable judge.
    """
    from ..config import find_root
    from ..textio import atomic_write_json

    raw = getattr(args, "path", None) or "../shared/calibration"
    p = Path(raw)
    if not p.is_absolute():
        root = Path(getattr(args, "root", None) or find_root("."))
        cand = (root / p).resolve()
        p = cand if cand.exists() or not p.exists() else p.resolve()
    grader = _make_grader(getattr(args, "grader", None) or "deterministic", getattr(args, "judge_model", None))
    suite = None
    if not (p / "case.yaml").is_file() and not any(p.rglob("case.yaml")):
        from ..cases import load_suite
        from ..config import load_config
        cfg = load_config(getattr(args, "root", None))
        suite = {c.id: c for c in load_suite(cfg.path(cfg.cases_dir), max_file_bytes=cfg.max_file_bytes)}
    res = calibrate(p, grader, suite=suite)
    print_report(res)
    out = getattr(args, "json_out", None)
    if out:
        atomic_write_json(out, res)
    return 0
