"""Every sample ends in exactly one recorded outcome (issue 14): ok, truncated, refused, empty or error.

Through the real anthropic and openai SDKs against the loopback fake server: a reply cut at max_tokens, a
``stop_reason: refusal``, a refusal in words, an empty reply and a failed call are recorded with their outcome,
never graded (truncated only with ``grade_truncated``, then flagged), counted in the CLI line, run.json, the
report and the dashboard's summary, and make ``harness run`` exit 3.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.cli import main as cli_main
from harness.testing.fakeserver import FakeServer, Reply
from harness.outcomes import OUTCOMES, classify, count_outcomes, format_counts, is_refusal, outcome_of
from harness.records import RunDir, SampleError, SampleRecord

from .crash_child import MODEL, review_responder, write_project

KEY = "sk-ant-test-outcomes-0000"


# --- the classification itself -------------------------------------------------------------------------------

@pytest.mark.parametrize("text,stop,expect", [
    ("## SQL injection in app.py line 2", "end_turn", "ok"),
    ("## SQL injection in app.py line 2", "stop", "ok"),
    ("## SQL injection in app.py line 2, and th", "max_tokens", "truncated"),
    ("## SQL injection in app.py line 2, and th", "length", "truncated"),
    ("", "refusal", "refused"),
    ("I can't help with that.", "refusal", "refused"),
    ("I'm sorry, but I can't help with that.", "end_turn", "refused"),
    ("Sorry, I cannot assist with this request.", "stop", "refused"),
    ("", "end_turn", "empty"),
    ("   \n", "max_tokens", "empty"),
    (None, None, "empty"),
])
def test_classify(text, stop, expect):
    assert classify(text, stop) == expect


def test_refusal_in_words_only_when_the_whole_reply_is_one():
    assert is_refusal("I am unable to review this code.")
    # a review that declines one point, or opens with a figure of speech, is a review
    assert not is_refusal("I can't help noticing that `search_orders` builds SQL from user input.")
    assert not is_refusal("I can't verify the schema, but: ## SQL injection in app.py line 2 ...")
    assert not is_refusal("I'm sorry, but I can't help with that. " + "## Finding\n- x\n" * 40)
    assert not is_refusal("## Findings\nI cannot see a transaction around the two writes.")


def test_outcome_of_old_records_and_counts():
    base = dict(sample_id="s", case="c", prompt_version="v1", prompt_fingerprint="f", model="m", epoch=0)
    recs = [SampleRecord(**base),
            SampleRecord(**base, error=SampleError(kind="empty_review", message="x")),
            SampleRecord(**base, error=SampleError(kind="rate_limit", message="x")),
            SampleRecord(**base, outcome="truncated")]
    assert [outcome_of(r) for r in recs] == ["ok", "empty", "error", "truncated"]
    c = count_outcomes(recs)
    assert list(c) == list(OUTCOMES) and c == {"ok": 1, "truncated": 1, "refused": 0, "empty": 1, "error": 1}
    assert format_counts(c) == "1 ok, 1 truncated, 0 refused, 1 empty, 1 error"


# --- through the SDKs and the fake server ----------------------------------------------------------------------

def _case_no(body) -> int:
    m = re.search(r"of case-(\d+)", json.dumps(body.get("messages")))
    return int(m.group(1)) if m else -1


REPLIES = {
    1: Reply(text="## SQL injection in `app.py` lines 1-3: `search_orders` formats `q` into the SQL string "
                  "(CWE-89); use a bind parameter. " + "More detail. " * 400),   # longer than max_tokens: cut
    2: Reply(text="", stop_reason="refusal"),
    3: "I'm sorry, but I can't help with that.",
    4: Reply(content=[{"type": "thinking", "thinking": "hmm", "signature": "x"}], stop_reason="max_tokens"),
}


def _responder(body):
    return REPLIES.get(_case_no(body)) or review_responder(body)


def _run(project: Path, run_dir: Path, monkeypatch, srv: FakeServer, *extra: str) -> tuple[int, str]:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(project / "cache"))
    code = cli_main(["--root", str(project), "run", "--model", MODEL, "--cases", "all", "--run-dir", str(run_dir),
                     "--no-progress", "--max-tokens", "64", *extra])
    return code


def test_each_outcome_is_recorded_counted_and_never_graded(tmp_path, monkeypatch, capsys):
    """Six cases: ok, truncated, refused (stop_reason), refused (words), empty, error (400)."""
    project = write_project(tmp_path / "proj", 6)
    run_dir = tmp_path / "run"
    faults = lambda body, attempt: "400" if _case_no(body) == 5 else None  # noqa: E731
    with FakeServer(_responder, faults=faults) as srv:
        code = _run(project, run_dir, monkeypatch, srv)
    err = capsys.readouterr().err
    assert code == 3, err
    recs = {r.case: r for r in RunDir.open(run_dir).read_samples().records}
    got = {c: (r.outcome, r.error.kind if r.error else None) for c, r in recs.items()}
    assert got == {"case-00": ("ok", None), "case-01": ("truncated", "truncated"), "case-02": ("refused", "refused"),
                   "case-03": ("refused", "refused"), "case-04": ("empty", "empty_review"),
                   "case-05": ("error", "bad_request")}
    assert recs["case-00"].grades and all(not recs[c].grades for c in got if c != "case-00")
    assert recs["case-01"].review and recs["case-01"].stop_reason == "max_tokens"
    assert recs["case-03"].review == "I'm sorry, but I can't help with that."
    # paid for: the usage of every answered sample is on its record
    assert all(recs[c].usage.get("output_tokens", 0) > 0 for c in ("case-00", "case-01", "case-03"))

    # the CLI line names every outcome; run.json and the reports count them
    assert "1 ok, 1 truncated, 2 refused, 1 empty, 1 error" in err, err
    assert "4 of 6 samples have no gradable review (1 truncated, 2 refused, 1 empty)" in err
    m = RunDir.open(run_dir).manifest
    assert m.status == "incomplete"
    assert m.summary["outcomes"] == {"ok": 1, "truncated": 1, "refused": 2, "empty": 1, "error": 1}
    md = next(Path(p.split("report: ", 1)[1]) for p in err.splitlines() if p.endswith("report.md"))
    text = md.read_text(encoding="utf-8")
    assert "1 ok, 1 truncated, 2 refused, 1 empty, 1 error" in text, text
    html = md.with_suffix(".html").read_text(encoding="utf-8")
    assert '<span class="outcome-refused">2 refused</span>' in html
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["variants"][0]["outcomes"] == m.summary["outcomes"]
    # recall is over the one ok review only: a non-ok sample is never a miss
    assert summary["variants"][0]["counts"]["n_ok"] == 1


@pytest.mark.parametrize("how", ["config", "flag"])
def test_grade_truncated_grades_and_flags(tmp_path, monkeypatch, capsys, how):
    project = write_project(tmp_path / "proj", 2, **({"grade_truncated": True} if how == "config" else {}))
    run_dir = tmp_path / "run"
    with FakeServer(_responder) as srv:
        code = _run(project, run_dir, monkeypatch, srv, *(["--grade-truncated"] if how == "flag" else []))
    err = capsys.readouterr().err
    assert code == 0, err
    recs = {r.case: r for r in RunDir.open(run_dir).read_samples().records}
    assert recs["case-01"].outcome == "truncated" and recs["case-01"].error is None and recs["case-01"].grades
    assert "1 ok, 1 truncated" in err
    md = next(Path(p.split("report: ", 1)[1]) for p in err.splitlines() if p.endswith("report.md"))
    text = md.read_text(encoding="utf-8")
    assert "1 truncated graded, flagged" in text and r"cut at max\_tokens (grade\_truncated)" in text


def test_openai_finish_reason_length_is_truncated(tmp_path, monkeypatch):
    from harness.config import load_config
    from harness.models.base import GenerationConfig
    from harness.runner import RunOptions, execute
    from harness.cases import load_suite
    from harness.prompts import load_prompt
    project = write_project(tmp_path / "proj", 2)
    with FakeServer(_responder, require_key=False) as srv:
        monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
        model = f"openai/fake-chat-1@{srv.openai_base_url}"
        res = execute(load_config(project), RunOptions(
            cases=load_suite(project / "cases"), prompts=[load_prompt("prompt.md", root=project)], models=[model],
            run_dir=tmp_path / "run", progress=False, generation=GenerationConfig(temperature=0, max_tokens=64)))
    by = {r.case: r for r in res.records}
    assert by["case-00"].outcome == "ok" and by["case-01"].outcome == "truncated"
    assert by["case-01"].stop_reason == "length" and not by["case-01"].grades


def test_a_fully_cached_rerun_shows_cost_now_and_cost_saved(tmp_path, monkeypatch, capsys):
    project = write_project(tmp_path / "proj", 3)
    with FakeServer(review_responder) as srv:
        assert _run(project, tmp_path / "r1", monkeypatch, srv) == 0
        first = capsys.readouterr().err
        assert _run(project, tmp_path / "r2", monkeypatch, srv) == 0
        second = capsys.readouterr().err
        assert srv.requests == 3
    assert "0 from cache" in first and "spent $0.0" in first and "saved" not in first
    m1 = RunDir.open(tmp_path / "r1").manifest.summary
    m2 = RunDir.open(tmp_path / "r2").manifest.summary
    assert m1["spent_usd"] > 0 and m2["spent_usd"] == 0 and m2["saved_usd"] == pytest.approx(m1["spent_usd"])
    assert "3 from cache" in second and "spent $0.0000" in second and f"${m1['spent_usd']:.4f} saved" in second
    # every kind of token is counted, as integers
    assert re.search(r"tokens [\d,]+ input, [\d,]+ output, [\d,]+ cache read, [\d,]+ cache write", first)
    md = next(Path(p.split("report: ", 1)[1]) for p in second.splitlines() if p.endswith("report.md"))
    text = md.read_text(encoding="utf-8")
    assert "Spent by this run: $0.0000" in text and f"saved by the cache and reuse: ${m1['spent_usd']:.4f}" in text
    assert not re.search(r"\d\.00 tokens", text)


def test_a_comparison_never_counts_a_non_ok_sample_as_a_miss(tmp_path, monkeypatch, capsys):
    """Baseline: every even case's review finds its SQL injection. Candidate: the same answers, except that the
    reviews of case-00, case-02 and case-04 come back truncated, refused and empty. Those findings have no ok
    epoch in the candidate: they are unpaired, not lost, and recall over the paired findings is unchanged."""
    from harness.report.compare import compare_runs
    from harness.config import load_config
    project = write_project(tmp_path / "proj", 6)
    with FakeServer(review_responder) as srv:
        assert _run(project, tmp_path / "base", monkeypatch, srv, "--cache", "off") == 0
    bad = {0: Reply(text="## SQL injection in search_orders: f-str", stop_reason="max_tokens"),
           2: Reply(text="", stop_reason="refusal"), 4: Reply(text="")}
    with FakeServer(lambda b: bad.get(_case_no(b)) or review_responder(b)) as srv:
        assert _run(project, tmp_path / "cand", monkeypatch, srv, "--cache", "off") == 3
    capsys.readouterr()
    cmp = compare_runs(tmp_path / "base", tmp_path / "cand", config=load_config(project), with_charts=False)
    pairs = cmp.findings
    assert cmp.verdict != "regressed" and not cmp.gate.fail
    assert cmp.cand_summary.n_ok == 3 and cmp.cand_summary.n_errors == 3
    assert cmp.headline.diff == pytest.approx(0.0)
    gone = pairs[pairs["case"].isin(["case-00", "case-02", "case-04"])]
    assert len(gone) == 3 and not gone["paired"].any() and (gone["flip"] == "").all()
    assert not cmp.flips


def test_pytest_evals_fails_when_the_report_cannot_be_written():
    """A session whose every case passed but whose report could not be written exits 1, not 0."""
    import pytest as _pytest
    from types import SimpleNamespace
    from harness.pipeline import Outcome
    from harness.pytest_plugin import OUTCOME, HarnessPlugin

    def session(report_error):
        stash = _pytest.Stash()
        stash[OUTCOME] = Outcome(result=SimpleNamespace(complete=True), report_error=report_error)
        return SimpleNamespace(config=SimpleNamespace(stash=stash), exitstatus=0)

    bad, good = session("OSError: [Errno 28] No space left on device"), session(None)
    HarnessPlugin().pytest_sessionfinish(bad, 0)
    HarnessPlugin().pytest_sessionfinish(good, 0)
    assert bad.exitstatus == _pytest.ExitCode.TESTS_FAILED and good.exitstatus == 0


def test_a_grading_error_is_counted_and_makes_the_run_incomplete(tmp_path, monkeypatch, capsys):
    from harness.graders.rubric import DeterministicGrader
    real = DeterministicGrader.grade

    def grade(self, case, review):
        if "case-01" in review:
            raise RuntimeError("grader broke")
        return real(self, case, review)

    monkeypatch.setattr(DeterministicGrader, "grade", grade)
    project = write_project(tmp_path / "proj", 3)
    with FakeServer(review_responder) as srv:
        code = _run(project, tmp_path / "run", monkeypatch, srv)
    err = capsys.readouterr().err
    assert code == 3, err
    assert "3 ok, 0 truncated, 0 refused, 0 empty, 0 errors; 1 grading error;" in err
    assert "1 of 3 samples could not be graded (deterministic: RuntimeError: grader broke)" in err
    assert f"harness grade {tmp_path / 'run'}" in err
    assert RunDir.open(tmp_path / "run").manifest.summary["grading_errors"] == 1


@pytest.mark.parametrize("setting,model,graded", [
    (None, "local/smollm2-135m", True), (None, "anthropic/claude-sonnet-4-5", False),
    (False, "local/smollm2-135m", False), (True, "anthropic/claude-sonnet-4-5", True),
])
def test_which_truncated_replies_are_graded(tmp_path, monkeypatch, setting, model, graded):
    """Unset, only the embedded model's cut replies are graded (its max_tokens of 160 is the harness's own
    choice); an explicit setting decides for every model."""
    from harness.config import load_config
    from harness.models.base import Completion, ModelSpec, Usage
    from harness.runner import RunOptions, execute
    from harness.cases import load_suite
    from harness.prompts import load_prompt

    class Cut:
        def __init__(self, name):
            self.spec, self.base_url = ModelSpec.parse(name), None

        async def generate(self, system, messages, config):
            return Completion(text="## SQL injection in search_orders: the query is built with", stop_reason="length",
                              usage=Usage(100, 10, 0, 0), latency_s=0.0)

        async def aclose(self):
            pass

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    project = write_project(tmp_path / "proj", 1, **({} if setting is None else {"grade_truncated": setting}))
    res = execute(load_config(project), RunOptions(
        cases=load_suite(project / "cases"), prompts=[load_prompt("prompt.md", root=project)], models=[model],
        run_dir=tmp_path / "run", progress=False), model_factory=Cut)
    (rec,) = res.records
    assert rec.outcome == "truncated" and bool(rec.grades) == graded and (rec.error is None) == graded
    assert res.complete == graded
