"""The results table: a run directory turned into pandas frames, per-case reductions and suite metrics.

Frames (built by :func:`load_run`, one call reads the run once):

* ``findings`` — one row per (sample, expected finding): run, sample_id, prompt_version, prompt_fingerprint,
  model, variant, case, kind, tags, epoch, finding, title, severity, category, cwe, weight, status, found
  (nullable boolean; NA unless ``status == "ok"``), evidence, supported.
* ``traps`` — one row per (sample, trap): the same keys, trap, title, status, flagged.
* ``samples`` — one row per sample: keys, status, outcome (ok/truncated/refused/empty/error, harness.outcomes),
  error, grader_error, n_findings, n_found, recall, weighted_recall, critical_high_missed, n_traps,
  n_traps_flagged, traps_flagged, trap_fp_rate, extra_issues, input_tokens, output_tokens, cache_write_tokens,
  cache_read_tokens, total_tokens, cost_usd (USD: the answer plus the judge's calls on it), judge_cost_usd,
  latency_s (seconds), cached, retries, stop_reason, review.

``status`` is ``ok``, ``error`` (the model call failed: record.error), ``grader_error`` (the grader failed) or
``ungraded`` (no verdicts from the chosen grader). Only ``ok`` samples enter quality metrics; the others are
counted separately — an errored sample is never scored as a review that found nothing.

Case metadata (severity, category of each finding) comes from ``cases.json`` in the run directory (written by the
runner and by :func:`harness.testing.synthetic.write_synthetic_run`; format in :func:`case_payload`), else from the
suite's :class:`~harness.cases.Case` objects when given, else from the verdicts alone (severity and category
``unknown``, weight 1).

Metrics and their units (all proportions are fractions 0..1):

* recall — mean over findings of the finding's score over epochs (the *reducer*: ``mean`` = found rate,
  ``pass@k`` = found in any epoch, ``majority`` = found in more than half). Clean cases (no findings) have
  undefined recall (NaN) and do not enter it.
* severity-weighted recall — the same with each finding weighted by ``severity_weights`` (default critical 4,
  high 3, medium 2, low 1).
* critical/high missed — expected number of critical and high findings a review pass misses (Σ (1 − score)).
* trap false-positive rate — mean over traps of the trap's flagged score over epochs (same reducer).
* extra issues — mean count of review items matched to no finding, per successful sample.

Suite intervals are clustered by case (:mod:`harness.stats`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .casemeta import CASES_JSON, case_payload, read_cases_json, request_language, write_cases_json  # noqa: F401
from .errors import HarnessError
from .graders.registry import DEFAULT_GRADER, MODEL_GRADER, NAMES
from .outcomes import OUTCOMES, outcome_of
from .records import RunDir, RunManifest, SampleRecord
from .stats import NAN_ESTIMATE, Estimate, clustered_mean, cohen_kappa, reduce_counts, wilson
DEFAULT_WEIGHTS: dict[str, float] = {"critical": 4, "high": 3, "medium": 2, "low": 1}
GRADERS = NAMES   # the registered graders (harness.graders.registry)
KEYS = ["run", "sample_id", "prompt_version", "prompt_fingerprint", "model", "variant", "case", "kind", "tags",
        "epoch"]
OK, ERROR, GRADER_ERROR, UNGRADED = "ok", "error", "grader_error", "ungraded"


# --------------------------------------------------------------------------------------------- case metadata
# (in harness.casemeta, which a run imports without pandas; re-exported here for the readers of results)

# ------------------------------------------------------------------------------------------------- loading

@dataclass
class ResultsTable:
    """A loaded run: manifest, case metadata, the three frames, and what was odd about it.

    ``grader`` is the grader whose verdicts fill ``found``/``flagged``; ``graders_present`` lists every grader
    with verdicts in the run; ``records`` keeps the raw records (for review excerpts and grader agreement).
    """

    path: Path
    manifest: RunManifest
    grader: str
    reducer: str
    severity_weights: dict[str, float]
    cases: dict[str, dict]
    findings: pd.DataFrame
    traps: pd.DataFrame
    samples: pd.DataFrame
    records: list[SampleRecord]
    graders_present: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _reviews: dict[str, str | None] | None = field(default=None, repr=False)

    pooled: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    @property
    def epochs_per_run(self) -> int:
        """Reviews per case in one run (the manifest's epochs): the k of pass@k and majority, also for a baseline
        pooled over several runs (:func:`pool_results`)."""
        return max(1, int(self.manifest.epochs or 1))

    @property
    def variants(self) -> list[str]:
        return list(dict.fromkeys(self.samples["variant"])) if len(self.samples) else []

    def review(self, sample_id: str) -> str | None:
        """The review text of a sample (None for an errored sample or an unknown id)."""
        if self._reviews is None:
            self._reviews = {r.sample_id: r.review for r in self.records}
        return self._reviews.get(sample_id)


def variant_label(prompt_version: str, model: str) -> str:
    """How a (prompt version, model) pair is named in tables: ``v1 · anthropic/claude-sonnet-4-5``."""
    return f"{prompt_version} · {model}"


def _choose_grader(records: list[SampleRecord], grader: str | None) -> tuple[str, list[str]]:
    present = list(dict.fromkeys(g for r in records for g in r.grades))
    if grader:
        return grader, present
    for g in (DEFAULT_GRADER, *present):
        if g in present:
            return g, present
    return DEFAULT_GRADER, present


def _status(rec: SampleRecord, grader: str) -> tuple[str, str | None]:
    if rec.error is not None:
        return ERROR, None
    g = rec.grades.get(grader)
    if g is None:
        return UNGRADED, None
    if g.error:
        return GRADER_ERROR, g.error
    return OK, None


def outcome_counts(samples: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``{variant: {outcome: n}}`` over the samples table (every outcome of :data:`harness.outcomes.OUTCOMES`,
    zeros included): how many samples were ok, truncated, refused, empty or errored."""
    out: dict[str, dict[str, int]] = {}
    if samples is None or samples.empty or "outcome" not in samples:
        return out
    for v, g in samples.groupby("variant", sort=False):
        c = g["outcome"].value_counts()
        out[str(v)] = {o: int(c.get(o, 0)) for o in OUTCOMES}
    return out


def _sample_cost(rec: SampleRecord) -> float:
    """USD: the answer's cost plus grading spend (judge calls); NaN when neither has a price."""
    judge = [g.cost_usd for g in rec.grades.values() if g.cost_usd is not None and g.calls]
    if rec.cost_usd is None and not judge:
        return np.nan
    return (rec.cost_usd or 0.0) + sum(judge)


def _fallback_meta(rec: SampleRecord) -> dict:
    findings, traps = [], []
    for g in rec.grades.values():
        findings += [{"id": v.id, "title": v.id, "severity": "unknown", "category": "unknown"} for v in g.findings]
        traps += [{"id": v.id, "title": v.id} for v in g.traps]
    return {"id": rec.case, "kind": rec.kind, "tags": rec.tags, "title": rec.case,
            "findings": list({f["id"]: f for f in findings}.values()),
            "traps": list({t["id"]: t for t in traps}.values())}


def load_run(run_dir: str | Path, *, grader: str | None = None, suite: Iterable[Any] | None = None,
             severity_weights: Mapping[str, float] | None = None, reducer: str = "mean") -> ResultsTable:
    """Read a run directory into frames.

    Args:
        run_dir: a run directory (``run.json`` + ``samples.jsonl`` [+ ``cases.json``]).
        grader: whose verdicts to use: ``deterministic`` (default when present), ``judge``...; None picks
            ``deterministic`` if any record has it, else the first grader present.
        suite: optional loaded cases (:class:`harness.cases.Case`) used when ``cases.json`` is absent.
        severity_weights: weight per severity (default critical 4, high 3, medium 2, low 1); unknown severities
            weigh 1.
        reducer: how epochs reduce per finding/trap: ``mean`` | ``pass@k`` | ``majority``.
    Returns:
        A :class:`ResultsTable`.
    Raises:
        RecordError: not a run directory, or an invalid ``cases.json``.
        HarnessError: unknown reducer.
    """
    if reducer not in ("mean", "pass@k", "majority"):
        raise HarnessError(f"unknown reducer {reducer!r}; expected mean, pass@k or majority", field="reducer")
    rd = RunDir.open(run_dir)
    read = rd.read_samples()
    warnings: list[str] = read.damage()
    records = sorted(read.records, key=lambda r: (r.prompt_version, r.model, r.case, r.epoch))
    gap = missing_records(rd.manifest, records)
    if gap:
        warnings.insert(0, gap)
    weights = dict(DEFAULT_WEIGHTS)
    weights.update(severity_weights or {})
    meta = read_cases_json(rd.path)
    if meta is None and suite is not None:
        meta = {c.id: case_payload(c) for c in suite}
    if meta is None:
        warnings.append(f"no {CASES_JSON} in the run and no suite given: severity and category are unknown")
        meta = {}
        for r in records:
            meta.setdefault(r.case, _fallback_meta(r))
    return results_from_records(records, meta, grader=grader, reducer=reducer, severity_weights=weights,
                                path=rd.path, manifest=rd.manifest, warnings=warnings)


def missing_records(manifest: RunManifest, records: list[SampleRecord]) -> str | None:
    """Why a run that says it is complete is not: its samples.jsonl holds no record, or fewer samples than its
    run.json ``summary.recorded`` counted (the file was emptied, truncated or replaced since). None when the run
    does not claim to be complete or its records are all there. The reports warn with it and a comparison treats
    such a candidate as incomplete (:attr:`harness.report.compare.Comparison.complete`)."""
    if manifest.status != "complete":
        return None
    have = len({r.sample_id for r in records})
    said = (manifest.summary or {}).get("recorded")
    if have == 0:
        return ("run.json says 'complete' but samples.jsonl holds no sample record: the records are missing, "
                "nothing here can be scored" + (f" (run.json counted {said})" if said else ""))
    if isinstance(said, int) and have < said:
        return (f"run.json says 'complete' with {said} samples recorded, but samples.jsonl holds {have}: records are "
                "missing, results are partial")
    return None


def results_from_records(records: list[SampleRecord], meta: Mapping[str, dict], *, grader: str | None = None,
                         reducer: str = "mean", severity_weights: Mapping[str, float] | None = None,
                         path: Path | None = None, manifest: RunManifest | None = None,
                         warnings: list[str] | None = None) -> ResultsTable:
    """The results table of sample records already in memory (what :func:`load_run` does after reading a run
    directory). ``meta``: case metadata by id (:func:`case_payload`); ``manifest``: None makes a stub (run id
    ``in-memory``, epochs = the largest epoch count of a case). Same frames, same reducer, same statuses as
    :func:`load_run`; used by the per-case pass rule (:mod:`harness.verdicts`) so ``pytest evals`` and the reports
    read one table.

    Raises:
        HarnessError: unknown reducer.
    """
    if reducer not in ("mean", "pass@k", "majority"):
        raise HarnessError(f"unknown reducer {reducer!r}; expected mean, pass@k or majority", field="reducer")
    warnings = list(warnings or [])
    weights = dict(DEFAULT_WEIGHTS)
    weights.update(severity_weights or {})
    meta = dict(meta)
    if manifest is None:
        per_case: dict[tuple, int] = {}
        for r in records:
            per_case[(r.case, r.prompt_fingerprint, r.model)] = per_case.get((r.case, r.prompt_fingerprint,
                                                                               r.model), 0) + 1
        manifest = RunManifest(run_id="in-memory", epochs=max(per_case.values(), default=1))
    path = Path(path) if path is not None else Path(".")
    chosen, present = _choose_grader(records, grader)
    if records and chosen not in present:
        warnings.append(f"no sample has verdicts from grader {chosen!r} (present: {', '.join(present) or 'none'})")

    frows, trows, srows = [], [], []
    run_id = manifest.run_id
    missing_cases: set[str] = set()
    for rec in records:
        cmeta = meta.get(rec.case)
        if cmeta is None:
            missing_cases.add(rec.case)
            cmeta = _fallback_meta(rec)
        status, gerr = _status(rec, chosen)
        grade = rec.grades.get(chosen) if status == OK else None
        if grade is not None:
            # a degraded grader says so on every grade; the report says it once per run
            warnings.extend(w for w in grade.warnings if w.startswith("semantic grading stage"))
        fverd = {v.id: v for v in grade.findings} if grade else {}
        tverd = {v.id: v for v in grade.traps} if grade else {}
        key = {"run": run_id, "sample_id": rec.sample_id, "prompt_version": rec.prompt_version,
               "prompt_fingerprint": rec.prompt_fingerprint, "model": rec.model,
               "variant": variant_label(rec.prompt_version, rec.model), "case": rec.case,
               "kind": rec.kind or cmeta.get("kind", ""), "tags": ",".join(rec.tags or cmeta.get("tags", [])),
               "epoch": rec.epoch}
        n_found = wsum = wfound = ch_missed = 0.0
        for f in cmeta["findings"]:
            sev = f.get("severity", "unknown")
            w = float(weights.get(sev, 1.0))
            v = fverd.get(f["id"])
            found = None if v is None else bool(v.found)
            if status == OK and v is None:
                warnings.append(f"sample {rec.sample_id} ({rec.case} epoch {rec.epoch}): no verdict on finding "
                                f"{f['id']!r}")
            frows.append({**key, "finding": f["id"], "title": f.get("title", f["id"]), "severity": sev,
                          "category": f.get("category", "unknown"), "cwe": f.get("cwe"), "weight": w,
                          "status": status, "found": found,
                          "evidence": (v.evidence.quote if v is not None and v.evidence else ""),
                          "supported": (v.supported if v is not None else None)})
            if found is not None:
                n_found += found
                wsum += w
                wfound += w * found
                ch_missed += (not found) and sev in ("critical", "high")
        flagged = []
        for t in cmeta["traps"]:
            tv = tverd.get(t["id"])
            fl = None if tv is None else bool(tv.flagged)
            trows.append({**key, "trap": t["id"], "title": t.get("title", t["id"]), "status": status, "flagged": fl})
            if fl:
                flagged.append(t["id"])
        nf, nt = len(cmeta["findings"]), len(cmeta["traps"])
        ok = status == OK
        u = rec.usage or {}
        tin, tout = int(u.get("input_tokens", 0) or 0), int(u.get("output_tokens", 0) or 0)
        tcw = int(u.get("cache_creation_input_tokens", 0) or 0)
        tcr = int(u.get("cache_read_input_tokens", 0) or 0)
        srows.append({
            **key, "status": status, "outcome": outcome_of(rec),
            "error": f"{rec.error.kind}: {rec.error.message}" if rec.error else None, "grader_error": gerr,
            "n_findings": nf, "n_found": int(n_found) if ok else np.nan,
            "recall": (n_found / nf if nf else np.nan) if ok else np.nan,
            "weighted_recall": (wfound / wsum if wsum else np.nan) if ok else np.nan,
            "critical_high_missed": ch_missed if ok else np.nan,
            "n_traps": nt, "n_traps_flagged": len(flagged) if ok else np.nan, "traps_flagged": ",".join(flagged),
            "trap_fp_rate": (len(flagged) / nt if nt else np.nan) if ok else np.nan,
            "extra_issues": (grade.extra_issues if grade and grade.extra_issues is not None else np.nan),
            "input_tokens": tin, "output_tokens": tout, "cache_write_tokens": tcw, "cache_read_tokens": tcr,
            "total_tokens": tin + tout + tcw + tcr,
            # the sample's whole cost: the agent's answer plus what grading spent on it (the judge's calls)
            "cost_usd": _sample_cost(rec),
            "judge_cost_usd": sum(g.cost_usd or 0.0 for g in rec.grades.values()),
            "latency_s": rec.latency_s if rec.latency_s is not None else np.nan,
            "cached": rec.cached, "retries": rec.retries, "stop_reason": rec.stop_reason,
            "review": rec.review,
        })
    if missing_cases:
        warnings.append(f"{len(missing_cases)} case(s) missing from {CASES_JSON}: {', '.join(sorted(missing_cases))}"
                        " (metadata taken from the verdicts)")
    fcols = KEYS + ["finding", "title", "severity", "category", "cwe", "weight", "status", "found", "evidence",
                    "supported"]
    tcols = KEYS + ["trap", "title", "status", "flagged"]
    findings = pd.DataFrame(frows, columns=fcols)
    findings["found"] = findings["found"].astype("boolean")
    findings["supported"] = findings["supported"].astype("boolean")
    traps = pd.DataFrame(trows, columns=tcols)
    traps["flagged"] = traps["flagged"].astype("boolean")
    samples = pd.DataFrame(srows)
    if samples.empty:
        samples = pd.DataFrame(columns=KEYS + ["status", "outcome", "error", "grader_error", "review", "recall"])
    return ResultsTable(path=path, manifest=manifest, grader=chosen, reducer=reducer, severity_weights=weights,
                      cases=meta, findings=findings, traps=traps, samples=samples, records=records,
                      graders_present=present, warnings=_dedupe(warnings))


def pool_results(runs: list[ResultsTable]) -> ResultsTable:
    """One baseline from several runs of the same variant(s) (e.g. several nights): their frames concatenated, so
    every per-finding count sums over all their successful epochs (:func:`per_finding`), while the reducer keeps
    the k of one run (:attr:`ResultsTable.epochs_per_run`, from the first run). The pooled run id is the ids joined
    with ``+``; ``pooled`` lists them. A single run is returned as is.

    Raises:
        HarnessError: no run given.
    """
    if not runs:
        raise HarnessError("no baseline run to pool")
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    manifest = first.manifest.model_copy(update={"run_id": "+".join(r.run_id for r in runs)})
    warnings = [f"{r.run_id}: {w}" for r in runs for w in r.warnings]
    if len({r.epochs_per_run for r in runs}) > 1:
        warnings.append("pooled baseline runs have different epochs per run: pass@k/majority use "
                        f"k = {first.epochs_per_run}")
    cases = {}
    for r in runs:
        cases.update(r.cases)
    return ResultsTable(path=first.path, manifest=manifest, grader=first.grader, reducer=first.reducer,
                      severity_weights=first.severity_weights, cases=cases,
                      findings=pd.concat([r.findings for r in runs], ignore_index=True),
                      traps=pd.concat([r.traps for r in runs], ignore_index=True),
                      samples=pd.concat([r.samples for r in runs], ignore_index=True),
                      records=[x for r in runs for x in r.records],
                      graders_present=list(dict.fromkeys(g for r in runs for g in r.graders_present)),
                      warnings=_dedupe(warnings), pooled=[r.run_id for r in runs])


def _dedupe(items: list[str], limit: int = 50) -> list[str]:
    out = list(dict.fromkeys(items))
    if len(out) > limit:
        out = out[:limit] + [f"... and {len(out) - limit} more warnings"]
    return out


def load(run_dir: str | Path, **kwargs: Any) -> pd.DataFrame:
    """One row per (sample, finding) of a run — the ``findings`` frame of :func:`load_run` (same arguments)."""
    return load_run(run_dir, **kwargs).findings


def load_samples(run_dir: str | Path, **kwargs: Any) -> pd.DataFrame:
    """One row per sample of a run — the ``samples`` frame of :func:`load_run` (same arguments)."""
    return load_run(run_dir, **kwargs).samples


def to_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as UTF-8 CSV (no index); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


def to_parquet(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as Parquet (needs pyarrow); returns the path.

    Raises:
        HarnessError: when pyarrow is not installed.
    """
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise HarnessError("writing Parquet needs pyarrow: pip install pyarrow") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)
    return path


# ------------------------------------------------------------------------------------------------ reductions


def _reduce_items(df: pd.DataFrame, cols: list[str], flag: str, reducer: str, names: tuple[str, str, str],
                  epochs: int | None = None) -> pd.DataFrame:
    """Per item (``cols``) over ok epochs: count, hits, rate, reduced score (:func:`harness.stats.reduce_counts`,
    ``epochs`` reviews per run) and Wilson interval (vectorised)."""
    n_col, k_col, rate_col = names
    if df.empty:
        return pd.DataFrame(columns=cols + [n_col, k_col, rate_col, "score", "lo", "hi"])
    ok = (df["status"] == OK) & df[flag].notna()
    hit = ok & df[flag].fillna(False).astype(bool)
    g = (df.assign(_ok=ok.astype(int), _hit=hit.astype(int))
         .groupby(cols, sort=False, dropna=False)[["_ok", "_hit"]].sum().reset_index())
    n, k = g["_ok"].to_numpy(int), g["_hit"].to_numpy(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    score = reduce_counts(k, n, reducer, epochs)
    lo, hi = wilson(k, n)
    out = g.drop(columns=["_ok", "_hit"])
    out[n_col], out[k_col], out[rate_col], out["score"], out["lo"], out["hi"] = n, k, rate, score, lo, hi
    return out


def per_finding(res: ResultsTable) -> pd.DataFrame:
    """Per (variant, case, finding) over the ``ok`` epochs: n_epochs, n_found, found_rate (raw fraction), score
    (reduced with ``res.reducer``, see :func:`harness.stats.reduce_epochs`), Wilson 95 % interval of found_rate
    (lo, hi), and the finding's metadata. Findings with no ok epoch have n_epochs 0 and NaN rates."""
    cols = ["variant", "prompt_version", "model", "case", "kind", "finding", "title", "severity", "category",
            "weight"]
    return _reduce_items(res.findings, cols, "found", res.reducer, ("n_epochs", "n_found", "found_rate"),
                         res.epochs_per_run)


def per_trap(res: ResultsTable) -> pd.DataFrame:
    """Per (variant, case, trap): n_epochs, n_flagged, flagged_rate, score (reduced), Wilson lo/hi."""
    cols = ["variant", "prompt_version", "model", "case", "kind", "trap", "title"]
    return _reduce_items(res.traps, cols, "flagged", res.reducer, ("n_epochs", "n_flagged", "flagged_rate"),
                         res.epochs_per_run)


def per_case(res: ResultsTable, pf: pd.DataFrame | None = None, pt: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (variant, case), reduced over epochs.

    Columns: variant, case, kind, tags, title, n_samples, n_ok (samples graded: ok, and truncated ones graded
    with ``grade_truncated``), n_ok_outcome (samples whose outcome is ``ok``, as the outcomes line counts them),
    n_errors, n_grader_errors, n_findings, recall,
    weighted_recall, critical_high_missed (expected per review), n_traps, trap_fp_rate, extra_issues (mean per ok
    sample), cost_usd (sum, USD), total_tokens (mean per sample), latency_s (mean, seconds). NaN recall for clean
    cases; NaN quality metrics when no epoch succeeded.
    """
    pf = per_finding(res) if pf is None else pf
    pt = per_trap(res) if pt is None else pt
    s = res.samples
    key = ["variant", "case"]
    if s.empty:
        return pd.DataFrame(columns=key + ["kind", "tags", "title", "n_samples", "n_ok", "n_ok_outcome", "recall"])
    s = s.assign(_ok=(s["status"] == OK).astype(int), _err=(s["status"] == ERROR).astype(int),
                 _oko=(s["outcome"] == "ok").astype(int),
                 _gerr=(s["status"] == GRADER_ERROR).astype(int),
                 _extra=s["extra_issues"].where(s["status"] == OK))
    out = s.groupby(key, sort=False).agg(
        kind=("kind", "first"), tags=("tags", "first"), n_samples=("sample_id", "size"), n_ok=("_ok", "sum"),
        n_ok_outcome=("_oko", "sum"), n_errors=("_err", "sum"), n_grader_errors=("_gerr", "sum"),
        n_findings=("n_findings", "first"),
        n_traps=("n_traps", "first"), extra_issues=("_extra", "mean"),
        cost_usd=("cost_usd", lambda x: x.sum(min_count=1)), total_tokens=("total_tokens", "mean"),
        latency_s=("latency_s", "mean")).reset_index()
    out.insert(4, "title", [res.cases.get(c, {}).get("title", c) for c in out["case"]])
    f = pf[pf["n_epochs"] > 0].assign(_ws=lambda d: d["weight"] * d["score"],
                                      _miss=lambda d: (1 - d["score"]).where(d["severity"].isin(["critical", "high"]),
                                                                             0.0))
    fa = f.groupby(key, sort=False).agg(recall=("score", "mean"), _ws=("_ws", "sum"), _w=("weight", "sum"),
                                        critical_high_missed=("_miss", "sum")).reset_index()
    fa["weighted_recall"] = fa["_ws"] / fa["_w"].where(fa["_w"] > 0)
    ta = pt[pt["n_epochs"] > 0].groupby(key, sort=False).agg(trap_fp_rate=("score", "mean")).reset_index()
    out = out.merge(fa[key + ["recall", "weighted_recall", "critical_high_missed"]], on=key, how="left")
    out = out.merge(ta, on=key, how="left")
    ok = out["n_ok"] > 0
    out["critical_high_missed"] = out["critical_high_missed"].where(~ok, out["critical_high_missed"].fillna(0.0))
    cols = ["variant", "case", "kind", "tags", "title", "n_samples", "n_ok", "n_ok_outcome", "n_errors",
            "n_grader_errors", "n_findings", "recall", "weighted_recall", "critical_high_missed", "n_traps",
            "trap_fp_rate", "extra_issues", "cost_usd", "total_tokens", "latency_s"]
    return out[cols]


# ------------------------------------------------------------------------------------------------ suite level

@dataclass
class VariantSummary:
    """Suite-level metrics of one variant, each an :class:`~harness.stats.Estimate` (95 % intervals).

    ``critical_high_missed`` is a total over the suite (expected misses per review pass); ``error_rate`` is the
    fraction of samples that errored with an interval clustered by case (errors come in bursts per case — a prompt
    too long for the model fails every epoch of that case — so a Wilson interval over samples under-covers: 70 % in
    simulation); ``n_errors`` the count; cost in USD, latency in seconds.
    """

    variant: str
    prompt_version: str
    prompt_fingerprint: str
    model: str
    recall: Estimate
    weighted_recall: Estimate
    critical_high_missed: Estimate
    trap_fp_rate: Estimate
    extra_issues: Estimate
    error_rate: Estimate
    n_samples: int
    n_ok: int
    n_errors: int
    n_grader_errors: int
    n_ungraded: int
    n_cases: int
    n_findings: int
    n_traps: int
    epochs: int
    cost_usd: float
    input_tokens: int
    output_tokens: int
    total_tokens: int
    mean_tokens: float
    latency_mean_s: float
    latency_p50_s: float
    latency_p95_s: float


def summarize(res: ResultsTable, pf: pd.DataFrame | None = None, pt: pd.DataFrame | None = None
              ) -> list[VariantSummary]:
    """Suite metrics per variant (prompt version × model) with clustered 95 % intervals (clusters = cases)."""
    pf = per_finding(res) if pf is None else pf
    pt = per_trap(res) if pt is None else pt
    out = []
    for variant, s in res.samples.groupby("variant", sort=False):
        f = pf[(pf["variant"] == variant) & (pf["n_epochs"] > 0)]
        t = pt[(pt["variant"] == variant) & (pt["n_epochs"] > 0)]
        ok = s[s["status"] == OK]
        ch = f[f["severity"].isin(["critical", "high"])]
        # a miss rate is a proportion: at 0 (all found) its interval must not collapse (Wilson fallback)
        miss = clustered_mean(1 - ch["score"].to_numpy(float), ch["case"].to_numpy(), bounds=(0, 1),
                              proportion=True) if len(ch) else NAN_ESTIMATE
        k = len(ch)
        if k:
            miss = Estimate(miss.value * k, miss.se * k, max(0.0, miss.lo * k), miss.hi * k, miss.n,
                            miss.n_clusters, miss.method)
        elif len(ok):      # graded, and the suite has no critical/high finding: exactly none missed
            miss = Estimate(0.0, 0.0, 0.0, 0.0, 0, 0, "none")
        else:              # nothing graded: nothing to report (n/a), not "0 missed"
            miss = NAN_ESTIMATE
        lat = s["latency_s"].dropna().to_numpy(float)
        n_err = int((s["status"] == ERROR).sum())
        out.append(VariantSummary(
            variant=variant, prompt_version=s["prompt_version"].iloc[0],
            prompt_fingerprint=s["prompt_fingerprint"].iloc[0], model=s["model"].iloc[0],
            recall=clustered_mean(f["score"].to_numpy(float), f["case"].to_numpy(), bounds=(0, 1),
                                  proportion=True),
            weighted_recall=clustered_mean(f["score"].to_numpy(float), f["case"].to_numpy(),
                                           f["weight"].to_numpy(float), bounds=(0, 1), proportion=True),
            critical_high_missed=miss,
            trap_fp_rate=clustered_mean(t["score"].to_numpy(float), t["case"].to_numpy(), bounds=(0, 1),
                                        proportion=True),
            extra_issues=clustered_mean(ok["extra_issues"].to_numpy(float), ok["case"].to_numpy(),
                                        bounds=(0, float("inf"))),
            error_rate=clustered_mean((s["status"] == ERROR).to_numpy(float), s["case"].to_numpy(), bounds=(0, 1),
                                      proportion=True),
            n_samples=len(s), n_ok=len(ok), n_errors=n_err,
            n_grader_errors=int((s["status"] == GRADER_ERROR).sum()),
            n_ungraded=int((s["status"] == UNGRADED).sum()),
            n_cases=int(s["case"].nunique()), n_findings=int(pf[pf["variant"] == variant].shape[0]),
            n_traps=int(pt[pt["variant"] == variant].shape[0]), epochs=int(s["epoch"].nunique()),
            # NaN (shown "n/a") when no sample has a price, as per case: never a sum of unknowns shown as $0
            cost_usd=float(s["cost_usd"].sum(min_count=1)), input_tokens=int(s["input_tokens"].sum()),
            output_tokens=int(s["output_tokens"].sum()), total_tokens=int(s["total_tokens"].sum()),
            mean_tokens=float(s["total_tokens"].mean()) if len(s) else float("nan"),
            latency_mean_s=float(lat.mean()) if lat.size else float("nan"),
            latency_p50_s=float(np.percentile(lat, 50)) if lat.size else float("nan"),
            latency_p95_s=float(np.percentile(lat, 95)) if lat.size else float("nan"),
        ))
    return out


def breakdown(pf: pd.DataFrame, by: str, *, weighted: bool = False) -> pd.DataFrame:
    """Recall per variant and group (``by`` = ``category`` | ``severity`` | ``kind``...) with clustered intervals.

    Columns: variant, <by>, recall, lo, hi, n_findings, n_cases. Interval NaN when the group spans one case.
    """
    rows = []
    f = pf[pf["n_epochs"] > 0]
    for (variant, grp), g in f.groupby(["variant", by], sort=True):
        e = clustered_mean(g["score"].to_numpy(float), g["case"].to_numpy(),
                           g["weight"].to_numpy(float) if weighted else None, bounds=(0, 1), proportion=True)
        rows.append({"variant": variant, by: grp, "recall": e.value, "lo": e.lo, "hi": e.hi, "n_findings": e.n,
                     "n_cases": e.n_clusters})
    return pd.DataFrame(rows, columns=["variant", by, "recall", "lo", "hi", "n_findings", "n_cases"])


# ------------------------------------------------------------------------------------------- grader agreement

@dataclass
class Agreement:
    """Agreement of two graders (``a``, ``b``) on the same samples' finding verdicts.

    ``per_finding``: variant, case, finding, n, agree (fraction), a_rate, b_rate — sorted least agreement first.
    ``disagreements``: one row per (sample, finding) where they differ, with both verdicts and b's reason/quote.
    ``kappa``: Cohen's kappa over every (sample, finding) pair; ``agreement``: raw fraction.
    """

    a: str
    b: str
    n: int
    agreement: float
    kappa: float
    per_finding: pd.DataFrame
    disagreements: pd.DataFrame


def grader_agreement(res: ResultsTable, a: str = DEFAULT_GRADER, b: str = MODEL_GRADER) -> Agreement | None:
    """Compare two graders' finding verdicts on every sample both graded without error; None when fewer than one
    such sample exists (e.g. no judge ran)."""
    rows = []
    for r in res.records:
        ga, gb = r.grades.get(a), r.grades.get(b)
        if r.error is not None or ga is None or gb is None or ga.error or gb.error:
            continue
        vb = {v.id: v for v in gb.findings}
        for va in ga.findings:
            w = vb.get(va.id)
            if w is None:
                continue
            rows.append({"variant": variant_label(r.prompt_version, r.model), "sample_id": r.sample_id,
                         "case": r.case, "epoch": r.epoch, "finding": va.id, a: bool(va.found), b: bool(w.found),
                         "reason": w.reason, "quote": w.evidence.quote if w.evidence else "",
                         "supported": w.supported})
    if not rows:
        return None
    df = pd.DataFrame(rows)
    df["agree"] = df[a] == df[b]
    pf = (df.groupby(["variant", "case", "finding"], sort=False)
          .agg(n=("agree", "size"), agree=("agree", "mean"), a_rate=(a, "mean"), b_rate=(b, "mean"))
          .reset_index().sort_values(["agree", "case", "finding"], kind="stable").reset_index(drop=True))
    dis = df[~df["agree"]].drop(columns=["agree"]).reset_index(drop=True)
    return Agreement(a=a, b=b, n=len(df), agreement=float(df["agree"].mean()),
                     kappa=cohen_kappa(df[a].to_numpy(), df[b].to_numpy()), per_finding=pf, disagreements=dis)
