"""``harness compare BASELINE_RUN CANDIDATE_RUN``: a paired comparison of two runs (two prompt versions or two
models on the same cases), as markdown (fits a PR comment) and one self-contained HTML file, written to
``<reports_dir>/compare-<base-run-id>-vs-<cand-run-id>/compare.md`` and ``compare.html`` (``--out`` overrides).

What is compared: each expected finding's score over epochs (reducer from the config) is paired between the
runs by ``(case, finding)``; findings with no successful epoch in either run are unpaired and left out (errored
samples are never counted as misses). The verdict — *regressed*, *improved* or *inconclusive* — is the
regression gate of :mod:`harness.verdicts` (:func:`harness.verdicts.decide`), the same function the dashboard,
``harness nightly`` and ``pytest evals`` call: recall by a sign-flip test over cases (its printed interval is the
inverted test, so they agree), and critical findings by an exact per-finding test with Holm's correction. The
other metric rows show estimates, clustered-t intervals and Holm-adjusted p-values; they never decide anything.
The baseline may be several runs pooled (``BASELINE`` = ``run_a,run_b,run_c``): the critical-finding rule needs
several nights of epochs to have any power (see :mod:`harness.verdicts`).

Finding flips (descriptive, not a gate): a finding **regressed** when the baseline found it *reliably* — in at
least 2/3 of its successful epochs — and the candidate *misses it in most epochs* — found in fewer than half of
them (:func:`harness.stats.classify_flips`); an improvement is the reverse.

Exit codes of :func:`cli` (with ``--fail-on-regression``, :func:`harness.verdicts.exit_code`; without it, 0):

* 0 — reports written; the verdict is not *regressed* and the candidate run is complete.
* 1 — the verdict is *regressed*.
* 3 — not regressed, but the candidate run is incomplete (errored samples, budget reached).
* 2 — bad input: a path is not a run directory, the runs share no paired finding, a run holds several
  variants, or the chosen grader is missing (a :class:`~harness.errors.HarnessError`, mapped to 2 by
  :mod:`harness.cli`).
"""

from __future__ import annotations

import json
from urllib.parse import quote
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ..config import HarnessConfig, load_config
from ..errors import HarnessError
from ..exitcodes import ExitCode
from ..graders.registry import DEFAULT_GRADER, MODEL_GRADER, NAMES as GRADER_NAMES
from ..results import (OK, Agreement, ResultsTable, VariantSummary, grader_agreement, load_run, per_case, per_finding,
                       per_trap, summarize)
from ..results import pool_results
from ..stats import IMPROVED, REGRESSED, PairedComparison, classify_flips, paired_difference
from ..verdicts import INCONCLUSIVE, Verdict, decide, holm_family, power_advice
from ..textio import atomic_write_text
from . import charts
from .html import render_html, render_md
from .report import ordered, out_paths

EXCERPT = 1200


@dataclass
class MetricRow:
    """One compared metric: ``fmt`` is ``pct`` (fractions shown as %), ``num``, ``count`` (whole numbers such as
    tokens), ``usd`` or ``s`` (seconds);
    ``neutral`` metrics get no verdict (cost, tokens, extra issues)."""

    key: str
    label: str
    cmp: PairedComparison
    fmt: str = "pct"
    neutral: bool = False
    unit: str = "findings"


@dataclass
class Comparison:
    """Everything a comparison report shows. ``loud`` warnings (suite mismatch, unpaired cases/epochs) lead."""

    base: ResultsTable
    cand: ResultsTable
    base_summary: VariantSummary
    cand_summary: VariantSummary
    headline: PairedComparison
    metrics: list[MetricRow]
    groups: dict[str, list[dict]]
    per_case: pd.DataFrame
    findings: pd.DataFrame
    flips: list[dict]
    costs: list[MetricRow]
    agreement: dict[str, Agreement | None]
    gate: Verdict
    loud: list[str]
    warnings: list[str]
    charts: dict[str, str] = field(default_factory=dict)
    advice: list[str] = field(default_factory=list)
    calibration: str = ""   # the grader's last measured agreement with human labels (graders/record.py)

    @property
    def verdict(self) -> str:
        """The gate's verdict: ``regressed`` | ``improved`` | ``inconclusive``."""
        return self.gate.verdict

    @property
    def complete(self) -> bool:
        """The candidate run completed (its manifest status, with every record it counted present:
        :func:`harness.results.missing_records`); an incomplete one exits 3 unless regressed."""
        from ..results import missing_records
        return self.cand.manifest.status == "complete" and missing_records(self.cand.manifest,
                                                                           self.cand.records) is None

    def exit_code(self) -> int:
        """:func:`harness.verdicts.exit_code` of this comparison."""
        return self.gate.exit_code(self.complete)


# -------------------------------------------------------------------------------------------------- analysis

def _only(df: pd.DataFrame, variant: str) -> pd.DataFrame:
    return df[df["variant"] == variant]


def _one_variant(res: ResultsTable, variant: str | None, role: str) -> str:
    vs = res.variants
    if variant:
        if variant not in vs:
            raise HarnessError(f"{role} run has no variant {variant!r}; it has: {', '.join(vs)}", file=res.path)
        return variant
    if len(vs) != 1:
        how = ""
        if len(vs) == 2:
            how = f"; to compare its two variants with each other: `harness compare {res.path}`"
        elif vs:
            how = (f"; choose one with --{role.split()[-1]}-variant, or compare two of its variants with each other: "
                   f"`harness compare {res.path} --baseline-variant {_q(vs[0])} --candidate-variant {_q(vs[1])}`")
        raise HarnessError(f"{role} run holds {len(vs)} variants ({', '.join(vs) or 'no samples'}); expected exactly "
                           "one prompt version × model per run to compare it with another run" + how, file=res.path)
    return vs[0]


