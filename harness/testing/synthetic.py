"""Synthetic run directories for tests, the dashboard and benchmarks — no model, no grader, known truth.

:func:`write_synthetic_run` writes ``run.json``, ``cases.json`` and ``samples.jsonl`` exactly as a real run
would (through :class:`~harness.records.RunDir` and :class:`~harness.records.SampleRecord`), drawing each
finding's verdict from a probability you choose:

* ``found_prob`` — a float (base rate; each finding then gets a fixed *difficulty* so that two runs on the same
  cases are correlated, like two prompt versions on one suite), a mapping (keys ``(case, finding)``,
  ``"case/finding"``, ``finding``, ``case`` or ``"*"``), or a callable ``(case: dict, finding: dict, epoch: int)
  -> float``.
* ``shift`` — a planted effect added to every found probability (clipped to [0, 1]); ``trap_prob`` likewise for
  traps; ``error_rate`` / ``grader_error_rate`` — fraction of samples whose model call / grading fails.
* ``judge`` — also write ``judge`` grades that agree with the deterministic verdict with this probability.
* tokens, cost (USD) and latency (seconds) are drawn around the given means.

:func:`make_cases` builds case metadata (the ``cases.json`` payload) for a suite of any size.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from statistics import NormalDist
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..cases import CATEGORIES, KINDS, SEVERITIES
from ..graders.base import Evidence, FindingVerdict, SampleGrade, TrapVerdict
from ..records import ModelInfo, PromptInfo, RunDir, RunManifest, SampleError, SampleRecord, sample_id, utcnow
from ..results import write_cases_json

ProbSpec = float | Mapping[Any, float] | Callable[[dict, dict, int], float]
ReviewFn = Callable[[dict, int, list[dict], list[dict]], str]


def _unit_hash(*parts: str) -> float:
    """A deterministic number in (0, 1) from strings (independent of any RNG seed)."""
    h = hashlib.sha256("\0".join(parts).encode()).digest()
    return (int.from_bytes(h[:8], "big") + 0.5) / 2 ** 64


def difficulty(case_id: str, finding_id: str) -> float:
    """A fixed standard-normal 'difficulty' of a finding, the same in every synthetic run (shared across runs so
    paired comparisons are correlated)."""
    return NormalDist().inv_cdf(_unit_hash("difficulty", case_id, finding_id))


def make_cases(n_cases: int = 8, *, findings_per_case: int | tuple[int, int] = (1, 4), n_clean: int = 1,
               traps_per_case: int | tuple[int, int] = (0, 2), seed: int = 0, prefix: str = "case",
               severities: Sequence[str] = SEVERITIES, categories: Sequence[str] = CATEGORIES,
               kinds: Sequence[str] = KINDS) -> list[dict]:
    """Case metadata for a synthetic suite (the ``cases.json`` format).

    Args:
        n_cases: cases with findings.
        findings_per_case: a count or an inclusive ``(low, high)`` range.
        n_clean: clean control cases appended (no findings, one or two traps).
        traps_per_case: a count or an inclusive range, for the cases with findings.
        seed: RNG seed for counts, severities, categories and kinds.
        prefix: case ids are ``<prefix>-01``...; clean ones ``<prefix>-clean-01``.
    Returns:
        A list of dicts ``{id, kind, tags, title, findings: [...], traps: [...]}``.
    """
    rng = np.random.default_rng(seed)

    def count(spec: int | tuple[int, int]) -> int:
        return int(spec) if isinstance(spec, int) else int(rng.integers(spec[0], spec[1] + 1))

    cases = []
    for i in range(n_cases + n_clean):
        clean = i >= n_cases
        cid = f"{prefix}-clean-{i - n_cases + 1:02d}" if clean else f"{prefix}-{i + 1:02d}"
        kind = str(kinds[i % len(kinds)])
        findings = [] if clean else [  # type: ignore[var-annotated]  # a list of finding dicts
            {"id": f"finding-{j + 1}", "title": f"Planted defect {j + 1} of {cid}",
             "severity": str(rng.choice(list(severities))), "category": str(rng.choice(list(categories))),
             "cwe": None, "location": {"file": "main.py", "lines": [10 * j + 1, 10 * j + 5], "symbol": None},
             "topics": []}
            for j in range(count(findings_per_case))]
        n_traps = int(rng.integers(1, 3)) if clean else count(traps_per_case)
        traps = [{"id": f"trap-{j + 1}", "title": f"Sound code {j + 1} of {cid}"} for j in range(n_traps)]
        cases.append({"id": cid, "kind": kind, "tags": ["synthetic", "clean" if clean else "planted"],
                      "title": f"Synthetic {kind} case {cid}", "findings": findings, "traps": traps})
    return cases


def _lookup(spec: Mapping[Any, float], case_id: str, item_id: str, default: float) -> float:
    for key in ((case_id, item_id), f"{case_id}/{item_id}", item_id, case_id, "*"):
        if key in spec:
            return float(spec[key])
    return default


def _prob(spec: ProbSpec, case: dict, item: dict, epoch: int, *, difficulty_sd: float, shift: float,
          default: float) -> float:
    if callable(spec):
        p = float(spec(case, item, epoch))
    elif isinstance(spec, Mapping):
        p = _lookup(spec, case["id"], item["id"], default)
    else:
        p = float(spec)
        if difficulty_sd and 0 < p < 1:
            z = math.log(p / (1 - p)) + difficulty_sd * difficulty(case["id"], item["id"])
            p = 1 / (1 + math.exp(-z))
    return min(1.0, max(0.0, p + shift))


def default_review(case: dict, epoch: int, found: list[dict], flagged: list[dict]) -> str:
    """A markdown review naming the found findings and the flagged traps, one numbered item each."""
    lines = [f"## Review of {case['title']} (epoch {epoch})", ""]
    items = [f"**{f['severity'].title()}** — {f['title']}." for f in found]
    items += [f"**Medium** — Possible problem: {t['title']}." for t in flagged]
    if not items:
        items = ["No significant issues found."]
    lines += [f"{i + 1}. {text}" for i, text in enumerate(items)]
    return "\n".join(lines) + "\n"


def write_synthetic_run(path: str | Path, *, cases: int | Sequence[dict] = 8, prompt_label: str = "v1",
                        model: str = "synthetic/model", epochs: int = 3, found_prob: ProbSpec = 0.6,
                        difficulty_sd: float = 1.0, shift: float = 0.0, trap_prob: ProbSpec = 0.1,
                        error_rate: float = 0.0, grader_error_rate: float = 0.0, judge: bool | float = False,
                        extra_issues_mean: float = 1.0, input_tokens_mean: float = 3000.0,
                        output_tokens_mean: float = 600.0, price_per_mtok: tuple[float, float] = (3.0, 15.0),
                        latency_mean_s: float = 8.0, review: str | ReviewFn | None = None, seed: int = 0,
                        run_id: str | None = None, prompt_fingerprint: str | None = None,
                        suite_fingerprint: str | None = None, status: str = "complete",
                        write_cases: bool = True) -> Path:
    """Write a complete synthetic run directory and return its path.

    Args:
        path: the run directory to create (must not hold a run yet).
        cases: a number of cases for :func:`make_cases` (with ``seed``), or case dicts in the ``cases.json``
            format (e.g. from :func:`make_cases`; share them between runs you want to pair).
        prompt_label, model: the variant; the prompt fingerprint defaults to sha256 of the label.
        epochs: epochs per case (>= 1).
        found_prob: probability a finding is found — float (with per-finding difficulty of sd ``difficulty_sd``
            on the logit scale), mapping or callable (see module docs).
        difficulty_sd: spread of the fixed per-finding difficulty when ``found_prob`` is a float (0 = none).
        shift: planted effect added to every found probability (e.g. +0.1 for a better prompt).
        trap_prob: probability a trap is flagged (float, mapping or callable; no difficulty).
        error_rate: fraction of samples whose model call fails (record.error set, no review, no grades).
        grader_error_rate: fraction of the remaining samples whose grading fails (grade.error set).
        judge: False for no judge; True (agreement 0.9) or a float agreement probability in [0, 1] (0.0 = the
            judge contradicts every verdict) to also write ``judge`` grades.
        extra_issues_mean: Poisson mean of unmatched review items per sample.
        input_tokens_mean, output_tokens_mean: token means; cost uses ``price_per_mtok`` (USD per million
            input, output tokens).
        latency_mean_s: mean latency (seconds, lognormal).
        review: fixed review text, or ``fn(case, epoch, found, flagged) -> str``; default :func:`default_review`.
        seed: RNG seed of every draw.
        run_id: default ``synthetic-<label>-<seed>``.
        prompt_fingerprint, suite_fingerprint: override the derived fingerprints.
        status: manifest status (``complete`` by default).
        write_cases: write ``cases.json`` (False simulates an old run directory without it).
    Returns:
        The run directory path.
    Raises:
        RecordError: when a run already exists at ``path``.
        ValueError: epochs < 1.
    """
    if epochs < 1:
        raise ValueError("epochs must be >= 1")
    rng = np.random.default_rng(seed)
    case_list = make_cases(cases, seed=seed) if isinstance(cases, int) else [dict(c) for c in cases]
    pfp = prompt_fingerprint or hashlib.sha256(f"synthetic prompt {prompt_label}".encode()).hexdigest()
    case_fps = {c["id"]: hashlib.sha256(json.dumps(c, sort_keys=True).encode()).hexdigest() for c in case_list}
    sfp = suite_fingerprint or hashlib.sha256("".join(sorted(case_fps.values())).encode()).hexdigest()
    has_judge = judge is True or (not isinstance(judge, bool) and judge is not None)
    agree = 0.9 if judge is True else float(judge) if has_judge else 0.0
    graders = ["deterministic"] + (["judge"] if has_judge else [])
    manifest = RunManifest(
        run_id=run_id or f"synthetic-{prompt_label}-{seed}", git_commit=None, started_at=utcnow(),
        status="running", suite_fingerprint=sfp, cases=[c["id"] for c in case_list],
        prompts=[PromptInfo(label=prompt_label, spec=f"prompts/synthetic/{prompt_label}.md", name="synthetic",
                            fingerprint=pfp)],
        models=[ModelInfo(name=model, provider="synthetic")], epochs=epochs, graders=graders,
        config={"synthetic": True, "seed": seed})
    rd = RunDir.create(path, manifest)
    if write_cases:
        write_cases_json(rd.path, case_list)
    n = errors = 0
    tokens = cost = 0.0
    records: list[SampleRecord] = []
    for case in case_list:
        for epoch in range(1, epochs + 1):
            n += 1
            rec = _sample(rng, case, epoch, prompt_label=prompt_label, pfp=pfp, model=model,
                          case_fp=case_fps[case["id"]], found_prob=found_prob, difficulty_sd=difficulty_sd,
                          shift=shift, trap_prob=trap_prob, error_rate=error_rate,
                          grader_error_rate=grader_error_rate, agree=agree, judge=has_judge,
                          extra_issues_mean=extra_issues_mean, in_mean=input_tokens_mean,
                          out_mean=output_tokens_mean, price=price_per_mtok, latency_mean=latency_mean_s,
                          review=review)
            errors += rec.error is not None
            tokens += sum(rec.usage.values())
            cost += rec.cost_usd or 0.0
            records.append(rec)
    rd.rewrite(records)           # one atomic write (appending with an fsync per record is slow for big suites)
    manifest.status = status
    manifest.ended_at = utcnow()
    manifest.summary = {"samples": n, "errors": errors, "retries": 0, "tokens": int(tokens),
                        "cost_usd": round(cost, 6)}
    rd.write_manifest()
    return rd.path


def _sample(rng: np.random.Generator, case: dict, epoch: int, *, prompt_label: str, pfp: str, model: str,
            case_fp: str, found_prob: ProbSpec, difficulty_sd: float, shift: float, trap_prob: ProbSpec,
            error_rate: float, grader_error_rate: float, agree: float, judge: bool, extra_issues_mean: float,
            in_mean: float, out_mean: float, price: tuple[float, float], latency_mean: float,
            review: str | ReviewFn | None) -> SampleRecord:
    base = dict(sample_id=sample_id(case["id"], pfp, model, epoch), case=case["id"], case_fingerprint=case_fp,
                kind=case.get("kind", ""), tags=list(case.get("tags", [])), prompt_version=prompt_label,
                prompt_fingerprint=pfp, model=model, epoch=epoch, started_at=utcnow(), finished_at=utcnow())
    latency = float(rng.lognormal(math.log(max(latency_mean, 1e-3)) - 0.125, 0.5))
    if rng.random() < error_rate:
        return SampleRecord(**base, latency_s=latency, retries=int(rng.integers(0, 4)),
                            error=SampleError(kind="overloaded", message="synthetic: server overloaded (529)",
                                              status=529))
    found = [f for f in case["findings"]
             if rng.random() < _prob(found_prob, case, f, epoch, difficulty_sd=difficulty_sd, shift=shift,
                                     default=0.6)]
    flagged = [t for t in case["traps"]
               if rng.random() < _prob(trap_prob, case, t, epoch, difficulty_sd=0.0, shift=0.0, default=0.1)]
    text = review(case, epoch, found, flagged) if callable(review) else (
        review if review is not None else default_review(case, epoch, found, flagged))
    tin = max(1, int(rng.normal(in_mean, in_mean * 0.1)))
    tout = max(1, int(rng.poisson(out_mean)))
    usage = {"input_tokens": tin, "output_tokens": tout, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 0}
    cost = (tin * price[0] + tout * price[1]) / 1e6
    grades = {}
    if rng.random() < grader_error_rate:
        grades["deterministic"] = SampleGrade(grader="deterministic", error="synthetic: grader failed")
    else:
        grades["deterministic"] = _grade("deterministic", case, found, flagged, text,
                                         int(rng.poisson(extra_issues_mean)))
    if judge:
        jf = [f for f in case["findings"] if (f in found) == (rng.random() < agree)]
        jt = [t for t in case["traps"] if (t in flagged) == (rng.random() < agree)]
        grades["judge"] = _grade("judge", case, jf, jt, text, None)
    return SampleRecord(**base, review=text, stop_reason="end_turn", usage=usage, cost_usd=cost, latency_s=latency,
                        generation={"temperature": 1.0, "max_tokens": 2048}, grades=grades)


def _quote(text: str, title: str) -> str:
    for line in text.splitlines():
        if title and title in line:
            return line.strip()
    return text.strip().splitlines()[0][:200] if text.strip() else ""


def _grade(name: str, case: dict, found: list[dict], flagged: list[dict], text: str, extra: int | None
           ) -> SampleGrade:
    fids = {f["id"] for f in found}
    tids = {t["id"] for t in flagged}
    item = 0 if name == "deterministic" else None
    return SampleGrade(
        grader=name,
        findings=[FindingVerdict(id=f["id"], found=f["id"] in fids,
                                 evidence=Evidence(item=item, quote=_quote(text, f["title"])) if f["id"] in fids
                                 else None,
                                 reason="synthetic verdict")
                  for f in case["findings"]],
        traps=[TrapVerdict(id=t["id"], flagged=t["id"] in tids,
                           evidence=Evidence(item=item, quote=_quote(text, t["title"])) if t["id"] in tids else None)
               for t in case["traps"]],
        extra_issues=extra)


# ---------------------------------------------------------------------- nights as summaries (gate simulations)

def simulate_suite(rng: np.random.Generator, *, n_cases: int = 25, findings: tuple[int, int] = (3, 10),
                   base_recall: float = 0.6, case_sd: float = 1.0, finding_sd: float = 1.0,
                   p_critical: float = 0.13) -> dict:
    """The truth of a synthetic suite for gate simulations: per finding a found probability
    ``expit(logit(base_recall) + u_case + v_finding)`` with case and finding difficulties drawn at random
    (``u ~ N(0, case_sd²)``, ``v ~ N(0, finding_sd²)``), a severity (critical with ``p_critical``, else high, medium
    or low), and a case id. Returns ``{case, finding, severity, p}`` arrays (one entry per finding)."""
    counts = rng.integers(findings[0], findings[1] + 1, size=n_cases)
    case = np.repeat(np.arange(n_cases), counts)
    z = math.log(base_recall / (1 - base_recall)) + rng.normal(0, case_sd, n_cases)[case] \
        + rng.normal(0, finding_sd, case.size)
    sev = np.where(rng.random(case.size) < p_critical, "critical",
                   rng.choice(np.array(["high", "medium", "low"]), size=case.size))
    finding = np.concatenate([np.arange(c) for c in counts])
    return {"case": np.array([f"case-{c:02d}" for c in case]),
            "finding": np.array([f"finding-{f + 1}" for f in finding]),
            "severity": sev, "p": 1 / (1 + np.exp(-z)), "case_index": case, "n_cases": n_cases}


def shift_for_recall_change(p: np.ndarray, change: float) -> float:
    """The additive shift s of every found probability (clipped to [0, 1]) that changes the suite's true recall
    (mean probability) by exactly ``change`` (bisection); raises ValueError when impossible."""
    def gain(s: float) -> float:
        return float(np.clip(p + s, 0, 1).mean() - p.mean())
    lo, hi = (0.0, 1.0) if change >= 0 else (-1.0, 0.0)
    if abs(gain(hi if change >= 0 else lo)) < abs(change):
        raise ValueError(f"a recall change of {change:+.3f} is impossible from mean {p.mean():.3f}")
    for _ in range(60):
        mid = (lo + hi) / 2
        if (gain(mid) < change) == (change >= 0):
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def simulate_night(rng: np.random.Generator, suite: dict, *, epochs: int = 3, error_rate: float = 0.0,
                   shift: float = 0.0, review_sd: float = 0.0, reducer: str = "mean") -> dict:
    """One night of a suite as the variant entry of a ``summary.json`` (what :mod:`harness.history` stores and
    the dashboard and ``harness nightly`` read): each (case, epoch) sample errors with ``error_rate`` (then none of
    its findings counts), otherwise each finding is found with its probability plus ``shift`` (clipped), with a
    review-level random effect of sd ``review_sd`` on the logit scale (0 = findings independent, as in the
    issue-13 model; 0.5 makes the findings of one review correlated).
    Returns ``{"variant", "counts": {"epochs"}, "findings": [{case, finding, severity, n_epochs, n_found,
    score}]}``."""
    from ..stats import reduce_counts
    n_cases = suite["n_cases"]
    ci = suite["case_index"]
    p = np.clip(suite["p"] + shift, 0, 1)
    ok = rng.random((n_cases, epochs)) >= error_rate                       # (cases, epochs)
    with np.errstate(divide="ignore"):
        logit = np.log(p) - np.log1p(-p)
    w = rng.normal(0, review_sd, (n_cases, epochs)) if review_sd else np.zeros((n_cases, epochs))
    pe = 1 / (1 + np.exp(-(logit[:, None] + w[ci])))                        # (findings, epochs)
    found = (rng.random(pe.shape) < pe) & ok[ci]
    n = ok[ci].sum(axis=1)
    k = found.sum(axis=1)
    score = reduce_counts(k, n, reducer, epochs)
    return {"variant": "v1 · synthetic/model", "counts": {"epochs": epochs},
            "findings": [{"case": c, "finding": f, "severity": s, "n_epochs": int(a), "n_found": int(b),
                          "score": float(x)}
                         for c, f, s, a, b, x in zip(suite["case"], suite["finding"], suite["severity"], n, k,
                                                     score)]}
