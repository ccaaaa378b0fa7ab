"""One pair of runs, one verdict: ``harness compare`` (report and ``--fail-on-regression`` exit code), ``harness
nightly`` (exit code), the dashboard (status and view verdict) and ``pytest evals --baseline`` (the plugin's
comparison and session exit code) agree on pairs that differ only in traps, only in one critical finding, only in
errors, and in a lost critical finding whose candidate epochs errored."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.cli import main
from harness.config import load_config
from harness.planning import Choices
from harness.pytest_plugin import baseline_comparison, session_exit_code
from harness.report.compare import compare_runs
from harness.report.dashboard import build_dashboard
from harness.nightly import NightlyRun, nightly
from harness.testing.synthetic import make_cases, write_synthetic_run
from harness.verdicts import INCONCLUSIVE, REGRESSED

ROOT = Path(__file__).resolve().parents[1]
CASES = make_cases(10, findings_per_case=(2, 4), n_clean=1, seed=11, severities=["medium", "high"])
CASES[0]["findings"][0]["severity"] = "critical"
CASES[3]["findings"][0]["severity"] = "critical"
CRIT = (CASES[0]["id"], CASES[0]["findings"][0]["id"])


def found(lose_critical: bool = False):
    """Deterministic verdicts (odd findings found, even ones missed; critical ones found), so the two runs of a
    pair differ only in what the scenario plants."""
    def prob(case: dict, item: dict, epoch: int) -> float:
        if (case["id"], item["id"]) == CRIT:
            return 0.0 if lose_critical else 1.0
        if item["severity"] == "critical":
            return 1.0
        return 1.0 if int(item["id"].split("-")[1]) % 2 == 1 else 0.0
    return prob


SCENARIOS = {
    # name: (baseline nights, candidate kwargs, expected verdict, expected exit code)
    "traps only": (1, dict(trap_prob=1.0), INCONCLUSIVE, 0),
    "one critical finding": (4, dict(found_prob=found(lose_critical=True)), REGRESSED, 1),
    "errors only": (1, dict(error_rate=0.3, status="incomplete"), INCONCLUSIVE, 3),
}


def write_pair(tmp: Path, nights: int, cand_kw: dict) -> tuple[list[Path], Path]:
    runs = tmp / "runs"
    bases = [write_synthetic_run(runs / f"base-{i}", cases=CASES, run_id=f"base-{i}", seed=10 + i, epochs=3,
                                 found_prob=found(), trap_prob=0.0) for i in range(nights)]
    kw = dict(found_prob=found(), trap_prob=0.0)
    kw.update(cand_kw)
    cand = write_synthetic_run(tmp / "staging" / "cand", cases=CASES, run_id="cand", seed=99, epochs=3, **kw)
    return bases, cand


def four_verdicts(tmp: Path, bases: list[Path], cand: Path) -> dict[str, tuple[str, int]]:
    cfg = load_config(ROOT, {"runs_root": str(tmp / "runs"), "reports_dir": str(tmp / "reports")})
    spec = ",".join(str(b) for b in bases)
    out = {}
    cmp = compare_runs(spec, cand, config=cfg, with_charts=False)
    code = main(["--root", str(ROOT), "compare", spec, str(cand), "--fail-on-regression",
                 "--out", str(tmp / "cmp")])
    out["compare"] = (cmp.verdict, code)

    complete = cmp.cand.manifest.status == "complete"
    plugin = baseline_comparison(spec, cand, cfg)
    out["pytest"] = (plugin.verdict, session_exit_code(plugin, complete))

    def step(c, ch):               # the night's run: the candidate, moved into the runs root
        dest = tmp / "runs" / "cand"
        if not dest.exists():
            cand.rename(dest)
        return NightlyRun(dest, complete=complete, reason=None if complete else "samples errored")

    args = SimpleNamespace(runs_root=None, baseline=",".join(b.name for b in bases),
                           dashboard_out=str(tmp / "dash"))
    out["nightly"] = (None, nightly(cfg, Choices(), args, run=step))
    dash = build_dashboard(tmp / "runs", tmp / "dash2", baseline=spec, latest=tmp / "runs" / "cand", config=cfg)
    (view,) = dash.views
    out["dashboard"] = (view.verdict.verdict, {"regressed": 1, "ok": 0}[dash.status])
    assert view.comparison.verdict == view.verdict.verdict
    assert view.comparison.headline.lo == pytest.approx(view.verdict.recall.lo)
    out["nightly"] = (view.verdict.verdict, out["nightly"][1])
    return out


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_compare_nightly_dashboard_and_pytest_agree(tmp_path, name, capsys):
    nights, cand_kw, verdict, code = SCENARIOS[name]
    bases, cand = write_pair(tmp_path, nights, cand_kw)
    got = four_verdicts(tmp_path, bases, cand)
    err = capsys.readouterr().err
    assert {k: v[0] for k, v in got.items()} == dict.fromkeys(got, verdict), got
    assert got["compare"][1] == code and got["nightly"][1] == code, (got, err)
    assert got["pytest"][1] == (1 if code == 1 else 0)          # pytest has no exit code 3
    assert got["dashboard"][1] == (1 if code == 1 else 0)       # status: regressed / ok
    if name == "one critical finding":
        assert f"critical finding {CRIT[0]}/{CRIT[1]} lost" in err
    if name == "traps only":
        assert "REGRESS" not in err                              # the trap row is shown, never gated on


def test_lost_critical_finding_with_errored_candidate_epochs_is_inconclusive_everywhere(tmp_path, capsys):
    """The critical finding's case errored in 1 of 3 candidate epochs: the 2 successful epochs missed it, the test
    is significant against 12 baseline epochs (p = 0.0032 < 0.025/2), but the candidate has fewer successful
    epochs than a baseline night: inconclusive (and exit 3: the run is incomplete), never regressed."""
    bases, _ = write_pair(tmp_path, 4, {})

    def prob(case, item, epoch):
        return found(lose_critical=True)(case, item, epoch)

    cand = write_synthetic_run(tmp_path / "staging" / "cand2", cases=CASES, run_id="cand", seed=5, epochs=3,
                               found_prob=prob, trap_prob=0.0, status="incomplete")
    from harness.records import RunDir, SampleError
    rd = RunDir.open(cand)
    recs = rd.read_samples().records
    for r in recs:
        if r.case == CRIT[0] and r.epoch == 1:
            r.error, r.grades, r.review = SampleError(kind="overloaded", message="529"), {}, None
    rd.rewrite(recs)
    got = four_verdicts(tmp_path, bases, cand)
    assert {k: v[0] for k, v in got.items()} == dict.fromkeys(got, INCONCLUSIVE), got
    assert got["compare"][1] == 3 and got["nightly"][1] == 3 and got["pytest"][1] == 0
    assert "inconclusive, not a regression" in capsys.readouterr().err