def _q(text: str) -> str:
    """``text`` quoted for a POSIX shell when it needs it (variant labels hold spaces: ``v1 · model``)."""
    import shlex
    return shlex.quote(text)


def run_variants(run: str | Path) -> list[str]:
    """The variants (:func:`harness.results.variant_label`) a run's samples hold, in the order the run was
    started with (its run.json prompts, then models: ``--prompt A --prompt B`` gives A first), any other after.
    Raises RecordError: not a run directory."""
    from ..records import RunDir
    from ..results import variant_label
    rd = RunDir.open(run)
    have = list(dict.fromkeys(variant_label(r.prompt_version, r.model) for r in rd.read_samples().records))
    m = rd.manifest
    planned = [variant_label(p.label, x.name) for p in m.prompts for x in m.models]
    return [v for v in planned if v in have] + [v for v in have if v not in planned]


def two_variants(run: str | Path, base_variant: str | None = None, cand_variant: str | None = None
                 ) -> tuple[str, str]:
    """Which two variants of one run ``harness compare RUN`` compares: the chosen ones, else the run's only two
    (the first it was started with is the baseline). Raises HarnessError naming the command that does compare
    them when the run does not hold exactly two (or a chosen one is not in it)."""
    vs = run_variants(run)
    for v in (base_variant, cand_variant):
        if v and v not in vs:
            raise HarnessError(f"no variant {v!r} in the run; it has: {', '.join(vs) or 'no samples'}", file=run)
    if base_variant and cand_variant:
        return base_variant, cand_variant
    rest = [v for v in vs if v not in (base_variant, cand_variant)]
    if len(vs) == 2:
        return (base_variant or rest[0], cand_variant or rest[0]) if (base_variant or cand_variant) else (vs[0], vs[1])
    if len(vs) < 2:
        raise HarnessError(f"the run holds {len(vs)} variant(s) ({', '.join(vs) or 'no samples'}); comparing within "
                           "one run needs two prompt versions or models (harness run --prompt A --prompt B); to "
                           f"compare it with another run: `harness compare {run} OTHER_RUN`", file=run)
    raise HarnessError(f"the run holds {len(vs)} variants ({', '.join(vs)}); choose two: `harness compare {run} "
                       f"--baseline-variant {_q(vs[0])} --candidate-variant {_q(vs[1])}`", file=run)


def _common_grader(present: list[set[str]], grader: str | None, runs: Sequence[ResultsTable] = ()) -> str:
    if grader:
        return grader
    for g in GRADER_NAMES:   # in the registry's order: the default grader first
        if all(g in p for p in present):
            return g
    common = set.intersection(*present)
    if not common:
        # a run with no grade at all has no gradable review (every sample errored, truncated...): re-grading it
        # cannot help; running its samples again can
        bare = [r for r, p in zip(runs, present) if not p]
        if bare:
            from ..outcomes import count_outcomes, format_counts
            what = "; ".join(f"{r.path or r.run_id}: {len(r.records)} samples, "
                             f"{format_counts(count_outcomes(r.records))}" if r.records else
                             f"{r.path or r.run_id}: no sample record at all" for r in bare)
            raise HarnessError(f"nothing to compare: no sample of {', '.join(str(r.path or r.run_id) for r in bare)} "
                               f"has a gradable review ({what}). Once the cause is fixed, send them again: "
                               + " and ".join(f"`harness run --resume {r.path}`" for r in bare if r.path) +
                               " sends every sample not recorded or recorded with an error (a re-grade cannot "
                               "help: there is no review to grade)")
        raise HarnessError("the two runs have no grader in common (baseline: "
                           f"{', '.join(sorted(present[0])) or 'none'}; candidate: "
                           f"{', '.join(sorted(present[-1])) or 'none'}); re-grade one with `harness grade RUN "
                           "--grader G` so both have G")
    return sorted(common)[0]


def pair_findings(pf_b: pd.DataFrame, pf_c: pd.DataFrame) -> pd.DataFrame:
    """Outer-join two runs' per-finding frames on (case, finding).

    Columns: case, finding, title, severity, category, kind, weight, n_epochs_b/n_found_b/rate_b/score_b and the
    same with ``_c``, paired (both have a successful epoch), diff (score_c − score_b), flip.
    """
    cols = ["case", "finding", "n_epochs", "n_found", "found_rate", "score"]
    meta = ["case", "finding", "title", "severity", "category", "kind", "weight"]
    m = pd.merge(pf_b[cols], pf_c[cols], on=["case", "finding"], how="outer", suffixes=("_b", "_c"))
    info = pd.concat([pf_c[meta], pf_b[meta]]).drop_duplicates(["case", "finding"])
    m = m.merge(info, on=["case", "finding"], how="left")
    for s in ("_b", "_c"):
        m[f"n_epochs{s}"] = m[f"n_epochs{s}"].fillna(0).astype(int)
        m[f"n_found{s}"] = m[f"n_found{s}"].fillna(0).astype(int)
    m["paired"] = (m["n_epochs_b"] > 0) & (m["n_epochs_c"] > 0)
    m["diff"] = np.where(m["paired"], m["score_c"] - m["score_b"], np.nan)
    m["flip"] = np.where(m["paired"], classify_flips(m["found_rate_b"], m["found_rate_c"]), "")
    return m.sort_values(["case", "finding"], kind="stable").reset_index(drop=True)


