"""harness.stats: Wilson, clustered intervals, sign-flip test, MDE, flips — and the coverage/FPR simulation."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from scipy import stats as st

from harness import stats


# ------------------------------------------------------------------------------------------------- Wilson

def test_wilson_known_values():
    lo, hi = stats.wilson(0, 10)
    assert lo == 0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = stats.wilson(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    lo, hi = stats.wilson(3, 3)
    assert hi == 1 and lo == pytest.approx(0.4385, abs=1e-4)


def test_wilson_vectorised_and_empty():
    lo, hi = stats.wilson(np.array([0, 1, 2]), np.array([0, 2, 2]))
    assert np.isnan(lo[0]) and np.isnan(hi[0])
    assert lo[1] < 0.5 < hi[1] and hi[2] == 1
    assert stats.wilson_estimate(0, 0) is stats.NAN_ESTIMATE
    e = stats.wilson_estimate(2, 8)
    assert e.value == 0.25 and e.method == "wilson" and e.lo < 0.25 < e.hi


# ----------------------------------------------------------------------------------------- clustered mean

def test_clustered_mean_one_item_per_cluster_is_the_t_interval():
    y = np.array([0.2, 0.5, 0.9, 0.4, 0.7, 0.1])
    e = stats.clustered_mean(y, np.arange(6))
    lo, hi = st.t.interval(0.95, 5, loc=y.mean(), scale=st.sem(y))
    assert e.value == pytest.approx(y.mean())
    assert (e.lo, e.hi) == (pytest.approx(lo), pytest.approx(hi))
    assert e.n_clusters == 6 and e.method == "clustered-t"


def test_clustered_se_matches_miller_formula_with_cr1():
    rng = np.random.default_rng(0)
    clusters = np.repeat(np.arange(8), rng.integers(1, 5, size=8))
    y = rng.random(len(clusters))
    e = stats.clustered_mean(y, clusters)
    m = y.mean()
    n, G = len(y), 8
    # Miller (2024) eq.: SE^2 = (1/n^2) sum_c sum_i sum_j (y_i - m)(y_j - m), times G/(G-1)
    miller = sum(((y[clusters == c] - m).sum()) ** 2 for c in range(G)) / n ** 2
    assert e.se == pytest.approx(np.sqrt(miller * G / (G - 1)))
    assert e.hi - e.value == pytest.approx(st.t.ppf(0.975, G - 1) * e.se)


def test_clustered_mean_is_wider_than_naive_when_items_correlate():
    clusters = np.repeat(np.arange(10), 4)
    y = np.repeat(np.array([0, 1] * 5, dtype=float), 4)          # perfectly correlated within a case
    e = stats.clustered_mean(y, clusters)
    naive = np.sqrt(y.var(ddof=1) / len(y))
    assert e.se > 1.9 * naive


def test_weighted_mean_and_nan_items_dropped():
    y = np.array([1.0, 0.0, np.nan, 1.0])
    w = np.array([4.0, 1.0, 3.0, 2.0])
    e = stats.clustered_mean(y, np.array(["a", "a", "b", "c"]), w)
    assert e.value == pytest.approx(6 / 7)
    assert e.n == 3 and e.n_clusters == 2


def test_single_cluster_and_proportion_fallback():
    e = stats.clustered_mean([0.5, 1.0], ["a", "a"])
    assert np.isnan(e.lo) and e.n_clusters == 1
    e = stats.clustered_mean([1.0, 1.0, 1.0], ["a", "b", "c"], bounds=(0, 1), proportion=True)
    assert e.method == "wilson" and e.hi == 1 and e.lo == pytest.approx(0.4385, abs=1e-4)
    assert stats.clustered_mean([], []) is stats.NAN_ESTIMATE


def test_ratio_mean_batch_shapes():
    S = np.ones((7, 5, 4))
    W = np.full((7, 5, 4), 2.0)
    mean, se, lo, hi, G = stats.ratio_mean_batch(S, W)
    assert mean.shape == (7, 5) and np.allclose(mean, 0.5) and np.all(G == 4) and np.allclose(se, 0)


# ------------------------------------------------------------------------------------------------ sign flip

def test_sign_flip_exact_small():
    assert stats.sign_flip_pvalue_batch(np.ones(5)) == pytest.approx(2 / 32)
    assert stats.sign_flip_pvalue_batch(np.zeros(4)) == 1.0
    d = np.array([0.3, -0.1, 0.2, 0.25])
    signs = np.array(list(itertools.product((1, -1), repeat=4)))
    expected = (np.abs(signs @ d) >= abs(d.sum()) - 1e-12).mean()
    assert stats.sign_flip_pvalue_batch(d) == pytest.approx(expected)


def test_sign_flip_monte_carlo_close_to_exact():
    rng = np.random.default_rng(3)
    d = rng.normal(0.15, 0.5, size=12)
    exact = stats.sign_flip_pvalue_batch(d, exact_max=12)
    mc = stats.sign_flip_pvalue_batch(d, exact_max=0, n_flips=40_000, seed=1)
    assert mc == pytest.approx(exact, abs=0.01)


def test_minimum_p_with_few_cases_cannot_reach_significance():
    assert stats.sign_flip_pvalue_batch(np.ones(5)) > 0.05     # 2/2^5 = 0.0625
    assert stats.sign_flip_pvalue_batch(np.ones(6)) < 0.05     # 2/2^6 = 0.031


# ------------------------------------------------------------------------------------------------- paired

def test_paired_difference_detects_and_directs():
    rng = np.random.default_rng(1)
    clusters = np.repeat(np.arange(20), 3)
    a = rng.random(60) * 0.6
    cmp = stats.paired_difference(a, a + 0.2, clusters)
    assert cmp.diff == pytest.approx(0.2) and cmp.verdict == stats.IMPROVED and cmp.p_value < 0.001
    assert cmp.lo <= 0.2 <= cmp.hi and cmp.correlation == pytest.approx(1.0)
    cmp = stats.paired_difference(a + 0.2, a, clusters)
    assert cmp.verdict == stats.REGRESSED
    cmp = stats.paired_difference(a + 0.2, a, clusters, higher_is_better=False)
    assert cmp.verdict == stats.IMPROVED      # e.g. the trap false-positive rate went down


def test_paired_difference_no_change_and_unpaired():
    cmp = stats.paired_difference([0.5, 0.5], [0.5, 0.5], [1, 2])
    assert cmp.diff == 0 and cmp.verdict == stats.NO_CHANGE and cmp.p_value == 1.0
    cmp = stats.paired_difference([np.nan], [0.5], [1])
    assert cmp.n_items == 0 and cmp.verdict == stats.NO_CHANGE


def test_mde_formula():
    se, df = 0.04, 19
    expected = (st.t.ppf(0.975, df) + st.t.ppf(0.8, df)) * se
    assert float(stats.mde(se, df)) == pytest.approx(expected)
    assert np.isnan(stats.mde(0.1, 0))
    # with many cases it tends to Miller's normal-quantile formula (1.96 + 0.84) * SE
    assert float(stats.mde(1.0, 10_000)) == pytest.approx(2.8, abs=0.01)


# ------------------------------------------------------------------------------------------ flips, reducers

@pytest.mark.parametrize("base,cand,expected", [
    (1 / 1, 0 / 1, "regressed"), (2 / 3, 1 / 3, "regressed"), (3 / 3, 1 / 3, "regressed"),
    (2 / 2, 0 / 2, "regressed"), (2 / 2, 1 / 2, ""),          # 1/2 is not "missed in most epochs"
    (1 / 2, 0 / 2, ""),                                       # 1/2 is not "reliably"
    (3 / 4, 1 / 4, "regressed"), (1 / 3, 3 / 3, "improved"), (0.0, 1.0, "improved"),
    (np.nan, 0.0, ""),
])
def test_classify_flips(base, cand, expected):
    assert stats.classify_flips(np.array([base]), np.array([cand]))[0] == expected


def test_reduce_epochs():
    assert stats.reduce_epochs([True, False, False]) == pytest.approx(1 / 3)
    assert stats.reduce_epochs([True, False, False], "pass@k") == 1
    assert stats.reduce_epochs([True, True, False], "majority") == 1
    assert stats.reduce_epochs([True, False], "majority") == 0
    assert np.isnan(stats.reduce_epochs([]))
    with pytest.raises(ValueError):
        stats.reduce_epochs([True], "best")


def test_cohen_kappa():
    assert stats.cohen_kappa([1, 1, 0, 0], [1, 1, 0, 0]) == 1
    assert stats.cohen_kappa([1, 0, 1, 0], [0, 1, 0, 1]) == -1
    assert np.isnan(stats.cohen_kappa([1, 1], [1, 1]))


# --------------------------------------------------------------------------------------------- simulation

def simulate(rng: np.random.Generator, *, draws: int, cases: int, max_findings: int, epochs: int, delta: float,
             weighted: bool):
    """Synthetic suites with a known paired effect: per finding p1 = 0.1 + 0.7·logistic(case + finding effect),
    p2 = p1 + delta (never clipped), found counts Binomial(epochs, p) per version. Returns per-cluster sums."""
    nf = rng.integers(1, max_findings + 1, size=(draws, cases))
    mask = np.arange(max_findings)[None, None, :] < nf[..., None]
    z = rng.normal(size=(draws, cases, 1)) + rng.normal(size=(draws, cases, max_findings))
    p1 = 0.1 + 0.7 / (1 + np.exp(-z))
    a = rng.binomial(epochs, p1) / epochs
    b = rng.binomial(epochs, p1 + delta) / epochs
    w = rng.choice([1.0, 2.0, 3.0, 4.0], size=a.shape) if weighted else np.ones_like(a)
    w = w * mask
    return (w * (b - a)).sum(-1), w.sum(-1), (w * a).sum(-1)


@pytest.mark.parametrize("weighted", [False, True], ids=["recall", "severity-weighted"])
def test_simulation_coverage_and_false_positive_rate(weighted):
    """On 1,000 synthetic suites (24 cases, 1–6 findings, 3 epochs) the 95 % CI of a known paired effect
    (+10 pts) covers it in 93–97 % of draws, the single-run CI covers the true recall (45 %) likewise, and the
    sign-flip test rejects a true null at α = 0.05 in 3–7 % of draws."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(20240611 + weighted)
    draws, delta = 1000, 0.10
    D, W, A = simulate(rng, draws=draws, cases=24, max_findings=6, epochs=3, delta=delta, weighted=weighted)
    _, _, lo, hi, _ = stats.ratio_mean_batch(D, W)
    coverage = float(((lo <= delta) & (delta <= hi)).mean())
    _, _, lo1, hi1, _ = stats.ratio_mean_batch(A, W)
    coverage_single = float(((lo1 <= 0.45) & (0.45 <= hi1)).mean())
    D0, _, _ = simulate(rng, draws=draws, cases=24, max_findings=6, epochs=3, delta=0.0, weighted=weighted)
    p = stats.sign_flip_pvalue_batch(D0, n_flips=5000, seed=7)
    fpr = float((p < 0.05).mean())
    elapsed = time.perf_counter() - t0
    print(f"\n[{'weighted' if weighted else 'recall'}] coverage={coverage:.3f} single-run coverage="
          f"{coverage_single:.3f} FPR={fpr:.3f} time={elapsed:.2f}s")
    assert 0.93 <= coverage <= 0.97
    assert 0.93 <= coverage_single <= 0.97
    assert 0.03 <= fpr <= 0.07
    assert elapsed < 30


