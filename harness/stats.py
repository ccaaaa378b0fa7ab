"""Statistics for eval results: clustered intervals, Wilson intervals, paired comparisons, power, flips.

The unit of analysis is an *item* (an expected finding, or a trap) and items are clustered in *cases*: findings of
one case share a code base and a review, so they are not independent. Epochs repeat a case; they are reduced per
item first (mean over epochs by default), which lowers the within-item variance but adds no independent cases.
Every interval and test here therefore treats the **case** as the independent unit.

Method choices and sources:

* Clustered standard error of a (weighted) mean — Miller, E. (2024), "Adding Error Bars to Evals: A Statistical
  Approach to Language Model Evaluations", arXiv:2411.00640, §2.2 (clustered standard errors)::

      m  = Σ_c S_c / Σ_c W_c                       S_c = Σ_{i∈c} w_i y_i,  W_c = Σ_{i∈c} w_i
      SE = sqrt( G/(G-1) · Σ_c (S_c - m W_c)² ) / Σ_c W_c

  With w = 1 this is Miller's SE_clustered (the CLT variance plus the within-cluster covariance terms). The
  factor G/(G-1) is the usual small-sample (CR1) correction of the cluster-robust sandwich (Cameron & Miller
  2015, "A Practitioner's Guide to Cluster-Robust Inference", J. Human Resources 50(2), §VI). A ratio (weighted)
  mean is linearised as above (delta method).
* Intervals use a **t critical value on G-1 degrees of freedom** (G = number of cases with at least one item),
  not the normal 1.96, and not a bootstrap: with the 5–30 cases of a prompt suite a cluster bootstrap or a
  z-interval under-covers (Cameron & Miller 2015 §VI.C; Cameron, Gelbach & Miller 2008, REStat 90(3)). With
  equal cluster weights the interval is exactly the one-sample t-interval over case means. The simulation test
  (tests/test_stats.py) checks coverage stays within 93–97 % on synthetic suites of 20 cases.
* A single proportion from a handful of Bernoulli trials (one finding over a few epochs; the error rate of a run)
  uses the Wilson score interval — Wilson, E. B. (1927), JASA 22(158):209–212; recommended over the Wald
  interval by Brown, Cai & DasGupta (2001), Statistical Science 16(2):101–133.
* Paired comparison of two variants on the same items — Miller (2024) §4 (paired differences): the difference is
  computed per item, then its clustered SE as above. The p-value is a **sign-flip (paired permutation) test over
  cases**: under H0 the two variants' labels are exchangeable within a case, so flipping the sign of each case's
  summed difference generates the null distribution (Fisher 1935; Good, "Permutation, Parametric and Bootstrap
  Tests of Hypotheses", 2005, §3). Exact enumeration up to :data:`EXACT_FLIP_MAX` cases, Monte Carlo above;
  p = (1 + #{|T*| ≥ |T|}) / (1 + B) for Monte Carlo (Phipson & Smyth 2010, SAGMB 9(1)). With G cases the
  smallest attainable two-sided p is 2/2^G: with fewer than 6 cases nothing can be significant at 0.05.
* Minimum detectable effect at 80 % power — Miller (2024) §5 (power analysis), with the clustered SE of the
  paired difference standing in for sqrt(Var/n) and t quantiles on G-1 df (Bloom 1995, Evaluation Review 19(5),
  "Minimum detectable effects")::

      MDE = (t_{1-α/2, G-1} + t_{power, G-1}) · SE_diff

* Edges. Nothing is estimable from fewer than 2 cases (no spread between cases): such intervals and MDEs are NaN,
  printed "not estimable". A paired difference of proportions (``proportion=True``) is clipped to its range
  [-1, 1]; when every case shows the same difference (typically every finding found, or missed, in both runs) the
  clustered SE is 0 and any interval built on it has zero width, so the interval is widened to cover Newcombe's
  hybrid score interval (:func:`newcombe_difference`; Newcombe 1998, Stat. Med. 17(8):873–890, method 10), which
  stays honest at 0 % and 100 %, and the MDE is NaN (the spread it depends on was not observed).

Everything is vectorised with numpy: the ``*_batch`` functions take cluster sums shaped ``(..., G)`` and return
arrays shaped ``(...)`` so the simulation test runs thousands of draws at once.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import special as _sc


def _st():
    """``scipy.stats``, imported when a test that needs it runs (the gate's exact tests): importing it costs ~1 s
    of CPU, which every run's summary and report paid for two critical values that ``scipy.special`` gives
    bit for bit (``norm.ppf(q)`` is ``ndtri(q)``, ``t.ppf(q, df)`` is ``stdtrit(df, q)``; issue #16)."""
    from scipy import stats
    return stats

CONF = 0.95
ALPHA = 0.05
POWER = 0.80
EXACT_FLIP_MAX = 12          # enumerate all 2^G sign patterns up to this many cases (4096 patterns)
DEFAULT_FLIPS = 20_000       # Monte Carlo sign patterns above it
RELIABLY = 2 / 3             # "found reliably": found in at least 2/3 of the epochs
MOSTLY_MISSED = 0.5          # "missed in most epochs": found in fewer than half of the epochs

IMPROVED, REGRESSED, NO_CHANGE = "improved", "regressed", "no detectable change"


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval.

    Attributes:
        value: the estimate (NaN when there is nothing to estimate, e.g. recall of clean cases only).
        se: its standard error (NaN when it cannot be computed, e.g. one cluster).
        lo, hi: interval bounds at ``conf`` (NaN when unknown). Proportions are clipped to [0, 1] by callers.
        n: number of items (findings, traps, samples) behind the estimate.
        n_clusters: number of independent clusters (cases).
        method: ``clustered-t`` | ``wilson`` | ``none``.
    """

    value: float
    se: float
    lo: float
    hi: float
    n: int
    n_clusters: int
    method: str
    conf: float = CONF

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2


NAN_ESTIMATE = Estimate(float("nan"), float("nan"), float("nan"), float("nan"), 0, 0, "none")


# --------------------------------------------------------------------------------------------- Wilson interval

def wilson(k, n, conf: float = CONF) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for k successes out of n trials (Wilson 1927; Brown, Cai & DasGupta 2001).

    Args:
        k, n: scalars or arrays of the same shape (counts; ``k <= n``).
        conf: confidence level.
    Returns:
        ``(lo, hi)`` arrays (or 0-d arrays) in [0, 1]; NaN where ``n == 0``.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = _sc.ndtri(0.5 + conf / 2)           # scipy.stats.norm.ppf, bit for bit
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        # at k = 0 (k = n) the bound is exactly 0 (1); the formula leaves rounding noise of ~1e-16
        lo = np.where(n > 0, np.where(k <= 0, 0.0, np.clip(centre - half, 0, 1)), np.nan)
        hi = np.where(n > 0, np.where(k >= n, 1.0, np.clip(centre + half, 0, 1)), np.nan)
    return lo, hi


def wilson_estimate(k: int, n: int, conf: float = CONF, n_clusters: int | None = None) -> Estimate:
    """:func:`wilson` as an :class:`Estimate` of the proportion k/n (NaN estimate when n == 0)."""
    if n <= 0:
        return NAN_ESTIMATE
    lo, hi = wilson(k, n, conf)
    p = k / n
    return Estimate(p, float(np.sqrt(p * (1 - p) / n)), float(lo), float(hi), int(n),
                    int(n if n_clusters is None else n_clusters), "wilson", conf)


def newcombe_difference(p_b: float, p_c: float, n: float, conf: float = CONF, n_c: float | None = None
                        ) -> tuple[float, float]:
    """Hybrid score interval for a difference of two proportions ``p_c − p_b`` observed on ``n`` trials each
    (``n_c``: the candidate's, when it differs).

    Newcombe, R. G. (1998), "Interval estimation for the difference between independent proportions: comparison of
    eleven methods", Statistics in Medicine 17(8):873–890, method 10: with Wilson intervals (l_b, u_b) and
    (l_c, u_c) of the two proportions (:func:`wilson`)::

        lo = d − sqrt((p_c − l_c)² + (u_b − p_b)²)        hi = d + sqrt((u_c − p_c)² + (p_b − l_b)²)

    Unlike a Wald or clustered-t interval it does not collapse to zero width when both proportions sit at 0 or 1.
    Used as the independent-samples form (no correlation correction): for two runs on the same items, whose
    scores correlate positively, that is conservative (Newcombe 1998b, Stat. Med. 17(22):2635–2650).

    Args:
        p_b, p_c: baseline and candidate proportions in [0, 1].
        n: trials behind each proportion (> 0; fractional is fine, e.g. an effective sample size).
        conf: confidence level.
        n_c: the candidate's trials (default ``n``).
    Returns:
        ``(lo, hi)`` within [-1, 1]; NaN when a count is ``<= 0``.
    """
    n_c = n if n_c is None else n_c
    if not (n > 0 and n_c > 0):
        return float("nan"), float("nan")
    lb, ub = (float(x) for x in wilson(p_b * n, n, conf))
    lc, uc = (float(x) for x in wilson(p_c * n_c, n_c, conf))
    d = p_c - p_b
    lo = d - float(np.hypot(p_c - lc, ub - p_b))
    hi = d + float(np.hypot(uc - p_c, p_b - lb))
    return max(lo, -1.0), min(hi, 1.0)


# ----------------------------------------------------------------------------------- clustered mean (batched)

def t_crit(df, conf: float = CONF) -> np.ndarray:
    """Two-sided t critical value on ``df`` degrees of freedom (NaN where df < 1)."""
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(df >= 1, _sc.stdtrit(np.maximum(df, 1), 0.5 + conf / 2), np.nan)   # scipy.stats.t.ppf


def ratio_mean_batch(S, W, conf: float = CONF):
    """Clustered (CR1) mean and t-interval from per-cluster sums; vectorised over leading axes.

    Args:
        S: per-cluster weighted sums ``Σ w·y``, shape ``(..., G)``.
        W: per-cluster weight totals ``Σ w``, same shape. Clusters with ``W == 0`` are ignored (not counted in G).
        conf: confidence level.
    Returns:
        ``(mean, se, lo, hi, G)`` arrays of shape ``(...)``. ``se``/``lo``/``hi`` are NaN where G < 2;
        ``mean`` is NaN where ``Σ W == 0``.

    Source: Miller (2024) §2.2 clustered SE, CR1 small-sample factor G/(G-1), t on G-1 df (see module docs).
    """
    S = np.asarray(S, dtype=float)
    W = np.asarray(W, dtype=float)
    present = W > 0
    G = present.sum(axis=-1)
    tw = W.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = S.sum(axis=-1) / tw
        e = np.where(present, S - mean[..., None] * W, 0.0)
        var = (G / np.maximum(G - 1, 1)) * (e * e).sum(axis=-1) / (tw * tw)
        se = np.where(G >= 2, np.sqrt(var), np.nan)
        half = t_crit(G - 1, conf) * se
    return mean, se, mean - half, mean + half, G


def cluster_sums(y, clusters, weights=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group item values into per-cluster sums.

    Args:
        y: item values, shape ``(n,)``; NaN items are dropped.
        clusters: cluster label of each item, shape ``(n,)`` (any hashable dtype).
        weights: item weights, shape ``(n,)``; default 1.
    Returns:
        ``(labels, S, W)``: sorted unique cluster labels and the sums ``Σ w·y`` and ``Σ w`` per cluster.
    """
    y = np.asarray(y, dtype=float)
    clusters = np.asarray(clusters)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    keep = ~np.isnan(y) & (w > 0)
    y, w, clusters = y[keep], w[keep], clusters[keep]
    labels, inv = np.unique(clusters, return_inverse=True)
    S = np.bincount(inv, weights=w * y, minlength=len(labels))
    W = np.bincount(inv, weights=w, minlength=len(labels))
    return labels, S, W


def clustered_mean(y, clusters, weights=None, conf: float = CONF, *, bounds: tuple[float, float] | None = None,
                   proportion: bool = False) -> Estimate:
    """(Weighted) mean of item values with a cluster-robust t-interval (clusters = cases).

    Args:
        y: item values (e.g. a finding's found rate over epochs, 0..1), shape ``(n,)``; NaN items are dropped.
        clusters: the case of each item, shape ``(n,)``.
        weights: optional item weights (e.g. severity weights), shape ``(n,)``.
        conf: confidence level.
        bounds: clip the interval to these bounds (``(0, 1)`` for proportions).
        proportion: the values are proportions in [0, 1]. When the clustered interval degenerates — one
            cluster, or every cluster has the same mean so SE = 0 (e.g. every finding found) — fall back to a
            Wilson interval on the items (k = mean·n, n = items; method ``wilson``), which ignores clustering
            but never claims certainty from a handful of items.
    Returns:
        An :class:`Estimate` (method ``clustered-t`` or ``wilson``); ``NAN_ESTIMATE`` when no item remains; NaN
        interval with a single cluster unless ``proportion``.

    Source: Miller (2024) §2.2; CR1 correction and t(G-1) critical value (Cameron & Miller 2015).
    """
    _, S, W = cluster_sums(y, clusters, weights)
    if W.sum() <= 0:
        return NAN_ESTIMATE
    mean, se, lo, hi, G = ratio_mean_batch(S, W, conf)
    n = int(np.count_nonzero(~np.isnan(np.asarray(y, dtype=float))))
    if proportion and (G < 2 or not se > 0):
        wl, wh = wilson(float(mean) * n, n, conf)
        return Estimate(float(mean), float(se), float(wl), float(wh), n, int(G), "wilson", conf)
    lo, hi = float(lo), float(hi)
    if bounds is not None and not np.isnan(lo):
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return Estimate(float(mean), float(se), lo, hi, n, int(G), "clustered-t", conf)


# ------------------------------------------------------------------------------------------- paired comparison

@functools.lru_cache(maxsize=16)
def _all_signs(G: int) -> np.ndarray:
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=G))) if G else np.ones((1, 0))
    signs.setflags(write=False)
    return signs


