"""What the nightly dashboard computes from run summaries (:mod:`harness.history`), never from the reviews.

* **Latest night against the baseline** (:func:`compare_to_baseline`): the night's verdict and exit code come from
  the regression gate of :mod:`harness.verdicts` alone (recall and critical findings, the same function as
  ``harness compare``); the recall row shows that gate's numbers (inverted sign-flip interval). For every other
  metric, each case's value in the two runs is paired and :func:`harness.stats.paired_difference` gives the
  difference, its clustered 95 % interval and the sign-flip p-value over cases, Holm-adjusted across those rows
  (:func:`harness.verdicts.holm_family`): shown, never gated on. A case's value is the mean over its paired items
  (findings for recall, traps for the false-positive rate, samples for the error rate) and its weight the number of
  those items (the severity weights for severity-weighted recall), so the cluster sums — and so the numbers — are
  exactly those of ``harness compare`` on the same two runs (Miller 2024, §4: paired differences clustered by case).
* **Nights against the baseline** (:func:`nights_vs_baseline`): the same recall comparison for every night at
  once (:func:`harness.stats.ratio_mean_batch`, :func:`harness.stats.sign_flip_pvalue_batch`); a night is
  *below the baseline* when the difference is negative and p < 0.05.
* **Flakiness** (:func:`flakiness`): for one finding, the probability that two reviews disagree on it, over
  (a) two different epochs of the same night — ``2·m·(k−m) / (k·(k−1))`` for m of k epochs found, the unbiased
  estimate of ``2·p·(1−p)`` — and (b) an epoch of one night and one of the next night —
  ``r_n·(1−r_{n+1}) + r_{n+1}·(1−r_n)`` with r the nightly found rates. Flakiness is the mean of these terms over
  the window: 0 for a finding always found or always missed, 0.5 for a coin flip. Like von Neumann's mean square
  successive difference (von Neumann et al. 1941, Ann. Math. Stat. 12(4)), it compares neighbours only, so a
  single step change (a regression) adds one term, not a lasting "variance". A case's flakiness is the mean over
  its findings.
* **Flips**: a finding flips between two successive nights when one found it reliably (≥ 2/3 of its epochs) and
  the other missed it in most (< 1/2) — :func:`harness.stats.classify_flips`, as in ``harness compare``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..history import History
from ..stats import (ALPHA, IMPROVED, REGRESSED, PairedComparison, classify_flips, paired_difference,
                     ratio_mean_batch, sign_flip_pvalue_batch)
from ..verdicts import Verdict, holm_family, pool_findings

SEV_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
FLAKY = 0.3   # a case is flagged flaky at this flakiness: its findings' verdicts vary like p ∈ [0.19, 0.81]


def pair_variants(base: list[str], cand: list[str]) -> list[tuple[str, str]]:
    """Which baseline variant each candidate variant is compared with: the same label when the baseline has it;
    otherwise, when both runs hold exactly one variant, those two (e.g. a new prompt version against the pinned
    one). Returns ``[(base_variant, cand_variant)]``."""
    pairs = [(v, v) for v in cand if v in base]
    if not pairs and len(base) == 1 and len(cand) == 1:
        pairs = [(base[0], cand[0])]
    return pairs


# ------------------------------------------------------------------------------------- latest vs baseline

@dataclass
class BaselineRow:
    """One compared metric. ``fmt``: ``pct`` (fractions), ``usd``, ``num``, ``s`` (seconds). ``neutral`` rows
    (cost, tokens, latency) get no regressed/improved verdict; rows that do not ``gate`` (the error rate: errors
    make a run incomplete, exit 3, not a quality regression — as in ``harness compare``) get a verdict but do not
    count as a regression of the night."""

    key: str
    label: str
    group: str
    cmp: PairedComparison
    fmt: str = "pct"
    neutral: bool = False
    gates: bool = True

    @property
    def verdict(self) -> str:
        """The row's own label (recall: the gate's recall test; other rows: from the Holm-adjusted p-value);
        the night's status comes from :class:`harness.verdicts.Verdict`, not from rows."""
        return "" if self.neutral else self.cmp.verdict

    @property
    def regressed(self) -> bool:
        return self.verdict == REGRESSED

    @property
    def lo(self) -> float:
        """Interval bounds for display: a difference of fractions can't leave [-1, 1] (the t interval on few
        cases can)."""
        return max(self.cmp.lo, -1.0) if self.fmt == "pct" else self.cmp.lo

    @property
    def hi(self) -> float:
        return min(self.cmp.hi, 1.0) if self.fmt == "pct" else self.cmp.hi