# ------------------------------------------------------------------------------------------------- edges (#20)

def test_newcombe_difference_known_values_and_boundaries():
    # Newcombe (1998) Table II, example (a): 56/70 − 48/80 → 0.0524 to 0.3339 (method 10); here as p_c − p_b
    lo, hi = stats.newcombe_difference(48 / 80, 56 / 70, 80, n_c=70)
    assert (lo, hi) == (pytest.approx(0.0524, abs=1e-4), pytest.approx(0.3339, abs=1e-4))
    lo, hi = stats.newcombe_difference(1.0, 1.0, 25)            # everything found in both runs
    wl, _ = stats.wilson(25, 25)
    assert lo == pytest.approx(-(1 - float(wl))) and hi == pytest.approx(1 - float(wl)) and hi > 0.1
    lo, hi = stats.newcombe_difference(1.0, 0.0, 6)
    assert lo == -1.0 and -1.0 < hi < 0
    assert all(np.isnan(stats.newcombe_difference(0.5, 0.5, 0)))


def test_paired_difference_one_case_is_not_estimable():
    cmp = stats.paired_difference([1.0, 1.0], [0.0, 0.0], ["a", "a"], interval="sign-flip",
                                  mde_method="sign-flip", proportion=True)
    assert not cmp.estimable and cmp.n_clusters == 1 and cmp.diff == -1.0
    assert np.isnan(cmp.lo) and np.isnan(cmp.hi) and np.isnan(cmp.mde) and cmp.verdict == stats.NO_CHANGE