def check_distinct(paths: list[Path], given: list[str], *, what: str = "baseline") -> list[Path]:
    """``paths`` (resolved run directories of a pooled setting ``given``), unless one is listed twice.
    Raises HarnessError naming the repeated run and how it was written."""
    seen: dict[Path, str] = {}
    for path, v in zip(paths, given):
        key = Path(path).resolve()
        if key in seen:
            raise HarnessError(f"{what} run {v!r} is listed twice (also as {seen[key]!r}): each run of a pooled "
                               f"{what} must be a different night, or one run would count as several",
                               field=f"--{what}")
        seen[key] = v
    return paths


def baseline_paths(baseline: str | Path | Sequence[str | Path]) -> list[Path]:
    """The run directories of a baseline: one path, a comma-separated list of paths (``a,b,c``: several nights
    pooled), or a sequence of paths. Raises HarnessError: one run listed twice (it would count as two nights)."""
    if isinstance(baseline, (str, Path)):
        parts = [x.strip() for x in str(baseline).split(",")] if "," in str(baseline) else [str(baseline)]
    else:
        parts = [str(x) for x in baseline]
    parts = [x for x in parts if x]
    return check_distinct([Path(x) for x in parts], parts)


def compare_runs(baseline: str | Path | Sequence[str | Path], candidate: str | Path, *, grader: str | None = None,
                 config: HarnessConfig | None = None, suite: Iterable[Any] | None = None,
                 base_variant: str | None = None, cand_variant: str | None = None, seed: int = 0,
                 with_charts: bool = True) -> Comparison:
    """Compare a candidate run with a baseline run (or several baseline runs pooled).

    Args:
        baseline: a run directory, several (a sequence, or one string ``a,b,c``) pooled into one baseline —
            every successful epoch of every night counts (:func:`harness.results.pool_results`).
        candidate: a run directory.
        grader: whose verdicts to compare; default the first of deterministic, judge that both runs have.
        config: settings (severity weights, reducer); default :func:`harness.config.load_config`.
        suite: loaded cases, used only for runs without ``cases.json``.
        base_variant, cand_variant: which (prompt × model) variant when a run holds several.
        seed: seed of the Monte Carlo sign flips (more than 12 cases), so reports are reproducible.
        with_charts: render SVG charts.
    Returns:
        A :class:`Comparison`; ``gate`` is the :class:`harness.verdicts.Verdict`.
    Raises:
        HarnessError: unreadable run, several variants, no grader in common, or no paired finding.
    """
    config = config or load_config()
    kw: dict[str, Any] = dict(suite=suite, severity_weights=config.severity_weights, reducer=config.reducer)
    bpaths = baseline_paths(baseline)
    bases = [load_run(p, grader=grader, **kw) for p in bpaths]
    cand = load_run(candidate, grader=grader, **kw)
    chosen = _common_grader([*(set(b.graders_present) for b in bases), set(cand.graders_present)], grader,
                            [*bases, cand])
    bases = [b if b.grader == chosen else load_run(p, grader=chosen, **kw) for b, p in zip(bases, bpaths)]
    if cand.grader != chosen:
        cand = load_run(candidate, grader=chosen, **kw)
    bv = _one_variant(bases[0], base_variant, "baseline")
    for b in bases[1:]:
        _one_variant(b, bv, "pooled baseline")
    base = pool_results(bases)
    cv = _one_variant(cand, cand_variant, "candidate")
    pf_b, pf_c = _only(per_finding(base), bv), _only(per_finding(cand), cv)
    pt_b, pt_c = _only(per_trap(base), bv), _only(per_trap(cand), cv)
    sb = next(s for s in summarize(base, pf_b, pt_b) if s.variant == bv)
    sc = next(s for s in summarize(cand, pf_c, pt_c) if s.variant == cv)
    pairs = pair_findings(pf_b, pf_c)
    paired = pairs[pairs["paired"]]
    if paired.empty:
        raise HarnessError("the two runs share no finding with a successful epoch in both; nothing to compare "
                           f"(baseline cases: {len(base.cases)}, candidate cases: {len(cand.cases)})")
    loud, warnings = _mismatch_warnings(base, cand, bv, cv, pairs)
    warnings += [f"baseline: {w}" for w in base.warnings] + [f"candidate: {w}" for w in cand.warnings]
    for role, s in (("baseline", sb), ("candidate", sc)):
        if s.n_errors or s.n_grader_errors or s.n_ungraded:
            warnings.append(f"{role}: {s.n_errors} errored, {s.n_grader_errors} grader-error and {s.n_ungraded} "
                            f"ungraded samples of {s.n_samples} are excluded (never counted as misses)")
    if len(bases) > 1:
        warnings.append(f"baseline pooled over {len(bases)} runs: {', '.join(b.run_id for b in bases)}")

    def pdiff(df: pd.DataFrame, a: str, b: str, *, weights: str | None = None, hib: bool = True,
              proportion: bool = True) -> PairedComparison:
        return paired_difference(df[a].to_numpy(float), df[b].to_numpy(float), df["case"].to_numpy(),
                                 df[weights].to_numpy(float) if weights else None, higher_is_better=hib, seed=seed,
                                 proportion=proportion)

    verdict = decide(pf_b, pf_c, reducer=base.reducer, base_epochs=base.epochs_per_run, base_runs=len(bases),
                     seed=seed)
    headline = verdict.recall
    traps = pd.merge(pt_b[["case", "trap", "n_epochs", "score"]], pt_c[["case", "trap", "n_epochs", "score"]],
                     on=["case", "trap"], suffixes=("_b", "_c"))
    traps = traps[(traps["n_epochs_b"] > 0) & (traps["n_epochs_c"] > 0)]
    pc = _paired_cases(base, cand, bv, cv, pf_b, pf_c, pt_b, pt_c, pairs)
    pcx = pc[pc["paired"]]
    secondary = [
        ("weighted_recall", "severity-weighted recall", pdiff(paired, "score_b", "score_c", weights="weight"),
         "findings"),
        ("critical_high_recall", "recall on critical/high findings",
         pdiff(paired[paired["severity"].isin(["critical", "high"])], "score_b", "score_c"), "findings"),
        ("trap_fp_rate", "trap false-positive rate", pdiff(traps, "score_b", "score_c", hib=False), "traps"),
    ]
    adjusted = holm_family([c for _, _, c, _ in secondary])
    metrics = [MetricRow("recall", "recall", headline)] + [
        MetricRow(k, lab, c, unit=u) for (k, lab, _, u), c in zip(secondary, adjusted)] + [
        MetricRow("extra_issues", "extra issues per review",
                  pdiff(pcx.dropna(subset=["extra_issues_b", "extra_issues_c"]), "extra_issues_b",
                        "extra_issues_c", proportion=False), fmt="num", neutral=True, unit="cases"),
    ]
    costs = [MetricRow(k, lab, pdiff(pcx.dropna(subset=[f"{k}_b", f"{k}_c"]), f"{k}_b", f"{k}_c", proportion=False),
                       fmt=f,
                       neutral=True, unit="cases")
             for k, lab, f in (("cost_per_sample", "cost per sample (USD)", "usd"),
                               ("tokens_per_sample", "tokens per sample", "count"),
                               ("latency_s", "latency per sample (s)", "s"))]
    groups = {}
    for by in ("category", "severity", "kind"):
        names = ordered(paired[by], by)
        cmps = holm_family([pdiff(paired[paired[by] == g], "score_b", "score_c") for g in names])
        groups[by] = [{"group": g, "cmp": c} for g, c in zip(names, cmps)]
    flips = _flip_rows(base, cand, bv, cv, pairs, trap_flips(pt_b, pt_c))
    from .report import grader_calibration
    cal = grader_calibration(config, cand)
    warnings += cal.stale
    cmp = Comparison(
        calibration=cal.text, base=base, cand=cand, base_summary=sb, cand_summary=sc, headline=headline,
        metrics=metrics, groups=groups,
        per_case=pc, findings=pairs, flips=flips, costs=costs,
        agreement={"baseline": _agreement(base), "candidate": _agreement(cand)},
        gate=verdict, loud=loud, warnings=list(dict.fromkeys(warnings)),
        advice=power_advice(_epoch_counts(base, cand, bv, cv, paired), headline,
                            epochs=min(base.epochs_per_run, cand.epochs_per_run)))
    if with_charts:
        cmp.charts = compare_charts(cmp)
    return cmp