def _per_case(df: pd.DataFrame, value: str, weight: str) -> pd.DataFrame:
    """Per-case weighted means of ``value_b``/``value_c`` with total weight: the per-case values to pair."""
    d = df.assign(_wb=df[f"{value}_b"] * df[weight], _wc=df[f"{value}_c"] * df[weight])
    g = d.groupby("case", sort=True).agg(wb=("_wb", "sum"), wc=("_wc", "sum"), w=(weight, "sum")).reset_index()
    g = g[g["w"] > 0]
    return pd.DataFrame({"case": g["case"], "b": g["wb"] / g["w"], "c": g["wc"] / g["w"], "w": g["w"]})


def _pdiff(pc: pd.DataFrame, *, higher_is_better: bool = True, seed: int = 0, proportion: bool = False
           ) -> PairedComparison:
    return paired_difference(pc["b"].to_numpy(float), pc["c"].to_numpy(float), pc["case"].to_numpy(),
                             pc["w"].to_numpy(float), higher_is_better=higher_is_better, seed=seed,
                             proportion=proportion)


def paired_findings(base_v: dict, cand_v: dict) -> pd.DataFrame:
    """The two variants' findings joined on (case, finding), keeping those with a successful epoch in both.

    Columns: case, finding, severity, category, weight, n_epochs_b, n_found_b, score_b, rate_b and the same with
    ``_c`` (rate = n_found / n_epochs), one (a unit weight), flip (``regressed``/``improved``/"")."""
    cols = ["case", "finding", "n_epochs", "n_found", "score"]
    fb = pd.DataFrame(base_v["findings"], columns=cols + ["severity", "category", "weight"])
    fc = pd.DataFrame(cand_v["findings"], columns=cols + ["severity", "category", "weight"])
    m = fb[cols].merge(fc, on=["case", "finding"], suffixes=("_b", "_c"))
    m = m[(m["n_epochs_b"] > 0) & (m["n_epochs_c"] > 0)].copy()
    for s in ("_b", "_c"):
        m[f"rate{s}"] = m[f"n_found{s}"] / m[f"n_epochs{s}"]
        m[f"score{s}"] = m[f"score{s}"].astype(float)
    m["weight"] = m["weight"].astype(float)
    m["one"] = 1.0
    m["flip"] = classify_flips(m["rate_b"], m["rate_c"]) if len(m) else []
    return m.reset_index(drop=True)


def pool_variants(variants: list[dict], *, reducer: str = "mean", epochs: int | None = None) -> dict:
    """One baseline variant entry from the same variant in several run summaries (a baseline pooled over nights):
    findings and traps summed over their successful epochs and re-scored with the reducer at ``epochs`` reviews
    per run (:func:`harness.verdicts.pool_findings`), per-case sample counts and cost summed, tokens and latency
    averaged over samples. A single entry is returned as is."""
    if len(variants) == 1:
        return variants[0]
    out = dict(variants[0])
    out["findings"] = pool_findings([pd.DataFrame(v["findings"]) for v in variants], reducer=reducer,
                                    epochs=epochs).to_dict("records")
    traps = [pd.DataFrame(v["traps"]).rename(columns={"n_flagged": "n_found", "trap": "finding"}) for v in variants]
    pooled = pool_findings(traps, reducer=reducer, epochs=epochs)
    out["traps"] = pooled.rename(columns={"n_found": "n_flagged", "finding": "trap"}).to_dict("records")
    cs = pd.concat([pd.DataFrame(v["cases"]) for v in variants], ignore_index=True)
    if len(cs):
        cs = cs.assign(_tok=cs["total_tokens"] * cs["n_samples"], _lat=cs["latency_s"] * cs["n_samples"])
        g = cs.groupby("case", sort=False).agg(
            kind=("kind", "first"), n_samples=("n_samples", "sum"), n_ok=("n_ok", "sum"), n_errors=("n_errors", "sum"),
            n_findings=("n_findings", "first"), n_traps=("n_traps", "first"),
            cost_usd=("cost_usd", lambda x: x.sum(min_count=1)), _tok=("_tok", "sum"), _lat=("_lat", "sum"))
        g["total_tokens"] = g["_tok"] / g["n_samples"].where(g["n_samples"] > 0)
        g["latency_s"] = g["_lat"] / g["n_samples"].where(g["n_samples"] > 0)
        out["cases"] = g.drop(columns=["_tok", "_lat"]).reset_index().to_dict("records")
    return out