def test_paired_difference_of_proportions_stays_in_range():
    # 2 cases, wildly different changes: the t interval on 1 df runs to ±several hundred points
    a, b, c = [0.9, 0.1], [0.0, 0.6], ["a", "b"]
    raw = stats.paired_difference(a, b, c)
    assert raw.lo < -1 or raw.hi > 1
    cmp = stats.paired_difference(a, b, c, proportion=True)
    assert -1 <= cmp.lo < cmp.diff < cmp.hi <= 1
    sf = stats.paired_difference(a, b, c, proportion=True, interval="sign-flip")   # unbounded test -> the range
    assert (sf.lo, sf.hi) == (-1.0, 1.0)


@pytest.mark.parametrize("interval", ["clustered-t", "sign-flip"])
def test_paired_difference_all_at_a_boundary_has_an_honest_width(interval):
    clusters = np.repeat(np.arange(10), 3)
    ones = np.ones(30)
    same = stats.paired_difference(ones, ones, clusters, interval=interval, mde_method="sign-flip",
                                   proportion=True)
    assert same.diff == 0 and same.lo < -0.1 and same.hi > 0.1 and np.isnan(same.mde)
    wl, _ = stats.wilson(10, 10)                   # one trial per case: Newcombe on 10 cases
    assert same.hi == pytest.approx(1 - float(wl))
    lost = stats.paired_difference(ones, np.zeros(30), clusters, interval=interval, proportion=True)
    assert lost.lo == -1.0 and -1.0 < lost.hi < 0          # not the zero-width [-1, -1]
    if interval == "sign-flip":
        assert lost.verdict == stats.REGRESSED and lost.hi < 0   # still excludes 0: agrees with the test


def test_critical_values_from_scipy_special_equal_scipy_stats_bit_for_bit():
    """wilson and t_crit take their critical values from scipy.special (importing scipy.stats cost every run's
    summary ~1 s of CPU): the same floats scipy.stats gives, so no interval moves."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import harness
    from harness.stats import t_crit, wilson
    for conf in (0.8, 0.9, 0.95, 0.99):
        df = np.concatenate([np.arange(1, 3000, dtype=float), np.linspace(1, 400, 1999)])
        assert np.array_equal(t_crit(df, conf), st.t.ppf(0.5 + conf / 2, df))
        z = st.norm.ppf(0.5 + conf / 2)
        lo, hi = wilson(3, 10, conf)
        p, n = 0.3, 10
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        assert abs(float(lo) + float(hi) - 2 * centre) < 1e-12
    code = "import sys, harness.history, harness.results, harness.stats; print('scipy.stats' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(harness.__file__).resolve().parents[1])}   # this checkout's harness
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env).stdout.strip()
    assert out == "False"