def _epoch_counts(base: ResultsTable, cand: ResultsTable, bv: str, cv: str, paired: pd.DataFrame) -> pd.DataFrame:
    """Per (run, case, epoch) successful sample: paired findings found and paired findings of the case (the
    within-run epoch noise behind :func:`harness.verdicts.power_advice`)."""
    keys = set(zip(paired["case"], paired["finding"]))
    out = []
    for tag, res, v in (("b", base, bv), ("c", cand, cv)):
        f = res.findings
        f = f[(f["variant"] == v) & (f["status"] == OK) & f["found"].notna()]
        f = f[[k in keys for k in zip(f["case"], f["finding"])]]
        g = (f.assign(_f=f["found"].astype(bool).astype(int))
             .groupby(["run", "case", "epoch"], sort=False).agg(n_found=("_f", "sum"), n_items=("_f", "size"))
             .reset_index())
        g["run"] = tag + ":" + g["run"].astype(str)
        out.append(g)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["run", "case", "n_found", "n_items"])


def _agreement(res: ResultsTable) -> Agreement | None:
    return grader_agreement(res) if {DEFAULT_GRADER, MODEL_GRADER} <= set(res.graders_present) else None


def changed_cases(base: ResultsTable, cand: ResultsTable, cases: Iterable[str]) -> tuple[list[str], list[str]]:
    """Which of ``cases`` (compared in both runs) changed between the runs, judged per case from each sample
    record's ``case_fingerprint`` (the fingerprint of the case's files when the sample ran), so a run of a subset
    of the suite, or of a suite with other cases added, is no change. Returns ``(changed, unknown)``: sorted case
    ids whose fingerprints differ (between the runs, or within a pooled baseline), and those with no fingerprint
    recorded on one side (older records), which only the runs' suite fingerprints can speak for."""
    fb: dict[str, set[str]] = {}
    fc: dict[str, set[str]] = {}
    for recs, into in ((base.records, fb), (cand.records, fc)):
        for r in recs:
            if r.case_fingerprint:
                into.setdefault(r.case, set()).add(r.case_fingerprint)
    changed, unknown = [], []
    for c in sorted(cases):
        if c not in fb or c not in fc:
            unknown.append(c)
        elif len(fb[c] | fc[c]) > 1:
            changed.append(c)
    return changed, unknown


def _generation_differences(mb, mc, sb: pd.DataFrame, sc: pd.DataFrame) -> list[str]:
    """The generation settings (temperature, max_tokens, top_p...) of the compared variants' models that differ
    between the baseline's and the candidate's run.json: ``["temperature: baseline 0.7, candidate 0.0", ...]``."""
    def gen_of(manifest, samples: pd.DataFrame) -> dict:
        models = set(samples["model"]) if "model" in samples else set()
        gens = [m.generation for m in manifest.models if not models or m.name in models]
        return gens[0] if len(gens) == 1 else {}
    gb, gc = gen_of(mb, sb), gen_of(mc, sc)
    return [f"{k}: baseline {gb.get(k)}, candidate {gc.get(k)}" for k in sorted(set(gb) | set(gc))
            if gb and gc and gb.get(k) != gc.get(k)]