def compare_to_baseline(base_v: dict, cand_v: dict, *, seed: int = 0, verdict: Verdict | None = None
                        ) -> list[BaselineRow]:
    """Paired comparison of a candidate variant summary with a baseline variant summary, metric by metric.

    Args:
        base_v, cand_v: variant entries of two run summaries (``summary["variants"][i]``; the baseline possibly
            pooled, :func:`pool_variants`).
        seed: sign-flip Monte Carlo seed (same default as ``harness compare``).
        verdict: the gate's verdict on this pair (:func:`harness.verdicts.decide_summaries`): its recall
            comparison becomes the recall row, so the row and the verdict come from one procedure.
    Returns:
        Rows — recall, severity-weighted recall, critical/high recall, trap false-positive rate, error rate, recall
        per category, cost/tokens/latency per sample — sorted significant regressions first (smallest p first),
        then significant improvements, then the rest in the order above. Rows other than recall carry
        Holm-adjusted p-values (``cmp.p_adjusted``) and verdicts from them.
    """
    pf = paired_findings(base_v, cand_v)
    rows: list[BaselineRow] = []

    def add(key, label, group, pc, fmt="pct", hib=True, neutral=False, gates=True):
        if len(pc):
            rows.append(BaselineRow(key, label, group, _pdiff(pc, higher_is_better=hib, seed=seed,
                                                              proportion=fmt == "pct"), fmt, neutral, gates))

    add("recall", "recall", "headline", _per_case(pf, "score", "one"))
    add("weighted_recall", "severity-weighted recall", "headline", _per_case(pf, "score", "weight"))
    add("critical_high_recall", "recall on critical/high findings", "headline",
        _per_case(pf[pf["severity"].isin(["critical", "high"])], "score", "one"))
    tcols = ["case", "trap", "n_epochs", "score"]
    tb, tc = pd.DataFrame(base_v["traps"], columns=tcols), pd.DataFrame(cand_v["traps"], columns=tcols)
    tr = tb.merge(tc, on=["case", "trap"], suffixes=("_b", "_c"))
    tr = tr[(tr["n_epochs_b"] > 0) & (tr["n_epochs_c"] > 0)].assign(one=1.0)
    add("trap_fp_rate", "trap false-positive rate", "headline", _per_case(tr, "score", "one"), hib=False)
    ccols = ["case", "n_samples", "n_errors", "n_ok", "cost_usd", "total_tokens", "latency_s"]
    cb, cc = pd.DataFrame(base_v["cases"], columns=ccols), pd.DataFrame(cand_v["cases"], columns=ccols)
    cs = cb.merge(cc, on="case", suffixes=("_b", "_c"))
    cs = cs[(cs["n_samples_b"] > 0) & (cs["n_samples_c"] > 0)]
    err = pd.DataFrame({"case": cs["case"], "b": cs["n_errors_b"] / cs["n_samples_b"],
                        "c": cs["n_errors_c"] / cs["n_samples_c"], "w": cs["n_samples_c"].astype(float)})
    add("error_rate", "error rate", "headline", err, hib=False, gates=False)
    for cat in sorted(pf["category"].dropna().unique()):
        add(f"category:{cat}", f"recall: {cat}", "category", _per_case(pf[pf["category"] == cat], "score", "one"))
    for key, label, fmt, b, c in (
            ("cost_per_sample", "cost per sample (USD)", "usd", cs["cost_usd_b"] / cs["n_samples_b"],
             cs["cost_usd_c"] / cs["n_samples_c"]),
            ("tokens_per_sample", "tokens per sample", "count", cs["total_tokens_b"], cs["total_tokens_c"]),
            ("latency_s", "latency per sample (s)", "s", cs["latency_s_b"], cs["latency_s_c"])):
        add(key, label, "cost", pd.DataFrame({"case": cs["case"], "b": b, "c": c, "w": 1.0}).dropna(), fmt,
            neutral=True)
    if verdict is not None and rows and rows[0].key == "recall":
        rows[0] = BaselineRow("recall", "recall", "headline", verdict.recall)
    fam = [i for i, r in enumerate(rows) if not r.neutral and r.key != "recall"]
    for i, c in zip(fam, holm_family([rows[i].cmp for i in fam])):
        rows[i] = BaselineRow(rows[i].key, rows[i].label, rows[i].group, c, rows[i].fmt, rows[i].neutral,
                              rows[i].gates)
    order = {r.key: i for i, r in enumerate(rows)}

    def rank(r: BaselineRow):
        v = r.verdict
        significant = v in (REGRESSED, IMPROVED)
        return (0 if v == REGRESSED else 1 if v == IMPROVED else 2, r.cmp.p_value if significant else 0.0,
                order[r.key])

    return sorted(rows, key=rank)


