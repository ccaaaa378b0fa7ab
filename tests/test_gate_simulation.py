"""The regression gate does not cry wolf: unchanged nights, fixed seed, through the gate function ``harness
nightly`` calls (:func:`harness.verdicts.decide_summaries` on summary variant entries, as the dashboard does), with
1 and 3 epochs, with and without 20 % errored samples. The same simulation, bigger, is ``bench/bench_gate.py``.

Each night pair draws a new suite (25 cases with 3–10 findings, case and finding difficulty at random, ~13 %
critical findings) and two nights of the same prompt on it (:func:`harness.testing.synthetic.simulate_night`)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.testing.synthetic import shift_for_recall_change, simulate_night, simulate_suite
from harness.verdicts import INCONCLUSIVE, REGRESSED, decide_summaries

NIGHTS = 150          # per setting; 4 settings ≈ 15 s on a loaded 2-core machine


def false_alarms(epochs: int, error_rate: float, *, nights: int = NIGHTS, seed: int = 13) -> tuple[int, int]:
    rng = np.random.default_rng([seed, epochs, int(error_rate * 100)])
    regressed = inconclusive = 0
    for _ in range(nights):
        suite = simulate_suite(rng)
        base = simulate_night(rng, suite, epochs=epochs, error_rate=error_rate)
        cand = simulate_night(rng, suite, epochs=epochs, error_rate=error_rate)
        v = decide_summaries(base, cand, base_epochs=epochs, mde=False)
        regressed += v.verdict == REGRESSED
        inconclusive += v.verdict == INCONCLUSIVE
    return regressed, inconclusive


@pytest.mark.parametrize("epochs,error_rate", [(1, 0.0), (1, 0.2), (3, 0.0), (3, 0.2)])
def test_unchanged_nights_rarely_regress(epochs, error_rate):
    regressed, inconclusive = false_alarms(epochs, error_rate)
    assert regressed / NIGHTS <= 0.05, f"{regressed}/{NIGHTS} unchanged nights called regressed"
    assert inconclusive / NIGHTS >= 0.85          # almost every unchanged night is simply inconclusive


def test_the_gate_still_sees_a_real_regression():
    """The same simulation with recall 10 points lower, 3 epochs: the gate is not quiet by being deaf."""
    rng = np.random.default_rng(99)
    hits = 0
    n = 60
    for _ in range(n):
        suite = simulate_suite(rng)
        s = shift_for_recall_change(suite["p"], -0.10)
        v = decide_summaries(simulate_night(rng, suite, epochs=3), simulate_night(rng, suite, epochs=3, shift=s),
                             base_epochs=3, mde=False)
        hits += v.verdict == REGRESSED
    assert hits / n >= 0.7


def test_a_pooled_baseline_gives_the_critical_rule_power_without_false_alarms():
    """A critical finding found ~always by the baseline and never now: invisible with a single 3-epoch baseline
    (p ≥ 1/64 cannot survive Holm over ~20 findings), caught with 4 nights pooled; unchanged nights stay quiet."""
    rng = np.random.default_rng(5)
    caught_single = caught_pooled = quiet = 0
    n = 25
    for _ in range(n):
        suite = simulate_suite(rng)
        crit = np.flatnonzero(suite["severity"] == "critical")
        if not len(crit):
            continue
        i = crit[0]
        suite["p"][i] = 0.97
        lost = dict(suite, p=suite["p"].copy())
        lost["p"][i] = 0.0
        bases = [simulate_night(rng, suite, epochs=3) for _ in range(4)]
        cand = simulate_night(rng, lost, epochs=3)
        single = decide_summaries(bases[0], cand, base_epochs=3, mde=False)
        pooled = decide_summaries(bases, cand, base_epochs=3, mde=False)
        key = (suite["case"][i], suite["finding"][i])
        caught_single += key in {(r["case"], r["finding"]) for r in single.lost}
        caught_pooled += key in {(r["case"], r["finding"]) for r in pooled.lost}
        quiet += decide_summaries(bases[1:], simulate_night(rng, suite, epochs=3), base_epochs=3,
                                  mde=False).verdict != REGRESSED
    assert caught_single == 0
    assert caught_pooled >= 0.6 * n          # ~70 %: 11/12 vs 0/3 does not always survive Holm over ~20
    assert quiet >= n - 2


def test_errored_epochs_make_a_lost_critical_finding_inconclusive():
    """The candidate found a critical finding in 0 of its 2 successful epochs (1 errored): under-sampled."""
    import pandas as pd
    from harness.verdicts import UNDER_SAMPLED, decide
    rows = [{"case": f"c{c}", "finding": f"f{f}", "severity": "critical" if (c, f) == (0, 0) else "medium",
             "n_epochs": 12, "n_found": 12 if (c, f) == (0, 0) else 6, "score": 1.0 if (c, f) == (0, 0) else 0.5}
            for c in range(10) for f in range(3)]
    base = pd.DataFrame(rows)
    cand = base.copy()
    cand["n_epochs"], cand["n_found"], cand["score"] = 3, cand["n_found"] // 4, cand["score"]
    full = cand.copy()
    full.loc[0, ["n_found", "score"]] = [0, 0.0]
    assert decide(base, full, base_epochs=3, base_runs=4, mde=False).verdict == REGRESSED
    short = full.copy()
    short.loc[0, ["n_epochs"]] = 2                 # 12/12 vs 0/2: p = 0.0032, significant, but 2 < 3
    v = decide(base, short, base_epochs=3, base_runs=4, mde=False)
    assert v.verdict == INCONCLUSIVE and v.critical.loc[0, "status"] == UNDER_SAMPLED
    assert "inconclusive, not a regression" in v.reasons[0]


def test_error_rate_interval_is_clustered_by_case():
    """Errors come in bursts per case (a prompt too long for the model errors in every epoch): 15 % of 25 cases
    always error, the others 2 % of the time. The summary's interval (clustered by case) covers the true rate
    ~92 % of the time; a Wilson interval over the 75 samples, what the reports printed before, ~74 %."""
    from harness.stats import clustered_mean, wilson
    rng = np.random.default_rng(3)
    G, E, n = 25, 3, 1000
    truth = 0.15 + 0.85 * 0.02
    cl = np.repeat(np.arange(G), E)
    cov_c = cov_w = 0
    for _ in range(n):
        q = np.where(rng.random(G) < 0.15, 1.0, 0.02)
        y = (rng.random((G, E)) < q[:, None]).astype(float).ravel()
        e = clustered_mean(y, cl, bounds=(0, 1), proportion=True)
        cov_c += e.lo <= truth <= e.hi
        lo, hi = wilson(y.sum(), y.size)
        cov_w += float(lo) <= truth <= float(hi)
    assert cov_c / n >= 0.9 and cov_w / n < 0.8
