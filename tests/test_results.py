"""harness.results: loading a run directory into frames, exclusions, metrics, exports; harness.testing.synthetic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import results as R
from harness.cases import load_case
from harness.errors import HarnessError, RecordError
from harness.records import RunDir
from harness.testing.synthetic import difficulty, make_cases, write_synthetic_run

ROOT = Path(__file__).resolve().parents[1]


def two_cases() -> list[dict]:
    """case-a: a critical finding (always found) and a low one (never found), one trap; clean: one trap."""
    return [
        {"id": "case-a", "kind": "api", "tags": ["t1"], "title": "A",
         "findings": [{"id": "crit", "title": "Critical thing", "severity": "critical", "category": "security"},
                      {"id": "low", "title": "Low thing", "severity": "low", "category": "observability"}],
         "traps": [{"id": "trap-1", "title": "Looks bad, is fine"}]},
        {"id": "clean", "kind": "schema", "tags": ["clean"], "title": "Clean control", "findings": [],
         "traps": [{"id": "trap-2", "title": "Also fine"}]},
    ]


PROBS = {"crit": 1.0, "low": 0.0}


def test_frames_shapes_and_columns(tmp_path):
    run = write_synthetic_run(tmp_path / "r", cases=two_cases(), epochs=3, found_prob=PROBS, trap_prob=0.0)
    res = R.load_run(run)
    assert len(res.samples) == 6 and len(res.findings) == 6 and len(res.traps) == 6
    for col in ["run", "prompt_version", "prompt_fingerprint", "model", "case", "kind", "tags", "epoch", "finding",
                "severity", "category", "found", "status"]:
        assert col in res.findings.columns
    for col in ["recall", "weighted_recall", "critical_high_missed", "trap_fp_rate", "extra_issues", "traps_flagged",
                "input_tokens", "output_tokens", "cost_usd", "latency_s", "error"]:
        assert col in res.samples.columns
    assert str(res.findings["found"].dtype) == "boolean"
    assert res.grader == "deterministic" and res.warnings == []
    pd.testing.assert_frame_equal(R.load(run), res.findings)
    assert len(R.load_samples(run)) == 6


def test_metrics_recall_weighted_and_misses(tmp_path):
    run = write_synthetic_run(tmp_path / "r", cases=two_cases(), epochs=2, found_prob=PROBS, trap_prob=0.0)
    res = R.load_run(run)
    a = res.samples[res.samples["case"] == "case-a"]
    assert (a["recall"] == 0.5).all() and np.allclose(a["weighted_recall"], 4 / 5)
    assert (a["critical_high_missed"] == 0).all()
    clean = res.samples[res.samples["case"] == "clean"]
    assert clean["recall"].isna().all() and (clean["trap_fp_rate"] == 0).all()   # clean: recall undefined
    (s,) = R.summarize(res)
    assert s.recall.value == 0.5 and s.weighted_recall.value == pytest.approx(0.8)
    assert s.critical_high_missed.value == 0 and s.trap_fp_rate.value == 0
    assert s.n_findings == 2 and s.n_cases == 2 and s.epochs == 2


def test_custom_severity_weights(tmp_path):
    run = write_synthetic_run(tmp_path / "r", cases=two_cases(), epochs=1, found_prob=PROBS)
    res = R.load_run(run, severity_weights={"critical": 1, "low": 1})
    (s,) = R.summarize(res)
    assert s.weighted_recall.value == pytest.approx(0.5)


def test_errored_samples_are_excluded_not_misses(tmp_path):
    run = write_synthetic_run(tmp_path / "r", cases=make_cases(6, seed=1), epochs=4, found_prob=1.0,
                              error_rate=0.4, seed=3)
    res = R.load_run(run)
    (s,) = R.summarize(res)
    assert s.n_errors > 0
    assert s.recall.value == 1.0               # every successful review found everything
    err = res.samples[res.samples["status"] == R.ERROR]
    assert err["recall"].isna().all() and err["error"].str.contains("overloaded").all()
    assert res.findings.loc[res.findings["status"] == R.ERROR, "found"].isna().all()
    assert s.error_rate.value == pytest.approx(s.n_errors / s.n_samples) and s.error_rate.method == "clustered-t"


def test_grader_errors_are_excluded(tmp_path):
    run = write_synthetic_run(tmp_path / "r", cases=make_cases(6, seed=1), epochs=4, found_prob=1.0,
                              grader_error_rate=0.3, seed=4)
    res = R.load_run(run)
    (s,) = R.summarize(res)
    assert s.n_grader_errors > 0 and s.recall.value == 1.0
    ge = res.samples[res.samples["status"] == R.GRADER_ERROR]
    assert ge["grader_error"].notna().all() and ge["recall"].isna().all()


def test_judge_selectable_and_agreement(tmp_path):
    run = write_synthetic_run(tmp_path / "r", cases=two_cases(), epochs=3, found_prob=PROBS, judge=0.0)
    det = R.load_run(run)
    judge = R.load_run(run, grader="judge")
    assert det.grader == "deterministic" and judge.grader == "judge"
    assert set(det.graders_present) == {"deterministic", "judge"}
    # the judge disagrees on everything: it finds "low" and misses "crit"
    jf = R.per_finding(judge).set_index("finding")["found_rate"]
    assert jf["low"] == 1.0 and jf["crit"] == 0.0
    ag = R.grader_agreement(det)
    assert ag.agreement == 0.0 and len(ag.disagreements) == 6 and ag.kappa <= 0
    assert R.grader_agreement(R.load_run(write_synthetic_run(tmp_path / "s", cases=two_cases()))) is None


def test_missing_grader_is_ungraded_with_warning(tmp_path):
    run = write_synthetic_run(tmp_path / "r", cases=two_cases(), epochs=1)
    res = R.load_run(run, grader="judge")
    assert (res.samples["status"] == R.UNGRADED).all()
    assert any("judge" in w for w in res.warnings)


def test_reducers(tmp_path):
    cases = [{"id": "c", "kind": "api", "tags": [], "title": "c", "traps": [],
              "findings": [{"id": "f", "title": "f", "severity": "high", "category": "security"}]}]
    run = write_synthetic_run(tmp_path / "r", cases=cases, epochs=3,
                              found_prob=lambda case, finding, epoch: 1.0 if epoch == 1 else 0.0)
    score = {red: R.per_finding(R.load_run(run, reducer=red))["score"].iloc[0]
             for red in ("mean", "pass@k", "majority")}
    assert score == {"mean": pytest.approx(1 / 3), "pass@k": 1.0, "majority": 0.0}
    with pytest.raises(HarnessError):
        R.load_run(run, reducer="best-of")


def test_per_case_and_breakdown(tmp_path):
    run = write_synthetic_run(tmp_path / "r", cases=make_cases(8, seed=2), epochs=3, seed=5)
    res = R.load_run(run)
    pf = R.per_finding(res)
    pc = R.per_case(res, pf)
    assert len(pc) == 9 and pc.loc[pc["case"].str.contains("clean"), "recall"].isna().all()
    for _, row in pc.dropna(subset=["recall"]).iterrows():
        assert row["recall"] == pytest.approx(pf[pf["case"] == row["case"]]["score"].mean())
    bd = R.breakdown(pf, "severity")
    assert set(bd["severity"]) <= {"critical", "high", "medium", "low"}
    assert bd["n_findings"].sum() == len(pf)
    wr = R.breakdown(pf, "category", weighted=True)
    assert ((wr["recall"] >= 0) & (wr["recall"] <= 1)).all()


def test_without_cases_json_uses_suite_or_verdicts(tmp_path):
    case = load_case(ROOT / "cases/api/ticket-sales-fastapi")
    payload = R.case_payload(case)
    run = write_synthetic_run(tmp_path / "r", cases=[payload], epochs=1, write_cases=False)
    bare = R.load_run(run)
    assert set(bare.findings["severity"]) == {"unknown"}
    assert any("cases.json" in w for w in bare.warnings)
    withsuite = R.load_run(run, suite=[case])
    assert set(withsuite.findings["severity"]) <= {"critical", "high", "medium", "low"}
    assert len(withsuite.findings) == len(case.findings)


def test_cases_json_roundtrip_and_invalid(tmp_path):
    case = load_case(ROOT / "cases/api/ticket-sales-fastapi")
    R.write_cases_json(tmp_path, [case])
    meta = R.read_cases_json(tmp_path)
    f0 = meta[case.id]["findings"][0]
    assert set(f0) == {"id", "title", "severity", "category", "cwe", "location", "topics"}
    assert meta[case.id]["traps"][0].keys() == {"id", "title", "location", "topics"}
    (tmp_path / "cases.json").write_text('{"not": "a list"}')
    with pytest.raises(RecordError):
        R.read_cases_json(tmp_path)
    assert R.read_cases_json(tmp_path / "nowhere") is None


def test_torn_tail_is_reported(tmp_path):
    run = write_synthetic_run(tmp_path / "r", cases=two_cases(), epochs=1)
    with open(run / "samples.jsonl", "a") as fh:
        fh.write('{"sample_id": "torn", "ca')
    res = R.load_run(run)
    assert len(res.samples) == 2 and any("torn" in w for w in res.warnings)


def test_not_a_run_dir(tmp_path):
    with pytest.raises(RecordError):
        R.load_run(tmp_path)


def test_exports(tmp_path):
    run = write_synthetic_run(tmp_path / "r", cases=two_cases(), epochs=2, error_rate=0.3, seed=1)
    res = R.load_run(run)
    csv = R.to_csv(res.findings, tmp_path / "out" / "f.csv")
    back = pd.read_csv(csv)
    assert len(back) == len(res.findings) and "severity" in back
    pq = R.to_parquet(res.samples, tmp_path / "out" / "s.parquet")
    back = pd.read_parquet(pq)
    assert len(back) == len(res.samples) and list(back.columns) == list(res.samples.columns)


def test_synthetic_run_is_a_valid_run(tmp_path):
    run = write_synthetic_run(tmp_path / "r", cases=make_cases(3, seed=0), epochs=2, judge=True, seed=9,
                              run_id="my-run")
    rd = RunDir.open(run)
    assert rd.manifest.run_id == "my-run" and rd.manifest.status == "complete"
    assert rd.manifest.graders == ["deterministic", "judge"] and rd.manifest.epochs == 2
    read = rd.read_samples()
    assert len(read.records) == 8 and not read.torn_tail
    rec = read.records[0]
    assert rec.usage["input_tokens"] > 0 and rec.cost_usd > 0 and rec.latency_s > 0
    assert json.loads((run / "cases.json").read_text())[0]["id"] == "case-01"
    with pytest.raises(RecordError):
        write_synthetic_run(run, cases=2)


def test_synthetic_is_reproducible_and_shift_applies(tmp_path):
    cases = make_cases(10, seed=1)
    a = R.load_run(write_synthetic_run(tmp_path / "a", cases=cases, seed=3)).findings
    b = R.load_run(write_synthetic_run(tmp_path / "b", cases=cases, seed=3)).findings
    assert a["found"].equals(b["found"])
    hi = R.summarize(R.load_run(write_synthetic_run(tmp_path / "c", cases=cases, seed=3, epochs=5, shift=0.3)))[0]
    lo = R.summarize(R.load_run(write_synthetic_run(tmp_path / "d", cases=cases, seed=3, epochs=5, shift=-0.3)))[0]
    assert hi.recall.value > lo.recall.value + 0.3
    assert difficulty("c", "f") == difficulty("c", "f") and np.isfinite(difficulty("c", "f"))