def finding_flips(pf: pd.DataFrame) -> list[dict]:
    """Findings that flipped between baseline and candidate (from :func:`paired_findings`), regressions first,
    critical before high before medium before low."""
    fl = pf[pf["flip"] != ""].copy()
    if fl.empty:
        return []
    fl["_k"] = [(0 if f == REGRESSED else 1, SEV_RANK.get(s, 4)) for f, s in zip(fl["flip"], fl["severity"])]
    fl = fl.sort_values(["_k", "case", "finding"], kind="stable")
    return fl.drop(columns=["_k"]).to_dict("records")


# ----------------------------------------------------------------------------------- nights vs baseline

def nights_vs_baseline(history: History, variant: str, base_v: dict, *, alpha: float = ALPHA,
                       seed: int = 0) -> pd.DataFrame:
    """Recall of every night of ``variant`` against the baseline variant, paired by (case, finding).

    Returns:
        One row per night holding the variant: night, run_id, diff (candidate − baseline recall, fraction), lo, hi
        (clustered 95 % CI), p (sign-flip over cases), n_cases, below (diff < 0 and p < alpha).
    """
    f = history.findings
    f = f[(f["variant"] == variant) & (f["n_epochs"] > 0)]
    cols = ["night", "run_id", "diff", "lo", "hi", "p", "n_cases", "below"]
    b = pd.DataFrame(base_v["findings"], columns=["case", "finding", "n_epochs", "score"])
    b = b[b["n_epochs"] > 0][["case", "finding", "score"]]
    m = f[["night", "run_id", "case", "finding", "score"]].merge(b, on=["case", "finding"], suffixes=("", "_b"))
    if m.empty:
        return pd.DataFrame(columns=cols)
    m["d"] = m["score"].astype(float) - m["score_b"].astype(float)
    g = m.groupby(["night", "case"]).agg(D=("d", "sum"), W=("d", "size")).reset_index()
    nights = sorted(g["night"].unique())
    cases = sorted(g["case"].unique())
    D = g.pivot(index="night", columns="case", values="D").reindex(index=nights, columns=cases).fillna(0.0)
    W = g.pivot(index="night", columns="case", values="W").reindex(index=nights, columns=cases).fillna(0.0)
    mean, _se, lo, hi, G = ratio_mean_batch(D.to_numpy(), W.to_numpy())
    p = sign_flip_pvalue_batch(D.to_numpy(), seed=seed)
    ids = m.drop_duplicates("night").set_index("night")["run_id"]
    out = pd.DataFrame({"night": nights, "run_id": [ids[n] for n in nights], "diff": mean, "lo": lo, "hi": hi,
                        "p": p, "n_cases": G})
    out["below"] = (out["diff"] < 0) & (out["p"] < alpha)
    return out


def below_since(nvb: pd.DataFrame) -> int | None:
    """The first night of the streak of nights below the baseline that ends at the latest night, or None when
    the latest night is not below."""
    if nvb.empty or not bool(nvb["below"].iloc[-1]):
        return None
    start = int(nvb["night"].iloc[-1])
    for night, below in zip(reversed(nvb["night"].tolist()), reversed(nvb["below"].tolist())):
        if not below:
            break
        start = int(night)
    return start


# --------------------------------------------------------------------------------------------- flakiness

