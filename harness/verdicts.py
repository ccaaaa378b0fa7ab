"""The one place that decides: a pair of runs is *regressed*, *improved* or *inconclusive*, and a case *passed*.

``harness compare`` (and its ``--fail-on-regression``), ``harness nightly`` (its exit code), the dashboard's status
and ``pytest evals`` (per-case pass/fail, and the session's outcome with ``--baseline``) all call this module, so a
pair of runs has one verdict and one exit code whatever else was built.

The regression gate (:func:`decide`)
------------------------------------
Input: the per-finding count table of each run — case, finding, severity, successful epochs ``n_epochs``, epochs
that found it ``n_found``, and its ``score`` (the configured reducer over successful epochs only) — i.e. the
``per_finding`` frame of :mod:`harness.results` or the ``findings`` list of a run's ``summary.json``. A sample that
errored never counts as a miss: it is simply not a successful epoch. A baseline may pool several runs (nights):
their counts add up (:func:`pool_findings`).

Two families of tests, with the level split between them (Bonferroni) so the whole gate false-alarms at most
α = 5 % of unchanged nights:

1. **Recall** (the headline): the paired difference of finding scores, clustered by case
   (:func:`harness.stats.paired_difference`). Decided by the two-sided sign-flip test over cases at α = 0.05
   (a regression therefore uses α/2 = 2.5 % in its direction); its printed 95 % interval is the inverted sign-flip
   test (:func:`harness.stats.sign_flip_interval`), so the verdict and the interval always agree. Its MDE is the
   simulated power of that same test (:func:`harness.stats.mde_sign_flip`), "not reachable with N cases" when the
   test cannot reach α (N ≤ 5).
2. **Critical findings**: for every critical finding with a successful epoch in both runs, a one-sided exact test
   that the candidate's found rate is lower (Boschloo, :func:`harness.stats.rate_drop_pvalue`); Holm's step-down
   across the critical findings (:func:`harness.stats.holm`) at :data:`CRITICAL_ALPHA` = 2.5 %. A finding is
   *lost* when its Holm-adjusted p < 2.5 %. If the candidate has fewer successful epochs of that finding than the
   baseline has per run (samples errored), the finding is *under-sampled*: the night is *inconclusive*, never
   *regressed*, on its account.

Verdict: **regressed** when recall regressed significantly or a critical finding is lost; else **inconclusive**
when a critical finding is significant but under-sampled; else **improved** when recall improved significantly;
else **inconclusive** (no significant change: the report prints the MDE and how many epochs / cases a 5- or
10-point change needs, :func:`power_advice`).

Power of the critical rule: an exact test on a handful of epochs cannot be significant after a correction for
~20 findings unless the baseline has many epochs. With 3 candidate epochs, a finding found in every baseline
epoch and in none of the candidate's gives p = 1/64 with a 3-epoch baseline (enough for 1 critical finding), 0.0033
with 6 epochs (7 findings), 0.0012 with 9 (21 findings), 0.00055 with 12 (45 findings): pool ≥ 3–4 nights of 3
epochs as the baseline (``--baseline a,b,c``). With one epoch per night it needs ~30 baseline epochs per 2
critical findings; the recall test then carries the gate.

Exit codes (:func:`exit_code`): 1 regressed; else 3 when the candidate run is incomplete (errors, budget); else 0.

The per-case pass (:func:`case_verdicts`, :func:`case_verdict`)
--------------------------------------------------------------
Read from the same results table as the reports (``per_finding``/``per_trap`` of :mod:`harness.results`, the
configured reducer over successful epochs): recall = mean finding score ≥ ``min_recall``; a finding is *missed*
when its score < 0.5 (with the ``mean`` reducer: found in fewer than half of the successful epochs); at most
``max_critical_missed`` critical findings missed; a control case (no findings) fails when a trap's flagged score
> 0.5. A case with no successful epoch is an error, not a failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .exitcodes import ExitCode
from .graders.registry import DEFAULT_GRADER
from .stats import (ALPHA, IMPROVED, POWER, REGRESSED, PairedComparison, holm, min_sign_flip_p, paired_difference,
                    rate_drop_pvalue, reduce_counts, verdict_of)

INCONCLUSIVE = "inconclusive"
VERDICTS = (REGRESSED, IMPROVED, INCONCLUSIVE)
CRITICAL_ALPHA = ALPHA / 2      # the critical-finding family's share of α (recall's regression side has α/2)
LOST, UNDER_SAMPLED = "lost", "under-sampled"
ADVICE_EFFECTS = (0.05, 0.10)   # the changes (fractions) the "need about N epochs / cases" line is printed for


# ---------------------------------------------------------------------------------------------- the gate

@dataclass
class Verdict:
    """The gate's decision on a pair of runs (one candidate variant against its baseline).

    Attributes:
        verdict: ``regressed`` | ``improved`` | ``inconclusive``.
        recall: the headline :class:`~harness.stats.PairedComparison` (sign-flip test, sign-flip interval).
        critical: one row per tested critical finding: case, finding, n_found_b, n_epochs_b, n_found_c,
            n_epochs_c, p (one-sided Boschloo), p_holm, status (``lost`` | ``under-sampled`` | "").
        reasons: why the verdict is *regressed* (one line each), or why it is *inconclusive* because of
            under-sampled critical findings.
        notes: other facts worth printing (no critical finding could reach significance, ...).
        base_runs: runs pooled in the baseline; base_epochs: epochs per baseline run.
    """

    verdict: str
    recall: PairedComparison
    critical: pd.DataFrame
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    base_runs: int = 1
    base_epochs: int = 1
    alpha: float = ALPHA
    critical_alpha: float = CRITICAL_ALPHA

    @property
    def fail(self) -> bool:
        """True when the verdict is *regressed* (``--fail-on-regression`` fails, nightly exits 1)."""
        return self.verdict == REGRESSED

    @property
    def lost(self) -> list[dict]:
        return self.critical[self.critical["status"] == LOST].to_dict("records")

    @property
    def under_sampled(self) -> list[dict]:
        return self.critical[self.critical["status"] == UNDER_SAMPLED].to_dict("records")

    def exit_code(self, complete: bool = True) -> ExitCode:
        """:func:`exit_code` of this verdict."""
        return exit_code(self.verdict, complete)

    def headline(self) -> str:
        """One line: verdict, recall difference with its interval and p-value, cases."""
        h = self.recall
        ci = (f"95% CI {_pts(h.lo)} to {_pts(h.hi)}, inverted sign-flip test" if h.estimable
              else f"95% CI not estimable with {h.n_clusters} case")
        return f"{self.verdict} — recall {h.diff * 100:+.1f} pts ({ci}), p = {h.p_value:.3g}, {h.n_clusters} cases"


def _pts(x: float) -> str:
    if math.isinf(x):
        return "-inf" if x < 0 else "+inf"
    if x != x:
        return "n/a"
    return f"{x * 100:+.1f}"


def exit_code(verdict: str, complete: bool = True) -> ExitCode:
    """The exit code of a pair of runs: 1 when *regressed* (whatever else), else 3 when the candidate run is
    incomplete (errored samples, budget reached), else 0. Used by ``harness compare --fail-on-regression``,
    ``harness nightly`` and ``pytest evals --baseline``."""
    if verdict == REGRESSED:
        return ExitCode.REGRESSED
    return ExitCode.OK if complete else ExitCode.INCOMPLETE


FINDING_COLS = ["case", "finding", "severity", "n_epochs", "n_found", "score"]


def pool_findings(frames: Sequence[pd.DataFrame], *, reducer: str = "mean", epochs: int | None = None
                  ) -> pd.DataFrame:
    """Pool several runs' per-finding tables (the baseline over several nights).

    Args:
        frames: tables with at least case, finding, severity, n_epochs, n_found (score is recomputed).
        reducer: the configured reducer; epochs: reviews per run (the k of pass@k / majority).
    Returns:
        One row per (case, finding) with summed n_epochs and n_found, the first non-null of the other columns,
        and ``score`` = :func:`harness.stats.reduce_counts` of the pooled counts. A single frame is returned as is.
    """
    if len(frames) == 1:
        return frames[0]
    allf = pd.concat([f for f in frames if len(f)], ignore_index=True)
    if allf.empty:
        return frames[0]
    other = [c for c in allf.columns if c not in ("case", "finding", "n_epochs", "n_found", "score")]
    agg = {"n_epochs": ("n_epochs", "sum"), "n_found": ("n_found", "sum"), **{c: (c, "first") for c in other}}
    g = allf.groupby(["case", "finding"], sort=False).agg(**agg).reset_index()
    g["score"] = reduce_counts(g["n_found"].to_numpy(float), g["n_epochs"].to_numpy(float), reducer, epochs)
    return g


def pair_counts(base: pd.DataFrame, cand: pd.DataFrame) -> pd.DataFrame:
    """Join two per-finding tables on (case, finding), keeping findings with a successful epoch in both runs.

    Returns:
        case, finding, severity, n_epochs_b, n_found_b, score_b, n_epochs_c, n_found_c, score_c.
    """
    b = base[FINDING_COLS].copy()
    c = cand[FINDING_COLS].copy()
    m = b.merge(c.drop(columns=["severity"]), on=["case", "finding"], suffixes=("_b", "_c"))
    m = m[(m["n_epochs_b"] > 0) & (m["n_epochs_c"] > 0)]
    for col in ("n_epochs_b", "n_found_b", "n_epochs_c", "n_found_c"):
        m[col] = m[col].astype(int)
    for col in ("score_b", "score_c"):
        m[col] = m[col].astype(float)
    return m.sort_values(["case", "finding"], kind="stable").reset_index(drop=True)


def critical_tests(pairs: pd.DataFrame, *, base_epochs: float, runs: int = 1,
                   critical_alpha: float = CRITICAL_ALPHA) -> pd.DataFrame:
    """The critical-finding family of the gate (module docs).

    Args:
        pairs: :func:`pair_counts` output (a pooled baseline's counts summed over its runs).
        base_epochs: epochs per baseline run. A candidate with fewer successful epochs of a finding than the
            baseline had per run (its successful epochs / ``runs``, at most ``base_epochs``) is *under-sampled*.
        runs: baseline runs pooled.
        critical_alpha: the family's level (Holm).
    Returns:
        One row per paired critical finding: case, finding, n_found_b, n_epochs_b, n_found_c, n_epochs_c, p,
        p_holm, status (``lost``, ``under-sampled`` or "").
    """
    cols = ["case", "finding", "n_found_b", "n_epochs_b", "n_found_c", "n_epochs_c"]
    crit = pairs[pairs["severity"] == "critical"][cols].reset_index(drop=True)
    need = np.minimum(float(base_epochs), crit["n_epochs_b"].to_numpy(float) / max(runs, 1))
    if crit.empty:
        return crit.assign(p=pd.Series(dtype=float), p_holm=pd.Series(dtype=float), status=pd.Series(dtype=str))
    p = np.array([rate_drop_pvalue(int(a), int(b), int(c), int(d)) for a, b, c, d in
                  crit[["n_found_b", "n_epochs_b", "n_found_c", "n_epochs_c"]].itertuples(index=False)])
    ph = holm(p)
    sig = ph < critical_alpha
    short = crit["n_epochs_c"].to_numpy(float) < need - 1e-9
    status = np.where(sig & ~short, LOST, np.where(sig & short, UNDER_SAMPLED, ""))
    return crit.assign(p=p, p_holm=ph, status=status)


def decide(base: pd.DataFrame | Sequence[pd.DataFrame], cand: pd.DataFrame, *, reducer: str = "mean",
           base_epochs: int | None = None, base_runs: int | None = None, alpha: float = ALPHA,
           critical_alpha: float = CRITICAL_ALPHA, seed: int = 0, mde: bool = True) -> Verdict:
    """The regression gate on one candidate variant against its baseline (module docs).

    Args:
        base: the baseline's per-finding table, or several (a baseline pooled over runs; see
            :func:`pool_findings`). Columns: case, finding, severity, n_epochs (successful), n_found, score.
        cand: the candidate's per-finding table (same columns).
        reducer: the configured reducer (used to re-score a pooled baseline).
        base_epochs: epochs per baseline run (the manifest's); default: the largest n_epochs of one frame.
        base_runs: runs pooled in ``base`` when it is one already pooled table; default ``len(base)``.
        alpha: level of the recall test (two-sided); critical_alpha: level of the critical-finding family.
        seed: Monte Carlo seed of the sign-flip test (same default everywhere, so reports agree).
        mde: compute the simulated MDE of the recall test (≈0.1 s; the simulation test turns it off).
    Returns:
        A :class:`Verdict`.
    Raises:
        ValueError: no finding has a successful epoch in both runs.
    """
    frames = [base] if isinstance(base, pd.DataFrame) else list(base)
    if base_epochs is None:
        base_epochs = int(max((f["n_epochs"].max() for f in frames if len(f)), default=1))
    b = pool_findings(frames, reducer=reducer, epochs=base_epochs)
    pairs = pair_counts(b, cand)
    if pairs.empty:
        raise ValueError("no finding has a successful epoch in both runs")
    rec = paired_difference(pairs["score_b"].to_numpy(float), pairs["score_c"].to_numpy(float),
                            pairs["case"].to_numpy(), alpha=alpha, seed=seed, interval="sign-flip",
                            mde_method="sign-flip" if mde else "none", proportion=True)
    runs = base_runs or len(frames)
    crit = critical_tests(pairs, base_epochs=base_epochs, runs=runs, critical_alpha=critical_alpha)
    reasons, notes = [], []
    if rec.verdict == REGRESSED:
        reasons.append(f"recall regressed significantly: {rec.diff * 100:+.1f} pts (95% CI {_pts(rec.lo)} to "
                       f"{_pts(rec.hi)}), sign-flip p = {rec.p_value:.3g} < {alpha:g}")
    for r in crit[crit["status"] == LOST].itertuples(index=False):
        reasons.append(f"critical finding {r.case}/{r.finding} lost: found in {r.n_found_b}/{r.n_epochs_b} "
                       f"baseline epochs, {r.n_found_c}/{r.n_epochs_c} now (Boschloo p = {r.p:.2g}, Holm-adjusted "
                       f"over {len(crit)} critical findings p = {r.p_holm:.2g} < {critical_alpha:g})")
    under = [f"critical finding {r.case}/{r.finding}: {r.n_found_c}/{r.n_epochs_c} successful epochs found it "
             f"(baseline {r.n_found_b}/{r.n_epochs_b}); fewer successful epochs than the baseline's "
             f"{base_epochs} per run, so this is inconclusive, not a regression"
             for r in crit[crit["status"] == UNDER_SAMPLED].itertuples(index=False)]
    if not reasons and not rec.estimable:
        under = [f"recall is not estimable with {rec.n_clusters} case: a comparison needs at least 2 cases with "
                 "a finding graded in both runs, so this is inconclusive"] + under
    if reasons:
        verdict = REGRESSED
    elif under:
        verdict, reasons = INCONCLUSIVE, under
    elif rec.verdict == IMPROVED:
        verdict = IMPROVED
    else:
        verdict = INCONCLUSIVE
    if len(crit):
        best = _best_critical_p(pairs, base_epochs, runs)
        if best >= critical_alpha / len(crit):
            notes.append(f"the critical-finding rule cannot fire with this baseline: even a finding found in every "
                         f"baseline epoch and missed in every candidate epoch gives p = {best:.2g}, above "
                         f"{critical_alpha:g}/{len(crit)} (Holm); pool more baseline nights (--baseline a,b,c)")
    if rec.n_clusters and min_sign_flip_p(rec.n_clusters) >= alpha:
        notes.append(f"recall cannot be significant with {rec.n_clusters} cases: the sign-flip test's smallest "
                     f"p-value is {min_sign_flip_p(rec.n_clusters):.3g} ≥ {alpha:g} (needs ≥ 6 cases)")
    return Verdict(verdict=verdict, recall=rec, critical=crit, reasons=reasons, notes=notes, base_runs=runs,
                   base_epochs=int(base_epochs), alpha=alpha, critical_alpha=critical_alpha)


def _best_critical_p(pairs: pd.DataFrame, base_epochs: int, runs: int) -> float:
    """The smallest p the critical test could give with the typical epoch counts of these runs."""
    crit = pairs[pairs["severity"] == "critical"]
    nb = int(np.median(crit["n_epochs_b"])) if len(crit) else base_epochs * runs
    nc = int(np.median(crit["n_epochs_c"])) if len(crit) else base_epochs
    return rate_drop_pvalue(nb, nb, 0, max(nc, 1))


def decide_summaries(base_variants: dict | Sequence[dict], cand_variant: dict, *, reducer: str = "mean",
                     base_epochs: int | None = None, seed: int = 0, mde: bool = True) -> Verdict:
    """:func:`decide` on variant entries of ``summary.json`` files (:mod:`harness.history`): what the dashboard
    and ``harness nightly`` call. ``base_variants``: one entry, or one per pooled baseline run."""
    bases = [base_variants] if isinstance(base_variants, dict) else list(base_variants)
    frames = [pd.DataFrame(v["findings"], columns=FINDING_COLS) for v in bases]
    if base_epochs is None:
        base_epochs = max(int((v.get("counts") or {}).get("epochs") or 0) for v in bases) or None
    return decide(frames, pd.DataFrame(cand_variant["findings"], columns=FINDING_COLS), reducer=reducer,
                  base_epochs=base_epochs, seed=seed, mde=mde)


# ------------------------------------------------------------------------------ multiplicity and advice

def holm_family(cmps: Sequence[PairedComparison], alpha: float = ALPHA) -> list[PairedComparison]:
    """The same comparisons with ``p_adjusted`` = Holm over the family and ``verdict`` re-derived from it
    (:func:`harness.stats.holm`): for the secondary rows of the dashboard and the comparison report, which are
    shown, never gated on."""
    ph = holm([c.p_value for c in cmps])
    return [replace(c, p_adjusted=float(p), verdict=verdict_of(c.diff, float(p), higher_is_better=c.higher_is_better,
                                                                alpha=alpha))
            for c, p in zip(cmps, ph)]


def power_advice(pairs_epochs: pd.DataFrame, rec: PairedComparison, *, epochs: int,
                 effects: Iterable[float] = ADVICE_EFFECTS, alpha: float = ALPHA, power: float = POWER
                 ) -> list[str]:
    """"Need about N epochs / cases for a D-point change" lines for a comparison.

    The variance of each case's paired difference splits into a part that more epochs shrink (review-to-review
    noise, estimated within each run from the per-epoch found counts of the case: ``Var_e(S_ce)/n_c`` summed over
    the two runs) and a part they do not (cases really differ in how the change affects them). With E epochs and
    G cases the MDE scales as ``sqrt((B + V_w·e0/E) / (B + V_w))·sqrt(G0/G)`` times the printed (simulated) MDE at
    the current G0 cases and e0 epochs (Bloom 1995's MDE ∝ SE; the variance components as in a two-level design,
    Raudenbush 1997, Psychological Methods 2(2)).

    Args:
        pairs_epochs: one row per (run, case, epoch) successful sample with ``run`` (``b``/``c``), ``case``,
            ``n_found`` (paired findings found) and ``n_items`` (paired findings of the case).
        rec: the headline comparison (its ``mde`` must be the simulated one; nothing is printed when it is
            NaN or infinite).
        epochs: epochs per run now (e0).
        effects: the changes to advise for (fractions; 0.05 = 5 points).
    Returns:
        Sentences, one per effect ("... about 9 epochs (or about 60 cases at 3 epochs) for a 5-point change").
    """
    if not (rec.mde > 0) or math.isinf(rec.mde) or pairs_epochs.empty:
        return []
    G0 = rec.n_clusters
    d = pairs_epochs
    within = 0.0
    for _, g in d.groupby(["run", "case"]):
        if len(g) >= 2:
            within += float(np.var(g["n_found"].to_numpy(float), ddof=1)) / len(g)
    W = d.groupby("case")["n_items"].first().sum()
    total = (rec.se * W) ** 2 * G0 / max(G0 - 1, 1) if rec.se == rec.se else float("nan")
    out = []
    for eff in effects:
        if not np.isfinite(total) or total <= 0:
            break
        B = max(total - within, 0.0)
        ratio = eff / rec.mde                        # MDE must shrink by this factor
        g_need = math.ceil(G0 / ratio ** 2) if ratio < 1 else G0
        if ratio >= 1:
            out.append(f"a {eff * 100:.0f}-point change is already detectable with {G0} cases and {epochs} "
                       f"epoch(s) (MDE {rec.mde * 100:.1f} pts)")
            continue
        target = total * ratio ** 2                  # variance needed at G0 cases
        tail = f"(80% power, α = {alpha:g}; MDE now {rec.mde * 100:.1f} pts)"
        if within <= 0 or B >= target:
            out.append(f"a {eff * 100:.0f}-point change needs about {g_need} cases at {epochs} epoch(s): with "
                       f"{G0} cases no number of epochs is enough (the cases differ more than the reviews do) {tail}")
        else:
            e_need = math.ceil(epochs * within / (target - B))
            out.append(f"a {eff * 100:.0f}-point change needs about {e_need} epochs with {G0} cases, or about "
                       f"{g_need} cases at {epochs} epoch(s) {tail}")
    return out


def mde_text(cmp: PairedComparison) -> str:
    """The MDE as printed: ``8.1 pts``; ``not reachable with 3 cases`` (inf); ``not estimable with 1 case``
    (fewer than 2 cases); ``not estimable: no spread between cases`` (every case changed alike, SE = 0, so the
    variance the MDE scales with was not observed); ``n/a`` (nothing paired, or not computed)."""
    if not cmp.n_clusters:
        return "n/a"
    if not cmp.estimable:
        return f"not estimable with {cmp.n_clusters} case"
    if math.isinf(cmp.mde):
        return f"not reachable with {cmp.n_clusters} cases"
    if cmp.mde != cmp.mde:
        if cmp.mde_method != "none" and cmp.se == cmp.se and not cmp.se > 1e-12:
            return "not estimable: no spread between cases"
        return "n/a"
    return f"{cmp.mde * 100:.1f} pts"


# ------------------------------------------------------------------------------------------ per-case pass

@dataclass
class CaseVerdict:
    """Outcome of one case on one prompt version × model, over its epochs, read from the results table.

    ``recall`` is the mean finding score (the configured reducer over successful epochs); a finding is missed when
    its score < 0.5 (``missed`` holds (finding id, miss rate over successful epochs)). ``errors`` lists sample and
    grader errors; when no epoch succeeded the case is an error, not a failure.
    """

    case: Any
    epochs_graded: int
    recall: float | None
    missed: list[tuple[str, float]] = field(default_factory=list)
    critical_missed: list[str] = field(default_factory=list)
    traps_flagged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def case_verdicts(res: Any, *, min_recall: float = 0.5, max_critical_missed: int = 0,
                  cases: dict[str, Any] | None = None) -> dict[tuple[str, str], CaseVerdict]:
    """Per-case pass/fail of every (variant, case) of a results table (module docs).

    Args:
        res: a :class:`harness.results.ResultsTable` (reducer and grader as configured).
        min_recall, max_critical_missed: the ``[tool.harness]`` thresholds.
        cases: :class:`harness.cases.Case` objects by id, attached to the verdicts (for :func:`explain`); the
            case id string otherwise.
    Returns:
        ``{(variant, case id): CaseVerdict}``.
    """
    from .results import OK, per_finding, per_trap
    pf, pt, s = per_finding(res), per_trap(res), res.samples
    out = {}
    for (variant, cid), smp in s.groupby(["variant", "case"], sort=False):
        errors = [f"epoch {r.epoch}: {r.error}" for r in smp.itertuples() if r.status != OK and r.error]
        errors += [f"epoch {r.epoch}: grader {res.grader}: {r.grader_error}" for r in smp.itertuples()
                   if r.status != OK and r.grader_error]
        n_ok = int((smp["status"] == OK).sum())
        v = CaseVerdict(case=(cases or {}).get(cid, cid), epochs_graded=n_ok, recall=None, errors=errors)
        out[(variant, cid)] = v
        if not n_ok:
            continue
        f = pf[(pf["variant"] == variant) & (pf["case"] == cid) & (pf["n_epochs"] > 0)]
        t = pt[(pt["variant"] == variant) & (pt["case"] == cid) & (pt["n_epochs"] > 0)]
        if len(f):
            v.recall = float(f["score"].mean())
            for r in f.itertuples():
                if r.score < 0.5:
                    v.missed.append((r.finding, 1 - float(r.found_rate)))
                    if r.severity == "critical":
                        v.critical_missed.append(r.finding)
            if v.recall < min_recall:
                v.problems.append(f"recall {v.recall:.2f} < {min_recall:.2f}")
        v.traps_flagged = [r.trap for r in t.itertuples() if r.score > 0.5]
        if len(v.critical_missed) > max_critical_missed:
            v.problems.append(f"{len(v.critical_missed)} critical finding(s) missed (allowed {max_critical_missed})")
        if not len(f) and v.traps_flagged:
            v.problems.append(f"control case: {len(v.traps_flagged)} trap(s) flagged as defects (false positives)")
    return out


def case_verdict(case: Any, records: list, *, grader: str = DEFAULT_GRADER, min_recall: float = 0.5,
               max_critical_missed: int = 0, reducer: str = "mean",
               severity_weights: dict[str, float] | None = None) -> CaseVerdict:
    """:func:`case_verdicts` of one case's sample records (one variant), through the same results table
    (:func:`harness.results.results_from_records`). ``case``: a :class:`harness.cases.Case`."""
    from .results import case_payload, results_from_records
    res = results_from_records(records, {case.id: case_payload(case)}, grader=grader, reducer=reducer,
                               severity_weights=severity_weights)
    got = case_verdicts(res, min_recall=min_recall, max_critical_missed=max_critical_missed, cases={case.id: case})
    if not got:
        return CaseVerdict(case=case, epochs_graded=0, recall=None)
    (v,) = got.values()
    return v


def explain(v: CaseVerdict) -> str:
    """A failure message listing the missed findings with severity and location."""
    by_id = {f.id: f for f in v.case.findings}
    lines = [f"{v.case.id}: " + "; ".join(v.problems)]
    order = ["critical", "high", "medium", "low"]
    for fid, rate in sorted(v.missed, key=lambda x: order.index(by_id[x[0]].severity)
                            if by_id[x[0]].severity in order else 4):
        f = by_id[fid]
        loc = f.location
        lines.append(f"  missed [{f.severity}] {f.id}: {f.title} ({loc.file}:{loc.lines[0]}-{loc.lines[1]}"
                     f"{', ' + loc.symbol if loc.symbol else ''}) in {rate:.0%} of epochs")
    traps = {t.id: t for t in v.case.traps}
    for tid in v.traps_flagged:
        t = traps[tid]
        lines.append(f"  false positive on trap {tid}: {t.title} ({t.location.file}:{t.location.lines[0]}-"
                     f"{t.location.lines[1]})")
    return "\n".join(lines)
