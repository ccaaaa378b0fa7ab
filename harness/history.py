"""Run history: every run directory under a runs root, each reduced to a compact ``summary.json``.

A nightly dashboard over a year of runs must not re-parse every review: at the end of a run the pipeline calls
:func:`write_run_summary`, which stores the run's metrics in ``<run_dir>/summary.json`` (a few tens of KB).
:func:`load_history` then reads only those files. A run without a summary, or whose summary is stale or invalid,
is summarised on the fly (and the summary is written back when the folder is writable); the history says so.

Layout of ``summary.json`` (``schema`` ``harness.run-summary``, ``schema_version`` :data:`SCHEMA_VERSION`;
fractions are 0..1, cost in USD, latency in seconds, NaN stored as ``null``)::

    {schema, schema_version, harness_version, computed_at,
     params:  {grader, reducer, severity_weights},          # what the metrics were computed with
     sources: {"run.json"|"samples.jsonl"|"cases.json": {size, mtime_ns, sha256} | null},   # staleness check
     run:     {run_id, status, status_reason, created_at, started_at, ended_at, git_commit, suite_fingerprint,
               epochs, n_cases, prompts: [{label, fingerprint}], models: [name]},
     warnings: [str],
     variants: [{variant, prompt_version, prompt_fingerprint, model,
                 metrics: {recall|weighted_recall|critical_high_missed|trap_fp_rate|extra_issues|error_rate:
                           {value, se, lo, hi, n, n_clusters, method, conf}},     # harness.stats.Estimate
                 outcomes: {ok, truncated, refused, empty, error},   # samples per outcome (harness.outcomes)
                 counts: {n_samples, n_ok, n_errors, n_grader_errors, n_ungraded, n_cases, n_findings, n_traps,
                          epochs},
                 usage: {cost_usd, cost_per_sample, input_tokens, output_tokens, total_tokens, mean_tokens,
                         latency_mean_s, latency_p50_s, latency_p95_s},
                 categories|severities: [{group, recall, lo, hi, n_findings, n_cases}],
                 cases: [{case, kind, n_samples, n_ok, n_errors, n_findings, n_traps, recall, weighted_recall,
                          trap_fp_rate, cost_usd, total_tokens, latency_s}],
                 findings: [{case, finding, severity, category, weight, n_epochs, n_found, score}],
                 traps: [{case, trap, n_epochs, n_flagged, score}]}]}

Metrics are those of :mod:`harness.results` (recall and severity-weighted recall over findings, intervals
clustered by case; trap false-positive rate; error rate, also clustered by case); ``score`` is a finding's found
rate over its successful epochs reduced with the run's reducer.

Which run directories enter the history (:func:`load_history`): every folder under the runs root holding a
``run.json`` (searched recursively, hidden folders and symlinks skipped, never inside a run). Skipped, with the
reason: an unreadable manifest, a run still ``running`` (in progress, or interrupted and never resumed), a run
without a single valid sample, a second copy of a run id already read, and a run whose summary cannot be
computed. Runs that finished ``incomplete`` (errors, budget) are kept — their error rate is part of the trend —
and flagged. Ad-hoc runs (``run.json`` ``kind: adhoc``: ``harness run``, ``pytest evals``) are left out and
counted in ``History.adhoc``: the history is the nightly runs (``kind: nightly``, or no kind in runs written before
it was recorded).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from . import __version__
from .errors import HarnessError
from .records import MANIFEST, SAMPLES, SUMMARY, RunDir, utcnow
from .results import (CASES_JSON, DEFAULT_WEIGHTS, breakdown, load_run, outcome_counts, per_case, per_finding, per_trap,
                      summarize)
from .textio import atomic_write_json

SCHEMA = "harness.run-summary"
SCHEMA_VERSION = 3   # 2: error rate clustered by case; pass@k/majority over one run's k; 3: outcomes
METRICS = ("recall", "weighted_recall", "critical_high_missed", "trap_fp_rate", "extra_issues", "error_rate")
SOURCES = (MANIFEST, SAMPLES, CASES_JSON)


# ------------------------------------------------------------------------------------------------- helpers

# a year of a big suite's summaries is ~150 MB of JSON: orjson reads it ~3× faster
try:
    from orjson import loads as _loads
except ImportError:                    # pragma: no cover - orjson is a dependency; json reads the same files
    _loads = json.loads  # type: ignore[assignment]  # json.loads takes the str/bytes orjson.loads takes

def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf → None, numpy scalars → Python, tuples → lists."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if obj is pd.NA or obj is pd.NaT:
        return None
    return obj


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_stamp(path: Path) -> dict | None:
    """``{size, mtime_ns, sha256}`` of a source file, None when absent."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _sha256(path)}