def flakiness(history: History, variant: str, *, window: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flaky cases and flipping findings of ``variant`` over the last ``window`` nights (module docs).

    Returns:
        ``(cases, findings)``. ``findings``: case, finding, severity, category, flakiness (0..1; 0.5 = a coin flip),
        nights, flips, last_flip_night, last_flip (``regressed``/``improved``), mean_rate — sorted by flips then
        flakiness, descending. ``cases``: case, flakiness (mean over its findings), findings, flips, nights,
        recall_mean, recall_sd (SD of the nightly case recall) — most flaky first. Both empty when no night has a
        finding.
    """
    f = history.findings
    nights = sorted(f.loc[f["variant"] == variant, "night"].unique())[-window:] if len(f) else []
    f = f[(f["variant"] == variant) & f["night"].isin(nights) & (f["n_epochs"] > 0)].copy()
    fcols = ["case", "finding", "severity", "category", "flakiness", "nights", "flips", "last_flip_night",
             "last_flip", "mean_rate"]
    ccols = ["case", "flakiness", "findings", "flips", "nights", "recall_mean", "recall_sd"]
    if f.empty:
        return pd.DataFrame(columns=ccols), pd.DataFrame(columns=fcols)
    k = f["n_epochs"].astype(float)
    m = f["n_found"].astype(float)
    f["r"] = m / k
    f["within"] = np.where(k >= 2, 2 * m * (k - m) / (k * np.maximum(k - 1, 1)), np.nan)
    f = f.sort_values(["case", "finding", "night"], kind="stable")
    prev = f.groupby(["case", "finding"], sort=False)["r"].shift()
    f["across"] = prev * (1 - f["r"]) + f["r"] * (1 - prev)
    f["flip"] = np.where(prev.notna(), classify_flips(prev.fillna(0.0), f["r"]), "")
    f["flip_night"] = np.where(f["flip"] != "", f["night"], -1)
    f["_terms"] = f["within"].notna().astype(int) + f["across"].notna().astype(int)
    f["_sum"] = f["within"].fillna(0.0) + f["across"].fillna(0.0)
    g = f.groupby(["case", "finding"], sort=False)
    fd = g.agg(severity=("severity", "first"), category=("category", "first"), nights=("night", "nunique"),
               flips=("flip", lambda s: int((s != "").sum())), last_flip_night=("flip_night", "max"),
               mean_rate=("r", "mean"), _sum=("_sum", "sum"), _terms=("_terms", "sum")).reset_index()
    fd["flakiness"] = np.where(fd["_terms"] > 0, fd["_sum"] / fd["_terms"].clip(lower=1), np.nan)
    last = f[f["flip"] != ""].drop_duplicates(["case", "finding"], keep="last").set_index(["case", "finding"])["flip"]
    fd["last_flip"] = [last.get((c, x), "") for c, x in zip(fd["case"], fd["finding"])]
    fd["last_flip_night"] = fd["last_flip_night"].where(fd["last_flip_night"] >= 0)
    fd = fd.sort_values(["flips", "flakiness", "case", "finding"], ascending=[False, False, True, True],
                        kind="stable")[fcols].reset_index(drop=True)
    night_recall = f.groupby(["case", "night"])["score"].mean()
    rs = night_recall.groupby(level="case").agg(["mean", "std"])
    cd = fd.groupby("case").agg(flakiness=("flakiness", "mean"), findings=("finding", "size"),
                                flips=("flips", "sum"), nights=("nights", "max")).reset_index()
    cd["recall_mean"] = cd["case"].map(rs["mean"])
    cd["recall_sd"] = cd["case"].map(rs["std"])
    cd = cd.sort_values(["flakiness", "case"], ascending=[False, True], kind="stable")[ccols].reset_index(drop=True)
    return cd, fd


def heatmap_frame(history: History, variant: str, *, nights: int = 120) -> pd.DataFrame:
    """Case × night matrix of found rate (the case's recall over epochs, 0..1; NaN when the case did not run or
    all its epochs errored) for the last ``nights`` nights of ``variant``; clean cases (no findings) left out.
    Rows sorted by case id, columns by night."""
    c = history.cases
    if c.empty:
        return pd.DataFrame()
    c = c[(c["variant"] == variant) & (c["n_findings"] > 0)]
    keep = sorted(c["night"].unique())[-nights:]
    c = c[c["night"].isin(keep)]
    return c.pivot_table(index="case", columns="night", values="recall", aggfunc="mean", dropna=False
                         ).reindex(columns=keep).sort_index()