def _mismatch_warnings(base: ResultsTable, cand: ResultsTable, bv: str, cv: str, pairs: pd.DataFrame
                       ) -> tuple[list[str], list[str]]:
    loud, soft = [], []
    mb, mc = base.manifest, cand.manifest
    sb = base.samples[base.samples["variant"] == bv]
    sc = cand.samples[cand.samples["variant"] == cv]
    cb, cc = set(sb["case"]), set(sc["case"])
    if cb - cc:
        loud.append(f"{len(cb - cc)} case(s) only in the baseline, left out: {', '.join(sorted(cb - cc)[:20])}")
    if cc - cb:
        loud.append(f"{len(cc - cb)} case(s) only in the candidate, left out: {', '.join(sorted(cc - cb)[:20])}")
    eb, ec = sorted(set(sb["epoch"])), sorted(set(sc["epoch"]))
    if eb != ec:
        loud.append(f"epochs do not pair: baseline has {len(eb)} epoch(s), candidate {len(ec)}; scores are compared "
                    "as per-finding rates over each run's epochs")
    fpb = sb.groupby("case")["sample_id"].size() / max(1, len(base.pooled))     # per baseline run
    fpc = sc.groupby("case")["sample_id"].size()
    uneven = sorted(c for c in cb & cc if fpb.get(c) != fpc.get(c))
    if uneven and eb == ec:
        soft.append(f"{len(uneven)} case(s) have different numbers of samples in the two runs: "
                    f"{', '.join(uneven[:20])}")
    diff = _generation_differences(mb, mc, sb, sc)
    if diff:
        # a sampling change moves recall as a prompt change does (temperature, a max_tokens that cuts reviews):
        # the difference would mix the two
        loud.append("SAMPLED DIFFERENTLY: " + "; ".join(diff) + ", so a difference may come from the sampling, "
                    "not the prompt (run both with the same --temperature and --max-tokens)")
    changed, unknown = changed_cases(base, cand, cb & cc)
    if changed:
        loud.append(f"CASES CHANGED between the runs: the content of {len(changed)} compared case(s) differs "
                    f"({', '.join(changed[:20])}), so a difference there may come from the case, not the prompt or "
                    "model")
    if unknown and mb.suite_fingerprint != mc.suite_fingerprint:
        # records without a case fingerprint (older runs): only the suite's fingerprint is left to go by
        loud.append(f"SUITE FINGERPRINTS DIFFER (baseline {mb.suite_fingerprint[:12] or 'n/a'}, candidate "
                    f"{mc.suite_fingerprint[:12] or 'n/a'}) and {len(unknown)} compared case(s) have no case "
                    "fingerprint in their records: the cases may have changed between the runs")
    unpaired = pairs[~pairs["paired"]]
    if len(unpaired):
        soft.append(f"{len(unpaired)} finding(s) are unpaired (absent, or no successful epoch, in one run) and "
                    "left out of the comparison")
    same_prompt = sb["prompt_fingerprint"].iloc[0] == sc["prompt_fingerprint"].iloc[0]
    pb, pc_ = sb["prompt_version"].iloc[0], sc["prompt_version"].iloc[0]
    if same_prompt and pb != pc_:
        # two names, one text (git:main:v1.md and v1.md): say so, or the reader takes it for two versions
        loud.append(f"the baseline's prompt {pb} and the candidate's prompt {pc_} have identical contents "
                    f"(fingerprint {str(sb['prompt_fingerprint'].iloc[0])[:12]}): "
                    + ("this compares the prompt with itself (A/A: every difference is noise)"
                       if sb["model"].iloc[0] == sc["model"].iloc[0] else "only the model differs"))
    elif same_prompt and sb["model"].iloc[0] == sc["model"].iloc[0]:
        soft.append("both runs use the same prompt fingerprint and model: this is an A/A comparison (useful to "
                    "check noise)")
    for role, m in (("baseline", mb), ("candidate", mc)):
        if m.status != "complete":
            soft.append(f"{role} run status is {m.status!r}" + (f" ({m.status_reason})" if m.status_reason else ""))
    if base.reducer != "mean":
        soft.append(f"epochs reduced with {base.reducer!r}; the simulation-checked interval assumes 'mean'")
    return loud, soft


