"""Calibration of graders against human labels (harness.graders.calibrate)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.graders.calibrate import agreement_stats, calibrate, cli, cohen_kappa

CALIBRATION = Path(__file__).resolve().parents[2] / "shared" / "calibration"

# Figures the deterministic grader reaches on ../shared/calibration (30 reviews, 235 finding pairs, 60 trap
# pairs); the test allows a margin of 0.02.
MEASURED = {"finding_agreement": 0.970, "kappa": 0.926, "trap_agreement": 1.000}
MARGIN = 0.02


# ----------------------------------------------------------------------------------------------- kappa


def test_cohen_kappa_textbook_values():
    # 2x2 table: both yes 20, a-only 5, b-only 10, both no 15 (n=50): p_o = 0.7, p_e = 0.5 -> kappa 0.4
    a = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa([1, 0, 1, 0], [1, 0, 1, 0]) == pytest.approx(1.0)
    assert cohen_kappa([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)


def test_cohen_kappa_degenerate_cases():
    assert math.isnan(cohen_kappa([1, 1, 1], [1, 1, 1]))  # both constant: kappa undefined
    assert cohen_kappa([1, 1, 1, 1], [1, 1, 0, 1]) == 0.0  # a constant rater: no agreement beyond chance
    assert math.isnan(cohen_kappa([], []))
    with pytest.raises(ValueError):
        cohen_kappa([1, 0], [1])


def test_agreement_stats():
    s = agreement_stats([True, True, False, False, True], [True, False, False, True, True])
    assert s["pairs"] == 5 and s["agreement"] == pytest.approx(0.6)
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (2, 1, 1, 1)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)
    none = agreement_stats([False], [False])
    assert none["precision"] is None and none["recall"] is None


# ----------------------------------------------------------------------------------------------- a tiny folder

CASE_YAML = """\
id: tiny
title: Tiny
kind: api
request: Review app.py.
files: [app.py]
findings:
  - id: sqli
    title: SQL injection in search
    severity: critical
    category: security
    location: {file: app.py, lines: [2, 3], symbol: search}
    keywords: [sql injection]
    anchors: [search]
    rubric: Says that search builds SQL by string formatting; asks for bound parameters.
  - id: no-timeout
    title: No timeout on fetch
    severity: medium
    category: reliability
    location: {file: app.py, lines: [5, 6], symbol: fetch}
    keywords: [timeout]
    anchors: [fetch]
    rubric: Says that fetch has no timeout; asks for one.
traps:
  - id: bcrypt
    title: bcrypt is fine
    location: {file: app.py, lines: [8, 9], symbol: hash_pw}
    keywords: [bcrypt]
    anchors: [hash_pw]
    rubric: Calling bcrypt weak is a false positive.
"""
APP = ("# tiny\ndef search(q):\n    return db.execute(f'SELECT {q}')\n\ndef fetch():\n    return requests.get(U)\n"
       "\ndef hash_pw(p):\n    return bcrypt.hashpw(p, bcrypt.gensalt())\n")


@pytest.fixture
def tiny(tmp_path):
    root = tmp_path / "calib"
    d = root / "tiny"
    (d / "reviews").mkdir(parents=True)
    (d / "case.yaml").write_text(CASE_YAML, encoding="utf-8")
    (d / "app.py").write_text(APP, encoding="utf-8")
    (d / "reviews" / "r1.md").write_text("- `search` (app.py:3): SQL injection.\n- `fetch` has no timeout.\n",
                                         encoding="utf-8")
    (d / "reviews" / "r2.md").write_text("- `hash_pw` (app.py:9): bcrypt is too weak, replace it.\n",
                                         encoding="utf-8")
    (d / "labels.yaml").write_text(
        "case: tiny\nreviews:\n"
        "  r1.md: {language: en, found: [sqli], traps_flagged: [], extra_issues: 0}\n"
        "  r2.md: {language: en, found: [no-timeout], traps_flagged: [bcrypt], extra_issues: 0}\n",
        encoding="utf-8")
    return root


def test_calibrate_tiny_folder(tiny):
    res = calibrate(tiny, "deterministic")
    assert res["reviews"] == 2 and res["pairs"] == 4 and res["trap_pairs"] == 2
    # r1: grader finds both, human only sqli (1 disagreement); r2: human says no-timeout found, grader not
    assert res["finding_agreement"] == pytest.approx(0.5)
    assert res["trap_agreement"] == pytest.approx(1.0)
    assert res["precision"] == pytest.approx(0.5) and res["recall"] == pytest.approx(0.5)
    assert {(d["review"], d["id"], d["human"], d["grader"]) for d in res["disagreements"]} == {
        ("r1.md", "no-timeout", False, True), ("r2.md", "no-timeout", True, False)}
    for d in res["disagreements"]:
        assert set(d) >= {"case", "review", "id", "human", "grader", "evidence"}
    assert set(res["by_style"]) == {"r1", "r2"} and res["by_style"]["r1"]["label"] == "thorough"
    assert set(res["by_language"]) == {"en"}


def test_calibrate_errors(tmp_path, tiny):
    with pytest.raises(HarnessError):
        calibrate(tmp_path / "missing", "deterministic")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HarnessError):
        calibrate(empty, "deterministic")  # no labelled case
    (tiny / "tiny" / "labels.yaml").write_text("reviews: {r1.md: {found: [nope]}}\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="unknown id"):
        calibrate(tiny, "deterministic")


def test_cli_writes_json(tiny, tmp_path, capsys):
    out = tmp_path / "res.json"
    args = argparse.Namespace(path=str(tiny), grader="deterministic", judge_model=None, json_out=str(out),
                              root=None)
    assert cli(args) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    for key in ("finding_agreement", "kappa", "trap_agreement", "reviews", "disagreements"):
        assert key in data
    assert data["reviews"] == 2
    assert all(set(d) >= {"case", "review", "id", "human", "grader", "evidence"} for d in data["disagreements"])
    printed = capsys.readouterr().out
    assert "Agreement" in printed and "Disagreements" in printed


def test_cli_judge_unavailable(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "harness.graders.judge", None)  # import fails
    args = argparse.Namespace(path=str(tiny), grader="judge", judge_model="anthropic/x", json_out=None, root=None)
    with pytest.raises(HarnessError, match="not available"):
        cli(args)


# ----------------------------------------------------------------------------------------------- shared set


@pytest.mark.skipif(not CALIBRATION.is_dir(), reason="../shared/calibration is not present")
def test_deterministic_grader_on_shared_calibration(tmp_path):
    out = tmp_path / "cal.json"
    args = argparse.Namespace(path=str(CALIBRATION), grader="deterministic", judge_model=None, json_out=str(out),
                              root=None)
    assert cli(args) == 0
    res = json.loads(out.read_text(encoding="utf-8"))
    assert res["reviews"] == 30 and not res["errors"]
    for key, value in MEASURED.items():
        assert res[key] >= value - MARGIN, (key, res[key])
    # every style and language keeps a useful level
    for group in ("by_style", "by_language"):
        for name, s in res[group].items():
            assert s["finding_agreement"] >= 0.90, (group, name, s["finding_agreement"])
            assert s["trap_agreement"] >= 0.90, (group, name, s["trap_agreement"])
    assert {"finding_agreement", "kappa", "trap_agreement", "reviews", "disagreements"} <= set(res)