def _source_changed(path: Path, stamp: dict | None) -> str | None:
    """Why ``path`` no longer matches its recorded stamp, or None when it does.

    Fast path: same size and mtime → unchanged. Same size but another mtime (a copy: CI artifacts and caches
    reset mtimes) → compare sha256. Size differs → changed.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return None if stamp is None else f"{path.name} is gone"
    if stamp is None:
        return f"{path.name} appeared"
    if st.st_size != stamp.get("size"):
        return f"{path.name} changed"
    if st.st_mtime_ns == stamp.get("mtime_ns"):
        return None
    return None if _sha256(path) == stamp.get("sha256") else f"{path.name} changed"


def _params(manifest_config: Mapping[str, Any], grader: str | None, reducer: str | None,
            severity_weights: Mapping[str, float] | None) -> tuple[str | None, str, dict[str, float]]:
    weights = dict(DEFAULT_WEIGHTS)
    weights.update(severity_weights if severity_weights is not None else
                   (manifest_config.get("severity_weights") or {}))
    return grader, reducer or manifest_config.get("reducer") or "mean", {k: float(v) for k, v in weights.items()}


# ------------------------------------------------------------------------------------------------- writing

def compute_run_summary(run_dir: str | Path, *, grader: str | None = None, reducer: str | None = None,
                        severity_weights: Mapping[str, float] | None = None) -> dict:
    """Read a run directory and return its summary (the ``summary.json`` payload, see the module docs).

    Args:
        run_dir: a run directory (``run.json`` + ``samples.jsonl`` [+ ``cases.json``]).
        grader: whose verdicts to score; None = ``deterministic`` when present (as :func:`harness.results.load_run`).
        reducer: ``mean`` | ``pass@k`` | ``majority``; None = the run's own (``run.json`` config), else ``mean``.
        severity_weights: None = the run's own, else critical 4, high 3, medium 2, low 1.
    Raises:
        RecordError: not a run directory, invalid ``cases.json``. HarnessError: unknown reducer.
    """
    run_dir = Path(run_dir)
    stamps = {name: source_stamp(run_dir / name) for name in SOURCES}   # before reading: a later change looks stale
    manifest = RunDir.open(run_dir).manifest
    grader, reducer, weights = _params(manifest.config or {}, grader, reducer, severity_weights)
    res = load_run(run_dir, grader=grader, severity_weights=weights, reducer=reducer)
    pf, pt = per_finding(res), per_trap(res)
    pc = per_case(res, pf, pt)
    variants = []
    outcomes = outcome_counts(res.samples)
    for s in summarize(res, pf, pt):
        f, t = pf[pf["variant"] == s.variant], pt[pt["variant"] == s.variant]
        c = pc[pc["variant"] == s.variant] if len(pc) else pc
        groups = {}
        for by in ("category", "severity"):
            bd = breakdown(f, by)
            groups[by] = [{"group": r[by], "recall": r["recall"], "lo": r["lo"], "hi": r["hi"],
                           "n_findings": r["n_findings"], "n_cases": r["n_cases"]} for r in bd.to_dict("records")]
        variants.append({
            "variant": s.variant, "prompt_version": s.prompt_version, "prompt_fingerprint": s.prompt_fingerprint,
            "model": s.model,
            "metrics": {m: getattr(s, m).as_dict() for m in METRICS},
            "counts": {k: getattr(s, k) for k in ("n_samples", "n_ok", "n_errors", "n_grader_errors", "n_ungraded",
                                                  "n_cases", "n_findings", "n_traps", "epochs")},
            "outcomes": outcomes.get(s.variant, {}),
            "usage": {"cost_usd": s.cost_usd, "cost_per_sample": s.cost_usd / s.n_samples if s.n_samples else None,
                      "input_tokens": s.input_tokens, "output_tokens": s.output_tokens,
                      "total_tokens": s.total_tokens, "mean_tokens": s.mean_tokens,
                      "latency_mean_s": s.latency_mean_s, "latency_p50_s": s.latency_p50_s,
                      "latency_p95_s": s.latency_p95_s},
            "categories": groups["category"], "severities": groups["severity"],
            "cases": [{k: r[k] for k in ("case", "kind", "n_samples", "n_ok", "n_errors", "n_findings", "n_traps",
                                         "recall", "weighted_recall", "trap_fp_rate", "cost_usd", "total_tokens",
                                         "latency_s")} for r in c.to_dict("records")],
            "findings": [{k: r[k] for k in ("case", "finding", "severity", "category", "weight", "n_epochs",
                                            "n_found", "score")} for r in f.to_dict("records")],
            "traps": [{k: r[k] for k in ("case", "trap", "n_epochs", "n_flagged", "score")}
                      for r in t.to_dict("records")],
        })
    m = manifest
    return _clean({
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "harness_version": __version__, "computed_at": utcnow(),
        "params": {"grader": res.grader, "reducer": reducer, "severity_weights": weights},
        "sources": stamps,
        "run": {"run_id": m.run_id, "status": m.status, "status_reason": m.status_reason,
                "created_at": m.created_at, "started_at": m.started_at, "ended_at": m.ended_at,
                "git_commit": m.git_commit, "suite_fingerprint": m.suite_fingerprint, "epochs": m.epochs,
                "n_cases": len(m.cases) or len(res.cases),
                "prompts": [{"label": p.label, "fingerprint": p.fingerprint} for p in m.prompts],
                "models": [x.name for x in m.models]},
        "warnings": res.warnings,
        "variants": variants,
    })


def write_run_summary(run_dir: str | Path, *, grader: str | None = None, reducer: str | None = None,
                      severity_weights: Mapping[str, float] | None = None) -> Path:
    """Compute a run's summary (:func:`compute_run_summary`) and write ``<run_dir>/summary.json`` atomically.

    Call it when a run ends (and after re-grading); :func:`load_history` recomputes it anyway when it is stale.

    Returns:
        The path of ``summary.json``.
    Raises:
        RecordError: not a run directory, invalid ``cases.json``. OSError: the folder cannot be written.
    """
    path = Path(run_dir) / SUMMARY
    atomic_write_json(path, compute_run_summary(run_dir, grader=grader, reducer=reducer,
                                                severity_weights=severity_weights))
    return path


# ------------------------------------------------------------------------------------------------- reading

def summary_problem(run_dir: Path, data: Any, *, grader: str | None = None, reducer: str | None = None,
                    severity_weights: Mapping[str, float] | None = None) -> str | None:
    """Why a loaded ``summary.json`` cannot be used (wrong schema or version, made with other parameters, a
    source file changed since), or None when it is current."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return "not a run summary"
    if data.get("schema_version") != SCHEMA_VERSION:
        return f"schema version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}"
    if not isinstance(data.get("variants"), list) or not isinstance(data.get("run"), dict):
        return "incomplete summary"
    p = data.get("params") or {}
    if grader and p.get("grader") != grader:
        return f"made with grader {p.get('grader')!r}, wanted {grader!r}"
    if reducer and p.get("reducer") != reducer:
        return f"made with reducer {p.get('reducer')!r}, wanted {reducer!r}"
    if severity_weights is not None:
        want = {**DEFAULT_WEIGHTS, **severity_weights}
        given = p.get("severity_weights") or {}
        if {k: float(v) for k, v in want.items()} != {k: float(v) for k, v in given.items()}:
            return "made with other severity weights"
    sources = data.get("sources") or {}
    for name in SOURCES:
        why = _source_changed(run_dir / name, sources.get(name))
        if why:
            return why
    return None