def _paired_cases(base: ResultsTable, cand: ResultsTable, bv: str, cv: str, pf_b, pf_c, pt_b, pt_c,
                  pairs: pd.DataFrame) -> pd.DataFrame:
    cb = per_case(base, pf_b, pt_b)
    cc = per_case(cand, pf_c, pt_c)
    cb, cc = cb[cb["variant"] == bv], cc[cc["variant"] == cv]

    def per_sample(res: ResultsTable, v: str) -> pd.DataFrame:
        s = res.samples[res.samples["variant"] == v]
        return s.groupby("case").agg(cost_per_sample=("cost_usd", "mean"), tokens_per_sample=("total_tokens", "mean"),
                                     latency_s_=("latency_s", "mean")).reset_index()

    cols = ["case", "kind", "title", "n_findings", "n_ok", "n_ok_outcome", "n_samples", "recall", "weighted_recall",
            "trap_fp_rate", "extra_issues", "critical_high_missed"]
    m = pd.merge(cb[cols].merge(per_sample(base, bv), on="case", how="left"),
                 cc[cols].merge(per_sample(cand, cv), on="case", how="left"),
                 on="case", how="outer", suffixes=("_b", "_c"))
    m = m.rename(columns={"latency_s__b": "latency_s_b", "latency_s__c": "latency_s_c"})
    m["kind"] = m["kind_c"].fillna(m["kind_b"])
    m["title"] = m["title_c"].fillna(m["title_b"])
    m["n_findings"] = m["n_findings_c"].fillna(m["n_findings_b"]).fillna(0).astype(int)
    m["paired"] = m["n_ok_b"].fillna(0).gt(0) & m["n_ok_c"].fillna(0).gt(0)
    m["recall_diff"] = m["recall_c"] - m["recall_b"]
    m["weighted_recall_diff"] = m["weighted_recall_c"] - m["weighted_recall_b"]
    m["trap_fp_diff"] = m["trap_fp_rate_c"] - m["trap_fp_rate_b"]
    fl = pairs[pairs["flip"] != ""].groupby(["case", "flip"]).size().unstack(fill_value=0)
    m["regressed"] = m["case"].map(fl[REGRESSED] if REGRESSED in fl else {}).fillna(0).astype(int)
    m["improved"] = m["case"].map(fl[IMPROVED] if IMPROVED in fl else {}).fillna(0).astype(int)
    return m.sort_values(["recall_diff", "case"], kind="stable", na_position="last").reset_index(drop=True)


def _excerpts(res: ResultsTable, variant: str, wanted: set[tuple[str, str]], *, frame: str = "findings",
              item: str = "finding", flag: str = "found") -> dict[tuple[str, str, bool], dict]:
    """For each wanted (case, item), the first ok epoch where it was found (flagged, for traps) and where it was
    not: epoch, the grader's quote, the review text and the sample's element id in the side-by-side view."""
    f = getattr(res, frame)
    if f.empty:
        return {}
    f = f[(f["variant"] == variant) & (f["status"] == OK) & f[flag].notna()]
    f = f[[(c, x) in wanted for c, x in zip(f["case"], f[item])]]
    out: dict[tuple[str, str, bool], dict] = {}
    for r in f.sort_values("epoch").to_dict("records"):
        key = (r["case"], r[item], bool(r[flag]))
        if key not in out:
            out[key] = {"epoch": int(r["epoch"]), "quote": r.get("evidence") or "",
                        "review": res.review(r["sample_id"]) or "", "sample_id": r["sample_id"]}
    return out


def trap_flips(pt_b: pd.DataFrame, pt_c: pd.DataFrame) -> pd.DataFrame:
    """Traps whose flagging flipped: ``regressed`` — a **new false alarm**: the baseline left the trap alone
    reliably (not flagged in ≥ 2/3 of its epochs) and the candidate flags it in most epochs (not flagged in
    < 1/2); ``improved`` the reverse. :func:`harness.stats.classify_flips` on the not-flagged rates, the rule of
    finding flips. Columns: case, trap, title, n_flagged_b/n_epochs_b/n_flagged_c/n_epochs_c, flip."""
    cols = ["case", "trap", "n_epochs", "n_flagged", "flagged_rate"]
    if pt_b.empty or pt_c.empty:
        return pd.DataFrame(columns=["case", "trap", "title", "flip"])
    m = pd.merge(pt_b[cols], pt_c[cols + ["title"]], on=["case", "trap"], suffixes=("_b", "_c"))
    m = m[(m["n_epochs_b"] > 0) & (m["n_epochs_c"] > 0)].copy()
    m["flip"] = classify_flips(1 - m["flagged_rate_b"].to_numpy(float), 1 - m["flagged_rate_c"].to_numpy(float)) \
        if len(m) else []
    return m[m["flip"] != ""].reset_index(drop=True)


def _flip_rows(base: ResultsTable, cand: ResultsTable, bv: str, cv: str, pairs: pd.DataFrame,
               traps: pd.DataFrame | None = None) -> list[dict]:
    """Flips, worst first: lost findings by severity, then new trap false alarms, then gained findings, then
    trap false alarms that went away. Each row: kind (finding|trap), case, finding (the item id), title,
    severity, category, flip, counts, and the baseline's and candidate's excerpt."""
    out = []
    fl = pairs[pairs["flip"] != ""].copy()
    wanted = set(zip(fl["case"], fl["finding"]))
    ex_b, ex_c = _excerpts(base, bv, wanted), _excerpts(cand, cv, wanted)
    none = {"epoch": None, "quote": "", "review": "", "sample_id": ""}
    sev_rank = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    rows = []
    for _, r in fl.iterrows():
        reg = r["flip"] == REGRESSED
        rows.append(((0 if reg else 2, sev_rank.get(r["severity"], 4), r["case"], r["finding"]), {
            "kind": "finding",
            **{k: r[k] for k in ("case", "finding", "title", "severity", "category", "flip", "n_found_b",
                                 "n_epochs_b", "n_found_c", "n_epochs_c", "found_rate_b", "found_rate_c")},
            "base": ex_b.get((r["case"], r["finding"], reg), none),
            "cand": ex_c.get((r["case"], r["finding"], not reg), none)}))
    if traps is not None and len(traps):
        wanted_t = set(zip(traps["case"], traps["trap"]))
        kw = dict(frame="traps", item="trap", flag="flagged")
        tb, tc = _excerpts(base, bv, wanted_t, **kw), _excerpts(cand, cv, wanted_t, **kw)
        for _, r in traps.iterrows():
            reg = r["flip"] == REGRESSED        # a new false alarm: not flagged before, flagged now
            rows.append(((1 if reg else 3, 0, r["case"], r["trap"]), {
                "kind": "trap", "case": r["case"], "finding": r["trap"], "title": r["title"], "severity": "trap",
                "category": "false alarm", "flip": r["flip"],
                "n_found_b": int(r["n_flagged_b"]), "n_epochs_b": int(r["n_epochs_b"]),
                "n_found_c": int(r["n_flagged_c"]), "n_epochs_c": int(r["n_epochs_c"]),
                "found_rate_b": r["flagged_rate_b"], "found_rate_c": r["flagged_rate_c"],
                "base": tb.get((r["case"], r["trap"], not reg), none),
                "cand": tc.get((r["case"], r["trap"], reg), none)}))
    for _, row in sorted(rows, key=lambda x: x[0]):
        out.append(row)
    return out