_BLOCK = 64


@functools.lru_cache(maxsize=8)
def _sign_blocks(n_blocks: int, n_flips: int, seed: int) -> np.ndarray:
    """``(n_flips, 64·n_blocks)`` random ±1; column block b always comes from seed (seed, b), so the signs of
    cluster j do not depend on how many clusters a call has."""
    blocks = [np.where(np.random.default_rng([seed, b]).random((n_flips, _BLOCK)) < 0.5, 1.0, -1.0)
              for b in range(n_blocks)]
    signs = np.concatenate(blocks, axis=1)
    signs.setflags(write=False)
    return signs


def _random_signs(G: int, n_flips: int, seed: int) -> np.ndarray:
    return _sign_blocks(-(-G // _BLOCK), n_flips, seed)[:, :G]


def _flip(D: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """``D @ signs.T``. One vector goes through einsum's own loop: a BLAS matrix-vector product this small
    spends most of its time waking threads, 7× slower on a busy 2-core machine (the gate runs it per night)."""
    if D.ndim == 1:
        return np.einsum("fg,g->f", signs, D)
    return D @ signs.T


def sign_flip_pvalue_batch(D, *, n_flips: int = DEFAULT_FLIPS, seed: int = 0, exact_max: int = EXACT_FLIP_MAX
                           ) -> np.ndarray:
    """Two-sided sign-flip (paired permutation) p-value of ``Σ_c D_c`` over clusters; vectorised.

    Args:
        D: per-cluster summed paired differences, shape ``(..., G)``; clusters with D == 0 contribute nothing.
        n_flips: Monte Carlo sign patterns when G > ``exact_max``.
        seed: RNG seed of the Monte Carlo patterns (reports are reproducible).
        exact_max: enumerate all 2^G patterns up to this G (exact p-value).
    Returns:
        p-values, shape ``(...)``; 1.0 when every D is 0.

    Source: Fisher's randomisation test for paired data (Good 2005 §3); Monte Carlo p-value
    (1 + b)/(1 + B) after Phipson & Smyth (2010).
    """
    D = np.asarray(D, dtype=float)
    G = D.shape[-1]
    T = np.abs(D.sum(axis=-1))
    tol = 1e-9 * np.maximum(1.0, np.abs(D).sum(axis=-1))
    if G <= exact_max:
        signs = _all_signs(G)
        Tstar = np.abs(_flip(D, signs))                               # (..., 2^G)
        return (Tstar >= T[..., None] - tol[..., None]).mean(axis=-1)
    signs = _random_signs(G, n_flips, seed)
    Tstar = np.abs(_flip(D, signs))
    b = (Tstar >= T[..., None] - tol[..., None]).sum(axis=-1)
    return (1 + b) / (1 + n_flips)


def mde(se, df, alpha: float = ALPHA, power: float = POWER) -> np.ndarray:
    """Minimum detectable effect of a two-sided test at level ``alpha`` with ``power``.

    ``(t_{1-α/2, df} + t_{power, df}) · se`` — Miller (2024) §5 with t quantiles (Bloom 1995). NaN where df < 1.
    Units are those of ``se`` (e.g. recall points as a fraction).
    """
    df = np.asarray(df, dtype=float)
    se = np.asarray(se, dtype=float)
    with np.errstate(invalid="ignore"):
        d = np.maximum(df, 1)
        m = (_st().t.ppf(1 - alpha / 2, d) + _st().t.ppf(power, d)) * se
    return np.where(df >= 1, m, np.nan)


@dataclass(frozen=True)
class PairedComparison:
    """Candidate minus baseline on paired items.

    Attributes:
        baseline, candidate: the two (weighted) means over the paired items.
        diff: ``candidate - baseline`` (same units as the metric), with ``se``, ``lo``, ``hi`` (clustered t).
        p_value: two-sided sign-flip test over cases (exact for G ≤ 12).
        correlation: Pearson correlation of the items' baseline and candidate values (NaN if undefined).
        mde: minimum detectable effect at 80 % power and α = 0.05 for this suite (absolute, metric units).
        n_items, n_clusters: paired items and cases.
        verdict: ``improved`` | ``regressed`` | ``no detectable change`` (significant at α and the sign, taking
            ``higher_is_better`` into account; from ``p_adjusted`` when a multiplicity adjustment was applied).
        higher_is_better: the metric's direction (False for trap false-positive rate).
        interval: how lo/hi were computed: ``clustered-t`` (Miller 2024) or ``sign-flip`` (the inverted test, so
            that the interval and the verdict always agree — :func:`sign_flip_interval`).
        mde_method: ``t`` (analytic, :func:`mde`), ``sign-flip`` (simulated power of the test itself,
            :func:`mde_sign_flip`; ``inf`` = not reachable with these cases) or ``none`` (NaN, not computed).
        p_adjusted: Holm-adjusted p-value when the row belongs to a family of tests (NaN otherwise).
    """

    baseline: float
    candidate: float
    diff: float
    se: float
    lo: float
    hi: float
    p_value: float
    correlation: float
    mde: float
    n_items: int
    n_clusters: int
    verdict: str
    higher_is_better: bool = True
    alpha: float = ALPHA
    conf: float = CONF
    interval: str = "clustered-t"
    mde_method: str = "t"
    p_adjusted: float = float("nan")

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def significant(self) -> bool:
        return bool(self.p_value < self.alpha)

    @property
    def estimable(self) -> bool:
        """False below 2 cases: no interval, MDE or test exists without a spread between cases."""
        return self.n_clusters >= 2

    @property
    def mde_reachable(self) -> bool:
        """False when the test cannot detect any effect of the metric's size with these cases (MDE = inf)."""
        return not np.isinf(self.mde)


def verdict_of(diff: float, p_value: float, *, higher_is_better: bool = True, alpha: float = ALPHA) -> str:
    """``improved`` / ``regressed`` when ``p_value < alpha`` (by the sign of ``diff`` and the metric's direction),
    else ``no detectable change``."""
    if not (p_value < alpha) or not diff or np.isnan(diff):
        return NO_CHANGE
    better = diff > 0 if higher_is_better else diff < 0
    return IMPROVED if better else REGRESSED


def paired_difference(base, cand, clusters, weights=None, *, higher_is_better: bool = True,
                      alpha: float = ALPHA, conf: float = CONF, power: float = POWER,
                      n_flips: int = DEFAULT_FLIPS, seed: int = 0, interval: str = "clustered-t",
                      mde_method: str = "t", proportion: bool = False) -> PairedComparison:
    """Paired comparison of two variants on the same items (Miller 2024 §4).

    Args:
        base, cand: the items' values under each variant (e.g. per-finding found rate over epochs), shape
            ``(n,)``. Items where either is NaN are dropped (unpaired).
        clusters: the case of each item, shape ``(n,)``.
        weights: optional item weights (severity weights for severity-weighted recall).
        higher_is_better: direction of the metric for the verdict.
        alpha, conf, power: test level, interval level, power for the MDE.
        n_flips, seed: Monte Carlo sign-flip settings (used above 12 cases).
        interval: ``clustered-t`` (default) or ``sign-flip`` (invert the test: :func:`sign_flip_interval`).
        mde_method: ``t`` (analytic), ``sign-flip`` (simulated, :func:`mde_sign_flip`) or ``none``.
        proportion: the item values are proportions in [0, 1] (recall, found and flagged rates): the interval
            is clipped to [-1, 1] (an unbounded sign-flip interval with ≤ 5 cases becomes [-1, 1]), and when the
            cases show no spread (SE = 0: e.g. everything found in both runs) it is widened to cover the Newcombe
            hybrid score interval (:func:`newcombe_difference`) with one trial per case — at a boundary the
            within-case correlation cannot be estimated, and counting a case as one trial is the design effect's
            upper bound (Kish 1965, "Survey Sampling", deff = 1 + (m − 1)ρ ≤ m). With a sign-flip interval the
            widening never moves a bound across 0, so interval and test still agree. The MDE is then NaN.
    Returns:
        A :class:`PairedComparison`. With no paired item everything is NaN and the verdict is "no detectable
        change". Below 2 cases (``estimable`` False) se, lo, hi and mde are NaN and the verdict is "no detectable
        change" (the sign-flip p-value of one case is 1).
    """
    a = np.asarray(base, dtype=float)
    b = np.asarray(cand, dtype=float)
    clusters = np.asarray(clusters)
    w = np.ones_like(a) if weights is None else np.asarray(weights, dtype=float)
    keep = ~np.isnan(a) & ~np.isnan(b) & (w > 0)
    a, b, w, clusters = a[keep], b[keep], w[keep], clusters[keep]
    if not len(a):
        nan = float("nan")
        return PairedComparison(nan, nan, nan, nan, nan, nan, 1.0, nan, nan, 0, 0, NO_CHANGE, higher_is_better,
                                alpha, conf, interval, mde_method)
    labels, inv = np.unique(clusters, return_inverse=True)
    W = np.bincount(inv, weights=w, minlength=len(labels))
    D = np.bincount(inv, weights=w * (b - a), minlength=len(labels))
    mean, se, lo, hi, G = ratio_mean_batch(D, W, conf)
    p = float(sign_flip_pvalue_batch(D, n_flips=n_flips, seed=seed))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = float(np.corrcoef(a, b)[0, 1]) if len(a) > 1 and a.std() > 0 and b.std() > 0 else float("nan")
    diff = float(mean)
    if interval == "sign-flip":
        lo, hi = sign_flip_interval(D, W, conf, n_flips=n_flips, seed=seed)
    elif interval != "clustered-t":
        raise ValueError(f"unknown interval {interval!r}")
    if mde_method == "sign-flip":
        m = mde_sign_flip(D, W, alpha=alpha, power=power, seed=seed)
    elif mde_method == "t":
        m = float(mde(se, G - 1, alpha, power))
    else:
        m = float("nan")
    lo, hi, m = float(lo), float(hi), float(m)
    if G < 2:
        se = lo = hi = m = float("nan")
    elif proportion:
        if not se > 1e-12:                                 # rounding leaves ~1e-17, not 0
            nlo, nhi = newcombe_difference(float((w * a).sum() / w.sum()), float((w * b).sum() / w.sum()),
                                           float(G), conf)
            wlo, whi = min(lo, nlo), max(hi, nhi)
            if interval == "sign-flip" and p < alpha:        # the test rejected 0: keep 0 outside
                if hi < 0 <= whi:
                    whi = hi
                elif wlo <= 0 < lo:
                    wlo = lo
            lo, hi, m = wlo, whi, float("nan")
        lo, hi = max(lo, -1.0), min(hi, 1.0)
    return PairedComparison(
        baseline=float((w * a).sum() / w.sum()), candidate=float((w * b).sum() / w.sum()),
        diff=diff, se=float(se), lo=lo, hi=hi, p_value=p, correlation=corr,
        mde=m, n_items=int(len(a)), n_clusters=int(G),
        verdict=verdict_of(diff, p, higher_is_better=higher_is_better, alpha=alpha),
        higher_is_better=higher_is_better, alpha=alpha, conf=conf, interval=interval, mde_method=mde_method)


# ----------------------------------------------------------------------------------------------------- flips

def classify_flips(base_rate, cand_rate, *, reliably: float = RELIABLY, mostly_missed: float = MOSTLY_MISSED
                   ) -> np.ndarray:
    """Label items whose verdict flipped between two variants.

    An item (finding) is a **regression** when the baseline found it *reliably* — in at least ``reliably``
    (2/3) of its epochs, i.e. 1/1, 2/2, 2/3, 3/4, 4/5, 4/6… — and the candidate *misses it in most epochs* —
    found in fewer than ``mostly_missed`` (half) of its epochs. An **improvement** is the reverse. With one epoch
    this is simply found → missed, which is noisy; run ≥ 3 epochs for flips you can act on.

    Args:
        base_rate, cand_rate: found rates over epochs (0..1), same shape; NaN gives "".
    Returns:
        An array of ``"regressed"``, ``"improved"`` or ``""`` of the same shape.
    """
    a = np.asarray(base_rate, dtype=float)
    b = np.asarray(cand_rate, dtype=float)
    eps = 1e-9
    reg = (a >= reliably - eps) & (b < mostly_missed - eps)
    imp = (b >= reliably - eps) & (a < mostly_missed - eps)
    return np.where(reg, REGRESSED, np.where(imp, IMPROVED, ""))


def reduce_epochs(found: Sequence[bool] | np.ndarray, reducer: str = "mean") -> float:
    """Reduce one item's per-epoch verdicts (booleans) to a score in [0, 1].

    ``mean``: fraction of epochs found; ``pass@k``: 1 if found in any epoch; ``majority``: 1 if found in more
    than half. NaN when there is no epoch. Raises ValueError on an unknown reducer.
    """
    x = np.asarray(found, dtype=float)
    if not x.size:
        return float("nan")
    if reducer == "mean":
        return float(x.mean())
    if reducer == "pass@k":
        return float(x.max())
    if reducer == "majority":
        return float(x.mean() > 0.5)
    raise ValueError(f"unknown reducer {reducer!r}; expected mean, pass@k or majority")


def cohen_kappa(a, b) -> float:
    """Cohen's kappa of two raters' boolean verdicts on the same items (Cohen 1960, Educational and
    Psychological Measurement 20(1):37-46).

    kappa = (p_o - p_e) / (1 - p_e), with p_o the observed agreement and p_e = P(a)P(b) + (1-P(a))(1-P(b)) the
    agreement expected by chance from each rater's marginal rate.

    Returns:
        kappa in [-1, 1]; 0.0 when one rater is constant and the other is not (no agreement beyond chance);
        NaN when there is no item, or both raters are constant (p_e = 1: kappa is undefined — read the raw
        agreement instead).
    Raises:
        ValueError: when the sequences differ in length.
    """
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"rater sequences differ in length: {a.shape} vs {b.shape}")
    if not a.size:
        return float("nan")
    po = float((a == b).mean())
    pa, pb = a.mean(), b.mean()
    pe = float(pa * pb + (1 - pa) * (1 - pb))
    return float("nan") if pe >= 1 else (po - pe) / (1 - pe)

# ------------------------------------------------------------------------- tests behind the regression gate

def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm, S. 1979, "A simple sequentially rejective multiple test
    procedure", Scand. J. Statistics 6(2):65-70): ``p_(i)·(m - i + 1)`` for the i-th smallest, made monotone
    by a running maximum and clipped to 1. Rejecting where the adjusted p < α controls the family-wise error
    rate at α under any dependence.

    Args:
        p: raw p-values, shape ``(m,)``; NaN entries are left NaN and do not count in m.
    Returns:
        Adjusted p-values, shape ``(m,)``, in the input order.
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if not m:
        return out
    order = np.argsort(q, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate(q[order] * (m - np.arange(m))))
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out


@functools.lru_cache(maxsize=65_536)
def rate_drop_pvalue(k_b: int, n_b: int, k_c: int, n_c: int) -> float:
    """One-sided p-value that a finding's found rate is lower in the candidate than in the baseline.

    Boschloo's exact unconditional test of two binomial proportions (Boschloo, R. D. 1970, Statistica
    Neerlandica 24(1):1-9), ``scipy.stats.boschloo_exact`` with ``alternative="greater"`` on the table
    ``[[k_b, k_c], [n_b - k_b, n_c - k_c]]`` (columns = the two runs). Uniformly more powerful than Fisher's exact
    test; exact, so it never exceeds its level. Epochs of two runs are independent draws, so the two runs are two
    binomial samples of the same finding (no epoch-level pairing exists).

    Args:
        k_b, n_b: baseline epochs (successful only) that found the finding, and successful epochs.
        k_c, n_c: the same for the candidate.
    Returns:
        The p-value in [0, 1]; 1.0 when either run has no successful epoch or the candidate's rate is not lower.
    """
    if n_b <= 0 or n_c <= 0 or k_c / n_c >= k_b / n_b:
        return 1.0
    return float(_st().boschloo_exact([[k_b, k_c], [n_b - k_b, n_c - k_c]], alternative="greater").pvalue)


def min_sign_flip_p(G: int) -> float:
    """The smallest two-sided sign-flip p-value attainable with G clusters: ``2 / 2^G`` (all differences of one
    sign). With G ≤ 5 it is ≥ 0.0625, so nothing is significant at 0.05 (Good 2005, §3)."""
    return 1.0 if G <= 0 else min(1.0, 2.0 / 2.0 ** G)


def sign_flip_interval(D, W, conf: float = CONF, *, n_flips: int = DEFAULT_FLIPS, seed: int = 0,
                       exact_max: int = EXACT_FLIP_MAX, tol: float = 1e-5) -> tuple[float, float]:
    """Confidence interval for a paired mean difference by inverting the sign-flip test.

    The interval is ``{δ : p(δ) ≥ 1 − conf}`` where ``p(δ)`` is :func:`sign_flip_pvalue_batch` of the shifted
    cluster sums ``D_c − δ·W_c`` (the hypothesis "candidate = baseline + δ on every item"); Hodges & Lehmann
    (1963, Ann. Math. Stat. 34(2)) and Good (2005, §3.6) for inverting a permutation test. The same sign patterns
    (seed) are used for every δ, and the bounds are found by bisection between the estimate and a point the test
    rejects. Built so that the verdict of the test at δ = 0 and the interval always agree: 0 lies outside the
    interval exactly when p(0) < 1 − conf.

    Args:
        D: per-cluster summed differences (weighted), shape ``(G,)``.
        W: per-cluster weights (items), shape ``(G,)``, positive.
        conf: confidence level.
        n_flips, seed, exact_max: as :func:`sign_flip_pvalue_batch`.
        tol: bisection tolerance (units of the mean; 1e-5 = 0.001 percentage points).
    Returns:
        ``(lo, hi)``; ``(-inf, inf)`` when the test cannot reach ``1 − conf`` with G clusters; NaN when G == 0.
    """
    D = np.asarray(D, dtype=float)
    W = np.asarray(W, dtype=float)
    G = D.shape[-1]
    if G == 0 or W.sum() <= 0:
        return float("nan"), float("nan")
    alpha = 1 - conf
    if G <= exact_max and min_sign_flip_p(G) >= alpha:
        return float("-inf"), float("inf")
    est = float(D.sum() / W.sum())

    def p(delta: float) -> float:
        return float(sign_flip_pvalue_batch(D - delta * W, n_flips=n_flips, seed=seed, exact_max=exact_max))

    ratios = D / W
    p0 = p(0.0)
    out = []
    for side, far in ((-1, float(ratios.min()) - 1e-6), (1, float(ratios.max()) + 1e-6)):
        far = min(far, est - tol) if side < 0 else max(far, est + tol)
        if p(far) >= alpha:          # not even the most extreme shift is rejected (Monte Carlo floor)
            out.append(float("-inf") if side < 0 else float("inf"))
            continue
        inner = est
        if (0.0 - est) * side > 0 and p0 < alpha:
            far = 0.0                # 0 is rejected on this side: the bound lies between the estimate and 0
        while abs(far - inner) > tol:
            mid = (far + inner) / 2
            if p(mid) >= alpha:
                inner = mid
            else:
                far = mid
        out.append(inner)
    lo, hi = out
    if p0 >= alpha:                  # never print an interval that excludes 0 next to a non-significant test
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    return lo, hi


def mde_sign_flip(D, W, *, alpha: float = ALPHA, power: float = POWER, n_sim: int = 400, n_flips: int = 2000,
                  seed: int = 0, max_effect: float = 1.0, exact_max: int = EXACT_FLIP_MAX) -> float:
    """Minimum detectable effect of the sign-flip test itself, by simulation.

    The analytic MDE ``(t_{1-α/2} + t_{power})·SE`` (Bloom 1995) assumes a t-test; the gate uses a sign-flip test,
    whose power is lower (the shift inflates its permutation variance), so at 25 cases the analytic MDE gave
    74-76 % power, not 80 %. Here each simulated suite gives the observed residuals
    ``r_c = (D_c − m·W_c)·sqrt(G/(G−1))`` random signs (a wild cluster bootstrap with Rademacher weights,
    Cameron, Gelbach & Miller 2008, REStat 90(3)), scaled by a draw of σ/s ~ sqrt((G−1)/χ²_{G−1}) because the
    spread itself is estimated from G cases (power averaged over that uncertainty: "assurance", O'Hagan, Stevens &
    Campbell 2005, Pharmaceutical Statistics 4(3)); a shift ``δ·W_c`` is added; the MDE is the smallest δ the test
    detects (p < α, right direction) in ``power`` of the simulations, found by bisection with common random
    numbers. ``bench/bench_gate.py`` checks the realised power at the printed MDE on fresh synthetic nights.

    Args:
        D, W: per-cluster summed differences and weights, shape ``(G,)``.
        alpha, power: test level and the power wanted.
        n_sim: simulated suites per δ; n_flips: Monte Carlo sign patterns per test above ``exact_max`` clusters.
        seed: RNG seed (reproducible reports).
        max_effect: the largest effect considered (1.0 = 100 points for a difference of fractions).
    Returns:
        The MDE in the units of the mean (a fraction for recall); ``inf`` when the test cannot reach α with G
        clusters or ``power`` is not reached below ``max_effect``; NaN when G < 2.
    """
    D = np.asarray(D, dtype=float)
    W = np.asarray(W, dtype=float)
    G = D.shape[-1]
    if G < 2 or W.sum() <= 0:
        return float("nan")
    if min_sign_flip_p(G) >= alpha:
        return float("inf")
    m = D.sum() / W.sum()
    r = (D - m * W) * np.sqrt(G / (G - 1))
    rng = np.random.default_rng([seed, 7])
    eps = np.where(rng.random((n_sim, G)) < 0.5, 1.0, -1.0)
    # the spread is estimated from G clusters: draw the true one from its posterior, sigma/s ~ sqrt((G-1)/chi2_{G-1})
    scale = np.sqrt((G - 1) / rng.chisquare(G - 1, size=(n_sim, 1)))
    base = eps * r * scale                                    # (n_sim, G)
    if G <= exact_max:
        signs = _all_signs(G)
    else:
        signs = _random_signs(G, n_flips, seed + 1)

    def pw(delta: float) -> float:
        Dd = base + delta * W
        T = Dd.sum(axis=1)
        Tstar = np.abs(Dd @ signs.T)
        tol_ = 1e-9 * np.maximum(1.0, np.abs(Dd).sum(axis=1))
        b = (Tstar >= np.abs(T)[:, None] - tol_[:, None]).sum(axis=1)
        pv = b / signs.shape[0] if G <= exact_max else (1 + b) / (1 + signs.shape[0])
        return float(((pv < alpha) & (T > 0)).mean())

    if pw(max_effect) < power:
        return float("inf")
    lo, hi = 0.0, max_effect
    while hi - lo > 5e-4:
        mid = (lo + hi) / 2
        if pw(mid) >= power:
            hi = mid
        else:
            lo = mid
    return hi


def reduce_counts(k, n, reducer: str = "mean", epochs: int | None = None) -> np.ndarray:
    """Reduce an item's successful epochs (k found of n) to its score; vectorised; errored epochs never enter.

    ``mean``: k/n. ``pass@k``: found in at least one of ``epochs`` reviews; ``majority``: found in more than half of
    ``epochs`` reviews. When a finding has more successful epochs than ``epochs`` (a baseline pooled over several
    nights), the score is the unbiased estimate over every subset of ``epochs`` of them — the hypergeometric tail
    (Chen et al. 2021, "Evaluating Large Language Models Trained on Code", arXiv:2107.03374, eq. 1, for pass@k);
    with ``n ≤ epochs`` it is the plain rule over the n successful epochs (pass@n: no unbiased estimate exists
    from fewer than ``epochs`` draws, so a run that lost epochs to errors scores pass@k somewhat lower).

    Args:
        k, n: arrays (or scalars) of found and successful epochs, same shape.
        reducer: ``mean`` | ``pass@k`` | ``majority``.
        epochs: reviews per run (the run's planned epochs); None = n (no pooling).
    Returns:
        Scores in [0, 1], NaN where n == 0.
    Raises:
        ValueError: unknown reducer.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    safe = np.maximum(n, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, k / safe, np.nan)
    if reducer == "mean":
        return rate
    if reducer not in ("pass@k", "majority"):
        raise ValueError(f"unknown reducer {reducer!r}; expected mean, pass@k or majority")
    e = safe if epochs is None else np.minimum(np.asarray(epochs, dtype=float), safe)
    pooled = n > e
    if reducer == "pass@k":
        plain = (k > 0).astype(float)
        sub = _st().hypergeom.sf(0, safe.astype(int), k.astype(int), e.astype(int))
    else:
        plain = (rate > 0.5).astype(float)
        sub = _st().hypergeom.sf(np.floor(e / 2), safe.astype(int), k.astype(int), e.astype(int))
    return np.where(n > 0, np.where(pooled, sub, plain), np.nan)
