"""Bench 7: the regression gate — false-alarm rate on unchanged nights, power, MDE calibration, pooled baselines.

    python bench/bench_gate.py                  # ~4 minutes on 2 cores
    python bench/bench_gate.py --nights 300     # quicker, coarser

Every night pair goes through :func:`harness.verdicts.decide_summaries`, the function ``harness nightly`` and the
dashboard call on run summaries (and ``harness compare`` / ``pytest evals`` call through
:func:`harness.verdicts.decide` on the same per-finding table). Each pair draws a new suite — 25 cases with 3–10
findings, case and finding difficulty at random (logit sd 1 each, mean recall 0.6), ~13 % critical findings — and
two nights on it (:func:`harness.testing.synthetic.simulate_suite`, :func:`harness.testing.synthetic.simulate_night`). A
"D-point change" shifts every found probability so the suite's true recall changes by exactly D points.

Figures: false alarms (verdict *regressed* on unchanged nights) with 1 and 3 epochs, with and without 20 % errored
samples, and with findings of one review correlated (review effect sd 0.5); power (+10 / +5 / −10 points; verdict
*improved* / *regressed*); realised power at the printed (simulated) MDE; how often the printed interval and the
verdict disagree (must be 0); power of the critical-finding rule by baseline nights pooled; coverage of the
error-rate interval (clustered by case) when errors come in per-case bursts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import Bench  # noqa: E402

from harness.stats import clustered_mean, wilson  # noqa: E402
from harness.testing.synthetic import shift_for_recall_change, simulate_night, simulate_suite  # noqa: E402
from harness.verdicts import IMPROVED, REGRESSED, decide_summaries  # noqa: E402


def rate(rng, nights, *, epochs, error_rate=0.0, change=0.0, review_sd=0.0, want=REGRESSED):
    """Fraction of night pairs whose verdict is ``want``; also counts interval/verdict disagreements."""
    hits = disagree = 0
    for _ in range(nights):
        suite = simulate_suite(rng)
        s = shift_for_recall_change(suite["p"], change) if change else 0.0
        b = simulate_night(rng, suite, epochs=epochs, error_rate=error_rate, review_sd=review_sd)
        c = simulate_night(rng, suite, epochs=epochs, error_rate=error_rate, review_sd=review_sd, shift=s)
        v = decide_summaries(b, c, base_epochs=epochs, mde=False)
        hits += v.verdict == want
        h = v.recall
        disagree += (h.p_value < h.alpha) != (h.lo > 0 or h.hi < 0)
    return hits / nights, disagree


def mde_calibration(rng, n, epochs=3):
    """Realised power at each suite's printed MDE: print the MDE on one unchanged pair, then plant exactly that
    recall change on a fresh pair of the same suite and see whether the gate calls it improved."""
    hit, mdes = 0, []
    for _ in range(n):
        suite = simulate_suite(rng)
        v = decide_summaries(simulate_night(rng, suite, epochs=epochs), simulate_night(rng, suite, epochs=epochs),
                             base_epochs=epochs)
        m = v.recall.mde
        mdes.append(m)
        s = shift_for_recall_change(suite["p"], m)
        w = decide_summaries(simulate_night(rng, suite, epochs=epochs),
                             simulate_night(rng, suite, epochs=epochs, shift=s), base_epochs=epochs, mde=False)
        hit += w.verdict == IMPROVED
    return hit / n, float(np.median(mdes))


def critical_power(rng, n, nights):
    """A critical finding found 95 % of the time by the baseline and never by the candidate (3 epochs a night):
    how often the gate calls it lost, by baseline nights pooled."""
    caught = 0
    for _ in range(n):
        suite = simulate_suite(rng)
        crit = np.flatnonzero(suite["severity"] == "critical")
        if not len(crit):
            suite["severity"][0] = "critical"
            crit = np.array([0])
        i = crit[0]
        suite["p"][i] = 0.95
        lost = dict(suite, p=suite["p"].copy())
        lost["p"][i] = 0.0
        bases = [simulate_night(rng, suite, epochs=3) for _ in range(nights)]
        v = decide_summaries(bases, simulate_night(rng, lost, epochs=3), base_epochs=3, mde=False)
        caught += (suite["case"][i], suite["finding"][i]) in {(r["case"], r["finding"]) for r in v.lost}
    return caught / n


def error_rate_coverage(rng, n, cases=25, epochs=3):
    """Coverage of the 95 % error-rate interval when errors come in bursts per case (15 % of the cases always
    error — a prompt too long for the model — the others 2 % of the time): clustered by case (what the reports
    print) vs Wilson over samples (before)."""
    cov_c = cov_w = 0
    truth = 0.15 + 0.85 * 0.02
    for _ in range(n):
        q = np.where(rng.random(cases) < 0.15, 1.0, 0.02)
        y = (rng.random((cases, epochs)) < q[:, None]).astype(float).ravel()
        cl = np.repeat(np.arange(cases), epochs)
        e = clustered_mean(y, cl, bounds=(0, 1), proportion=True)
        cov_c += e.lo <= truth <= e.hi
        lo, hi = wilson(y.sum(), y.size)
        cov_w += float(lo) <= truth <= float(hi)
    return cov_c / n, cov_w / n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nights", type=int, default=1000, help="night pairs per false-alarm setting")
    ap.add_argument("--power-nights", type=int, default=500, help="night pairs per power setting")
    ap.add_argument("--seed", type=int, default=2026)
    a = ap.parse_args(argv)
    b = Bench("gate", "Regression gate: false alarms on unchanged nights, power, MDE, pooled baselines "
                      "(25 cases, 3–10 findings each)")
    rng = np.random.default_rng(a.seed)
    t0 = time.perf_counter()
    disagreements = 0
    for epochs in (1, 3):
        for err in (0.0, 0.2):
            fa, d = rate(rng, a.nights, epochs=epochs, error_rate=err)
            disagreements += d
            b.add(f"fa_{epochs}e_{int(err * 100)}err", f"false alarms, {epochs} epoch(s), {err:.0%} errored samples",
                  fa * 100, "%", "<= 5")
            print(f"   {b.figures[-1].label}: {fa:.1%} of {a.nights} ({time.perf_counter() - t0:.0f} s)", flush=True)
    fa, d = rate(rng, a.nights // 2, epochs=3, review_sd=0.5)
    disagreements += d
    b.add("fa_3e_corr", "false alarms, 3 epochs, findings of a review correlated (sd 0.5)", fa * 100, "%", "<= 5")
    for epochs, change, want, target in ((3, 0.10, IMPROVED, ">= 88"), (1, 0.10, IMPROVED, None),
                                         (3, -0.10, REGRESSED, None), (3, 0.05, IMPROVED, None),
                                         (1, 0.05, IMPROVED, None)):
        pw, d = rate(rng, a.power_nights, epochs=epochs, change=change, want=want)
        disagreements += d
        b.add(f"power_{epochs}e_{int(change * 100):+d}", f"power, {change * 100:+.0f} pts recall, {epochs} epoch(s)",
              pw * 100, "%", target)
        print(f"   {b.figures[-1].label}: {pw:.1%} ({time.perf_counter() - t0:.0f} s)", flush=True)
    pw, d = rate(rng, a.power_nights // 2, epochs=3, change=0.10, review_sd=0.5, want=IMPROVED)
    b.add("power_3e_+10_corr", "power, +10 pts, 3 epochs, findings of a review correlated (sd 0.5)", pw * 100, "%")
    b.add("interval_disagree", "nights where the printed recall interval and the verdict disagree", disagreements,
          "", "<= 0")
    real, med = mde_calibration(rng, max(100, a.power_nights // 3))
    b.add("mde_power", f"realised power at the printed MDE (median {med * 100:.1f} pts), 3 epochs", real * 100, "%",
          None, note="aim: 80 %")
    print(f"   MDE calibration: {real:.1%} at a median MDE of {med * 100:.1f} pts ({time.perf_counter() - t0:.0f} s)",
          flush=True)
    for nights in (1, 2, 3, 4):
        cp = critical_power(rng, max(100, a.power_nights // 3), nights)
        b.add(f"critical_{nights}n", f"critical finding 95% → 0%: caught with {nights} baseline night(s) × 3 epochs",
              cp * 100, "%")
        print(f"   {b.figures[-1].label}: {cp:.1%}", flush=True)
    cc, cw = error_rate_coverage(rng, 2000)
    b.add("err_cov_clustered", "error-rate 95% interval coverage, clustered by case (per-case bursts)", cc * 100, "%")
    b.add("err_cov_wilson", "  the same with a Wilson interval over samples (before)", cw * 100, "%")
    b.details = {"nights": a.nights, "power_nights": a.power_nights, "seed": a.seed,
                 "model": "simulate_suite(25 cases, 3-10 findings, base recall 0.6, case sd 1, finding sd 1, "
                          "13% critical); simulate_night(review_sd 0 unless stated)"}
    b.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