def read_run_summary(run_dir: str | Path, *, grader: str | None = None, reducer: str | None = None,
                     severity_weights: Mapping[str, float] | None = None, write: bool = True
                     ) -> tuple[dict, str | None]:
    """A run's summary: ``summary.json`` when current, else computed now (and written back when ``write`` and the
    folder is writable).

    Returns:
        ``(summary, note)``: note is None when ``summary.json`` was used as is, else a sentence saying why it was
        computed (absent, stale, invalid) and whether it could be saved.
    Raises:
        RecordError / HarnessError: the run cannot be read (see :func:`compute_run_summary`).
    """
    run_dir = Path(run_dir)
    path = run_dir / SUMMARY
    why: str | None = "no summary.json"
    if path.is_file():
        try:
            data = _loads(path.read_bytes())
            why = summary_problem(run_dir, data, grader=grader, reducer=reducer, severity_weights=severity_weights)
            if why is None:
                return data, None
            why = f"summary.json is stale or unusable ({why})"
        except (OSError, ValueError) as e:
            why = f"summary.json is invalid ({type(e).__name__}: {str(e)[:80]})"
    data = compute_run_summary(run_dir, grader=grader, reducer=reducer, severity_weights=severity_weights)
    note = f"{why}: computed from samples.jsonl"
    if write:
        try:
            atomic_write_json(path, data)
            note += " and saved"
        except OSError as e:
            note += f" (could not save it: {e.strerror or e})"
    return data, note