def side_by_side(cmp: "Comparison") -> list[dict]:
    """Per case, the baseline's and the candidate's samples (:func:`harness.report.samples.case_views`), cases
    with flips first (in the order of :attr:`Comparison.flips`), then by the size of the recall change.
    Rows: ``{case, title, kind, flips: [flip kinds and ids], recall_b, recall_c, base: [sample views], cand:
    [sample views]}``."""
    from .samples import case_views
    bv, cv = cmp.base_summary.variant, cmp.cand_summary.variant
    base = {x["case"]: x for x in case_views(cmp.base, variants=[bv], prefix="b")}
    cand = {x["case"]: x for x in case_views(cmp.cand, variants=[cv], prefix="c")}
    flip_order: dict[str, list[dict]] = {}
    for f in cmp.flips:
        flip_order.setdefault(f["case"], []).append(f)
    pc = cmp.per_case.set_index("case") if len(cmp.per_case) else None
    rest = sorted((c for c in dict.fromkeys([*base, *cand]) if c not in flip_order),
                  key=lambda c: (-abs(float(pc.loc[c, "recall_diff"])) if pc is not None and c in pc.index
                                 and pd.notna(pc.loc[c, "recall_diff"]) else 0.0, c))
    out = []
    for c in [*flip_order, *rest]:
        meta = cand.get(c) or base.get(c) or {}
        row = pc.loc[c] if pc is not None and c in pc.index else None
        out.append({"case": c, "title": meta.get("title", ""), "kind": meta.get("kind", ""),
                    "flips": flip_order.get(c, []),
                    "recall_b": row["recall_b"] if row is not None else float("nan"),
                    "recall_c": row["recall_c"] if row is not None else float("nan"),
                    "base": base.get(c, {}).get("samples", []), "cand": cand.get(c, {}).get("samples", [])})
    return out


# ---------------------------------------------------------------------------------------------------- charts

def compare_charts(cmp: Comparison) -> dict[str, str]:
    """SVG charts: headline differences, differences by category and severity, per-case scatter, latency."""
    out = {}
    rows = [m for m in cmp.metrics if m.fmt == "pct"]
    out["headline"] = charts.forest([m.label for m in rows], [m.cmp.diff for m in rows], [m.cmp.lo for m in rows],
                                    [m.cmp.hi for m in rows],
                                    title="Candidate − baseline (95% CI, clustered by case)")
    for by in ("category", "severity"):
        g = cmp.groups[by]
        out[by] = charts.forest([r["group"] for r in g], [r["cmp"].diff for r in g], [r["cmp"].lo for r in g],
                                [r["cmp"].hi for r in g], title=f"Recall difference by {by} (95% CI)")
    pc = cmp.per_case[cmp.per_case["paired"] & (cmp.per_case["n_findings"] > 0)]
    out["cases"] = charts.paired_scatter(pc["recall_b"].tolist(), pc["recall_c"].tolist(),
                                         title="Recall per case", xlabel=f"baseline ({cmp.base_summary.variant})",
                                         ylabel=f"candidate ({cmp.cand_summary.variant})")
    out["latency"] = charts.histogram(
        {"baseline": _only(cmp.base.samples, cmp.base_summary.variant)["latency_s"].tolist(),
         "candidate": _only(cmp.cand.samples, cmp.cand_summary.variant)["latency_s"].tolist()},
        title="Latency per sample", xlabel="seconds")
    return out


# ------------------------------------------------------------------------------------------------- rendering

def _records(df: pd.DataFrame) -> list[dict]:
    return [] if df is None or df.empty else df.to_dict("records")