@dataclass(frozen=True)
class Skipped:
    """A folder left out of the history and why."""

    path: Path
    reason: str


@dataclass
class RunEntry:
    """One run of the history: where it lives, its summary, and how the summary was obtained (``note`` None =
    read from ``summary.json``)."""

    path: Path
    summary: dict
    note: str | None = None

    @property
    def run(self) -> dict:
        return self.summary["run"]

    @property
    def run_id(self) -> str:
        return self.run["run_id"]

    @property
    def status(self) -> str:
        return self.run.get("status") or "unknown"

    @property
    def started_at(self) -> str:
        return self.run.get("started_at") or self.run.get("created_at") or ""

    @property
    def variants(self) -> list[str]:
        return [v["variant"] for v in self.summary["variants"]]

    def variant(self, name: str) -> dict | None:
        return next((v for v in self.summary["variants"] if v["variant"] == name), None)


def discover_runs(runs_root: str | Path) -> tuple[list[Path], list[Skipped]]:
    """Every run directory (a folder with ``run.json``) under ``runs_root``, sorted by path, and folders that
    look like broken runs (``samples.jsonl`` or ``summary.json`` without ``run.json``).

    Recursive (a CI artifact may nest runs), never descends into a run, skips hidden folders and symlinks.

    Raises:
        HarnessError: ``runs_root`` is not a folder.
    """
    root = Path(runs_root)
    if not root.is_dir():
        raise HarnessError("runs root is not a folder", file=root)
    found: list[Path] = []
    broken: list[Skipped] = []
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError as e:
            broken.append(Skipped(d, f"cannot list the folder: {e.strerror or e}"))
            continue
        names = {e.name for e in entries}
        if MANIFEST in names:
            found.append(d)
            continue
        if SAMPLES in names or SUMMARY in names:
            broken.append(Skipped(d, f"has {SAMPLES if SAMPLES in names else SUMMARY} but no {MANIFEST}: not a "
                                     "complete run directory"))
        stack += [Path(e.path) for e in entries
                  if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
    return sorted(found), sorted(broken, key=lambda s: str(s.path))


def _kind(run_dir: Path) -> str | None:
    """The run's ``kind`` from run.json (``nightly``, ``adhoc``; None when unrecorded or unreadable)."""
    try:
        return RunDir.open(run_dir).manifest.kind
    except HarnessError:
        return None


def _precheck(run_dir: Path) -> str | None:
    """Why a run directory cannot enter the history before summarising it, or None."""
    try:
        manifest = RunDir.open(run_dir).manifest
    except HarnessError as e:
        return e.message
    if manifest.status == "running":
        return ("status 'running': still running, or interrupted and never resumed (resume it with "
                "`harness run --resume`)")
    samples = run_dir / SAMPLES
    if not samples.is_file() or samples.stat().st_size == 0:
        return f"no {SAMPLES}: no sample was recorded"
    return None


@dataclass
class History:
    """The runs read from a runs root, oldest first (by start time, then run id), and the folders skipped.

    ``notes`` say which summaries were computed on the fly. The frames below are built once, on first use.
    """

    root: Path
    runs: list[RunEntry]
    skipped: list[Skipped] = field(default_factory=list)
    adhoc: list[Path] = field(default_factory=list)   # ad-hoc runs (run.json kind "adhoc"), left out

    @property
    def notes(self) -> list[str]:
        return [f"{e.run_id}: {e.note}" for e in self.runs if e.note]

    @property
    def variants(self) -> list[str]:
        """Variant labels (``prompt version · model``) in order of first appearance."""
        return list(dict.fromkeys(v for e in self.runs for v in e.variants))

    def get(self, run_id: str) -> RunEntry | None:
        return next((e for e in self.runs if e.run_id == run_id), None)

    def _rows(self, key: str | None, fields: tuple[str, ...] | None = None) -> pd.DataFrame:
        if key is not None:
            return self._list_rows(key, fields)
        rows = []
        for i, e in enumerate(self.runs):
            for v in e.summary["variants"]:
                rows.append({"night": i, "run_id": e.run_id, "variant": v["variant"], **_headline_row(e, v)})
        df = pd.DataFrame(rows)
        if df.empty:
            df = pd.DataFrame(columns=["night", "run_id", "variant", *(fields or ())])
        return df

    def _list_rows(self, key: str, fields: tuple[str, ...] | None) -> pd.DataFrame:
        """The ``key`` lists of every run's variants as one frame: night, run_id, variant, then the lists' fields.

        Built column by column, not a dict per row: a year of a 400-case suite is ~600,000 findings, and turning
        that many Python strings into a pandas string column took seconds. Text fields (ids, severity, category...)
        are encoded once per distinct list of values — consecutive nights of one suite share it — and expanded
        with one vectorised ``take``; numbers become numpy arrays (None → NaN; whole numbers stay integers).
        """
        names: dict[str, None] = dict.fromkeys(fields or ())
        parts: list[tuple[int, str, str, list[dict]]] = []
        first: dict[str, Any] = {}
        for i, e in enumerate(self.runs):
            for v in e.summary["variants"]:
                recs = v.get(key) or []
                if recs:
                    parts.append((i, e.run_id, v["variant"], recs))
                    names.update(dict.fromkeys(recs[0]))
                    for n, x in recs[0].items():
                        if x is not None:
                            first.setdefault(n, x)
        if not parts:
            return pd.DataFrame(columns=["night", "run_id", "variant", *names])
        for n in [n for n in names if n not in first]:       # null in every first record: find a value's type
            first[n] = next((r[n] for *_, recs in parts for r in recs if r.get(n) is not None), None)
        lengths = np.array([len(p[3]) for p in parts])
        part_idx = np.repeat(np.arange(len(parts)), lengths)
        cols: dict[str, Any] = {"night": np.array([p[0] for p in parts])[part_idx]}
        for j, name in ((1, "run_id"), (2, "variant")):
            vocab = list(dict.fromkeys(p[j] for p in parts))
            code = {x: c for c, x in enumerate(vocab)}
            cols[name] = pd.array(vocab, dtype="str").take(np.array([code[p[j]] for p in parts])[part_idx])
        text = [n for n in names if isinstance(first.get(n), str)]
        blocks: dict[tuple, int] = {}
        block_codes: list[list[np.ndarray]] = []
        vocabs: list[dict] = [{} for _ in text]
        which = []
        for *_, recs in parts:
            sig = tuple([tuple([r.get(n) for r in recs]) for n in text])
            b = blocks.get(sig)
            if b is None:
                b = blocks[sig] = len(block_codes)
                block_codes.append([np.fromiter((vc.setdefault(x, len(vc)) for x in col), dtype=np.int64,
                                                count=len(col)) for vc, col in zip(vocabs, sig)])
            which.append(b)
        for t, n in enumerate(text):
            codes = np.concatenate([block_codes[b][t] for b in which])
            cols[n] = pd.array(list(vocabs[t]), dtype="str").take(codes)
        for n in names:
            if n in text:
                continue
            x0 = first.get(n)
            if isinstance(x0, (int, float)) and not isinstance(x0, bool):
                arr = np.concatenate([np.array([r.get(n) for r in recs], dtype=float) for *_, recs in parts])
                if isinstance(x0, int) and not np.isnan(arr).any():
                    arr = arr.astype(np.int64)
            else:
                arr = pd.Series([r.get(n) for *_, recs in parts for r in recs], dtype=object)
            cols[n] = arr
        return pd.DataFrame({c: cols[c] for c in ["night", "run_id", "variant", *names]})

    @cached_property
    def headline(self) -> pd.DataFrame:
        """One row per (run, variant): night (0-based index of the run), run_id, variant, prompt_version, model,
        started_at, status, suite_fingerprint, prompt_fingerprint, ``<metric>``/``<metric>_lo``/``<metric>_hi``
        for every metric, counts, cost_usd, cost_per_sample, mean_tokens, total_tokens, latency_*_s."""
        return self._rows(None)

    @cached_property
    def categories(self) -> pd.DataFrame:
        """One row per (run, variant, category): group, recall, lo, hi, n_findings, n_cases."""
        return self._rows("categories", ("group", "recall", "lo", "hi", "n_findings", "n_cases"))

    @cached_property
    def cases(self) -> pd.DataFrame:
        """One row per (run, variant, case): the per-case values of the summaries (recall over epochs...)."""
        return self._rows("cases", ("case", "kind", "n_samples", "n_ok", "n_errors", "n_findings", "recall"))

    @cached_property
    def findings(self) -> pd.DataFrame:
        """One row per (run, variant, case, finding): severity, category, weight, n_epochs, n_found, score."""
        return self._rows("findings", ("case", "finding", "severity", "category", "weight", "n_epochs", "n_found",
                                       "score"))


def _headline_row(e: RunEntry, v: dict) -> dict:
    row = {"prompt_version": v["prompt_version"], "model": v["model"], "prompt_fingerprint": v["prompt_fingerprint"],
           "started_at": e.started_at, "status": e.status, "status_reason": e.run.get("status_reason"),
           "suite_fingerprint": e.run.get("suite_fingerprint", "")}
    for m in METRICS:
        est = v["metrics"].get(m) or {}
        for suffix, k in (("", "value"), ("_lo", "lo"), ("_hi", "hi")):
            x = est.get(k)
            row[m + suffix] = float("nan") if x is None else float(x)
    row.update(v["counts"])
    row.update({k: float("nan") if x is None else x for k, x in v["usage"].items()})
    return row


def load_history(runs_root: str | Path, *, config: Any = None, grader: str | None = None,
                 reducer: str | None = None, severity_weights: Mapping[str, float] | None = None,
                 write: bool = True) -> History:
    """Read the history of a runs root (see the module docs for what is read and what is skipped).

    Args:
        runs_root: the folder holding run directories (``[tool.harness] runs_root``, default ``reports/runs``).
        config: a :class:`~harness.config.HarnessConfig` whose reducer and severity weights the summaries must
            have been computed with (explicit ``reducer``/``severity_weights`` win); None accepts any.
        grader: whose verdicts (None: whatever each summary used, ``deterministic`` when present).
        write: save summaries computed on the fly back into their run directories.
    Returns:
        A :class:`History`; ``history.skipped`` lists every folder left out with the reason, ``history.notes``
        every summary computed on the fly.
    Raises:
        HarnessError: ``runs_root`` is not a folder.
    """
    if config is not None:
        reducer = reducer or config.reducer
        severity_weights = severity_weights if severity_weights is not None else config.severity_weights
    dirs, skipped = discover_runs(runs_root)
    entries: list[RunEntry] = []
    seen: dict[str, Path] = {}
    adhoc: list[Path] = []
    for d in dirs:
        if _kind(d) == "adhoc":
            adhoc.append(d)
            continue
        why = _precheck(d)
        if why:
            skipped.append(Skipped(d, why))
            continue
        try:
            data, note = read_run_summary(d, grader=grader, reducer=reducer, severity_weights=severity_weights,
                                          write=write)
        except (HarnessError, OSError, ValueError, KeyError) as e:
            skipped.append(Skipped(d, f"cannot summarise the run: {e}"))
            continue
        if not data["variants"]:
            skipped.append(Skipped(d, "no sample was recorded"))
            continue
        rid = data["run"]["run_id"]
        if rid in seen:
            skipped.append(Skipped(d, f"run id {rid!r} already read from {seen[rid]} (a copy)"))
            continue
        seen[rid] = d
        entries.append(RunEntry(d, data, note))
    entries.sort(key=lambda e: (e.started_at, e.run_id))
    return History(root=Path(runs_root), runs=entries, skipped=skipped, adhoc=adhoc)