def context(cmp: Comparison, *, samples: bool = False) -> dict:
    """The template context shared by the markdown and HTML comparison templates; ``samples`` adds the reviews
    side by side (:func:`side_by_side`, HTML only)."""
    h = cmp.headline
    pairs = cmp.findings.copy()
    pairs["_abs"] = pairs["diff"].abs()
    side = side_by_side(cmp) if samples else []
    return {
        "side": side, "case_anchor": {r["case"]: f"case-{i}" for i, r in enumerate(side)},
        "cmp": cmp, "h": h, "b": cmp.base_summary, "c": cmp.cand_summary, "mb": cmp.base.manifest,
        "mc": cmp.cand.manifest, "verdict": cmp.verdict, "advice": cmp.advice,
        "verdict_class": {IMPROVED: "improved", REGRESSED: "regressed", INCONCLUSIVE: "nochange"}[cmp.verdict],
        "metrics": cmp.metrics, "costs": cmp.costs, "groups": cmp.groups, "per_case": _records(cmp.per_case),
        "changed_cases": _records(cmp.per_case[cmp.per_case["recall_diff"].abs() > 1e-12]
                                  .assign(_a=lambda d: d["recall_diff"].abs())
                                  .sort_values(["_a", "case"], ascending=[False, True])),
        "findings": _records(pairs.sort_values(["_abs", "case", "finding"], ascending=[False, True, True],
                                               na_position="last")),
        "flips": cmp.flips, "regressions": [f for f in cmp.flips if f["flip"] == REGRESSED],
        "improvements": [f for f in cmp.flips if f["flip"] == IMPROVED],
        "new_false_alarms": [f for f in cmp.flips if f["flip"] == REGRESSED and f["kind"] == "trap"],
        "agreement": cmp.agreement, "gate": cmp.gate, "loud": cmp.loud, "warnings": cmp.warnings,
        "calibration": cmp.calibration,
        "charts": cmp.charts, "grader": cmp.base.grader, "reducer": cmp.base.reducer, "excerpt": EXCERPT,
        "manifests": [("baseline", cmp.base.manifest), ("candidate", cmp.cand.manifest)],
        "manifest_json": {k: json.dumps(m.model_dump(mode="json"), indent=2, ensure_ascii=False)
                          for k, m in (("baseline", cmp.base.manifest), ("candidate", cmp.cand.manifest))},
        "title": (f"Comparison — {cmp.base_summary.variant} vs {cmp.cand_summary.variant} in {cmp.base.run_id}"
                  if _within_one_run(cmp) else f"Comparison — {cmp.base.run_id} vs {cmp.cand.run_id}"),
    }


def render_markdown(cmp: Comparison, html_name: str = "compare.html") -> str:
    """The markdown comparison (≤ 60,000 characters: fits a GitHub PR comment)."""
    return render_md("compare.md.j2", html_name=quote(html_name), **context(cmp))


def render_compare_html(cmp: Comparison) -> str:
    """The self-contained HTML comparison (inline CSS, SVG charts, one hashed sorting script; CSP forbids loads)."""
    return render_html("compare.html.j2", **context(cmp, samples=True))


def default_out_dir(config: HarnessConfig, base_id: str, cand_id: str) -> Path:
    """``<reports_dir>/compare-<base-run-id>-vs-<cand-run-id>/`` under the project root."""
    return config.path(config.reports_dir) / f"compare-{base_id}-vs-{cand_id}"


def _within_one_run(cmp: "Comparison") -> bool:
    return cmp.base.path is not None and cmp.base.path == cmp.cand.path and not cmp.base.pooled


def _out_dir(config: HarnessConfig, cmp: "Comparison") -> Path:
    """:func:`default_out_dir`; two variants of one run: ``compare-<run-id>-<variant>-vs-<variant>``."""
    if not _within_one_run(cmp):
        return default_out_dir(config, cmp.base.run_id, cmp.cand.run_id)
    import re

    def slug(v: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", v).strip("_")[:60]
    return config.path(config.reports_dir) / (f"compare-{cmp.base.run_id}-{slug(cmp.base_summary.variant)}-vs-"
                                              f"{slug(cmp.cand_summary.variant)}")


def write_compare_report(cmp: Comparison, out: str | Path | None = None, *, config: HarnessConfig | None = None
                         ) -> tuple[Path, Path]:
    """Write ``compare.md`` and ``compare.html``; returns their paths. ``out`` is a folder, or a path ending in
    ``.md``/``.html`` whose folder and stem are used."""
    config = config or load_config()
    folder, stem = out_paths(out, _out_dir(config, cmp), "compare")
    md, html = folder / f"{stem}.md", folder / f"{stem}.html"
    atomic_write_text(md, render_markdown(cmp, html.name))
    atomic_write_text(html, render_compare_html(cmp))
    return md, html


def cli(args: Any) -> int:
    """``harness compare BASELINE[,BASELINE...] CANDIDATE [--out DIR] [--fail-on-regression]``, or ``harness
    compare RUN`` for the two variants of one run (:func:`two_variants`; ``--baseline-variant`` /
    ``--candidate-variant`` choose them); exit codes in the module docs (:func:`harness.verdicts.exit_code`)."""
    config = load_config(getattr(args, "root", None))
    bv, cv = getattr(args, "baseline_variant", None), getattr(args, "candidate_variant", None)
    if getattr(args, "candidate", None) is None:
        # one run: its two variants (harness run --prompt A --prompt B), paired by case and epoch
        if len(baseline_paths(args.baseline)) != 1:
            raise HarnessError("a pooled baseline (a,b,c) needs a candidate run: harness compare BASELINE CANDIDATE",
                               field="candidate")
        bv, cv = two_variants(args.baseline, bv, cv)
        cmp = compare_runs(args.baseline, args.baseline, grader=getattr(args, "grader", None), config=config,
                           base_variant=bv, cand_variant=cv)
        print(f"comparing two variants of one run: baseline {bv}, candidate {cv}")
    else:
        cmp = compare_runs(args.baseline, args.candidate, grader=getattr(args, "grader", None), config=config,
                           base_variant=bv, cand_variant=cv)
    md, html = write_compare_report(cmp, getattr(args, "out", None), config=config)
    for w in cmp.loud:
        print(f"WARNING: {w}")
    print(f"verdict: {cmp.gate.headline()}")
    for r in cmp.gate.reasons:
        print(f"{'regression' if cmp.gate.fail else 'inconclusive'}: {r}")
    for n in cmp.gate.notes:
        print(f"note: {n}")
    for a in cmp.advice:
        print(f"power: {a}")
    print(md)
    print(html)
    if getattr(args, "fail_on_regression", False):
        return cmp.exit_code()
    return ExitCode.OK
