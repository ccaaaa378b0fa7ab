"""The run pipeline (harness/pipeline.py): plan → run → cases.json, summary.json → reports → gate → exit code; and
the same options making the same run from ``harness run`` and from ``pytest evals``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness import pipeline
from harness.cli import main
from harness.config import load_config
from harness.errors import HarnessError
from harness.exitcodes import ExitCode
from harness.testing.fakeserver import FakeServer
from harness.planning import Choices
from harness.records import SUMMARY, RunDir

from .conftest import ROOT, write_case
from .crash_child import MODEL, to_toml
from .test_nightly import ScriptedReviewer

KEY = "sk-ant-test-pipeline-5555"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder: this project's [tool.harness] with its runs, reports and cases under tmp_path (3 cases)."""
    table = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["harness"]
    table.update({"cases_dir": str(tmp_path / "cases"), "prompts": [str(ROOT / p) for p in table["prompts"]],
                  "runs_root": str(tmp_path / "runs"), "reports_dir": str(tmp_path / "reports"),
                  "retry_backoff_base_s": 0.001, "retry_backoff_max_s": 0.02})
    root = tmp_path / "root"
    root.mkdir()
    (root / "pyproject.toml").write_text(to_toml(table, "tool.harness"), encoding="utf-8")
    for i in range(3):
        write_case(tmp_path / "cases", f"case-{i}")
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return root


def _choices(**kw) -> Choices:
    return Choices(models=[MODEL], cases="all", progress=False, **kw)


def _scripted(good: bool):
    return lambda name: ScriptedReviewer(name, good)


def test_a_run_writes_cases_summary_and_reports_and_exits_by_completeness(project, tmp_path):
    cfg = load_config(project, {"cache_mode": "off", "reducer": "majority"})
    p = pipeline.plan(cfg, _choices(run_dir=str(tmp_path / "run")))
    out = pipeline.run(p, model_factory=_scripted(True))
    run = tmp_path / "run"
    assert out.exit_code == ExitCode.OK and out.result.complete and out.report_error is None
    assert [c["id"] for c in json.loads((run / "cases.json").read_text())] == ["case-0", "case-1", "case-2"]
    summary = json.loads((run / SUMMARY).read_text())
    # the summary the dashboard reads is computed with the configured reducer, after the run ended
    assert summary["params"]["reducer"] == "majority" and summary["run"]["status"] == "complete"
    assert [x.suffix for x in out.reports] == [".md", ".html"] and all(x.is_file() for x in out.reports)
    assert out.comparison is None and out.compare_reports == []


def test_a_report_that_cannot_be_written_keeps_the_run(project, tmp_path, monkeypatch):
    cfg = load_config(project, {"cache_mode": "off"})
    p = pipeline.plan(cfg, _choices(run_dir=str(tmp_path / "run")))

    def broken(cfg, run_dir):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline, "write_reports", broken)
    out = pipeline.run(p, model_factory=_scripted(True))
    assert out.report_error and "No space left on device" in out.report_error
    assert out.reports == [] and RunDir.open(tmp_path / "run").manifest.status == "complete"


def test_the_gate_against_a_baseline_sets_the_exit_code(project, tmp_path):
    """A baseline that found the injection in every case, a candidate that finds it in none: with 3 cases the
    sign-flip test cannot reach 0.05, so the verdict is inconclusive and the exit code 0; the comparison report is
    written either way. A baseline with nothing in common is kept as ``compare_error`` (exit 2)."""
    cfg = load_config(project, {"cache_mode": "off"})
    base = tmp_path / "base"
    pipeline.run(pipeline.plan(cfg, _choices(run_dir=str(base))), model_factory=_scripted(True))
    out = pipeline.run(pipeline.plan(cfg, _choices(), baseline=str(base)), model_factory=_scripted(False))
    assert out.comparison is not None and out.comparison.gate.verdict == "inconclusive"
    assert out.exit_code == ExitCode.OK and all(x.is_file() for x in out.compare_reports)
    with pytest.raises(HarnessError, match="run.json"):
        pipeline.plan(cfg, _choices(), baseline=str(tmp_path / "no-such-run"))    # checked before any spend


def test_eight_cases_lost_is_regressed_exit_1(project, tmp_path):
    for i in range(3, 8):
        write_case(tmp_path / "cases", f"case-{i}")
    cfg = load_config(project, {"cache_mode": "off"})
    base = tmp_path / "base"
    pipeline.run(pipeline.plan(cfg, _choices(run_dir=str(base))), model_factory=_scripted(True))
    out = pipeline.run(pipeline.plan(cfg, _choices(), baseline=str(base)), model_factory=_scripted(False))
    assert out.comparison.gate.verdict == "regressed" and out.exit_code == ExitCode.REGRESSED == 1


# ------------------------------------------------------------------------ one run whichever entry point starts it

# run options given to both entry points (pytest evals: its short names where it has them, else --harness-*)
SAME = [("--cases", "all"), ("--epochs", "2"), ("--cache", "off"), ("--max-cost", "5"), ("--grade-truncated", None),
        ("--max-retries", "2"), ("--concurrency", "3"), ("--timeout", "30"), ("--max-tokens", "300"),
        ("--temperature", "0.5"), ("--no-progress", None), ("--model", MODEL)]
VOLATILE = {"run_id", "created_at", "started_at", "ended_at", "summary", "notes"}


def _flags(pytest_names: bool) -> list[str]:
    from harness.options import RunArgs
    from dataclasses import fields
    aliased = {f"--{f.metadata['flag']}" for f in fields(RunArgs) if f.metadata["alias"]}
    out = []
    for flag, value in SAME:
        name = flag if not pytest_names or flag in aliased else "--harness-" + flag[2:]
        out += [name] + ([value] if value is not None else [])
    return out


def _the_run(run_dir: Path) -> dict:
    rd = RunDir.open(run_dir)
    manifest = {k: v for k, v in rd.manifest.model_dump().items() if k not in VOLATILE}
    samples = sorted((r.case, r.prompt_fingerprint, r.model, r.epoch, r.outcome, r.review) for r in
                     rd.read_samples().records)
    return {"manifest": manifest, "samples": samples, "cases.json": (run_dir / "cases.json").read_text()}


def test_the_same_options_make_the_same_run_from_the_cli_and_from_pytest_evals(project, tmp_path, monkeypatch,
                                                                                capsys):
    cli_dir, pytest_dir = tmp_path / "cli-run", tmp_path / "pytest-run"
    with FakeServer() as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        code = main(["--root", str(project), "run", *_flags(False), "--run-dir", str(cli_dir)])
        assert code == ExitCode.OK, capsys.readouterr().err
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        p = subprocess.run([sys.executable, "-m", "pytest", "evals", "-p", "no:cacheprovider", "-q",
                            "--harness-root", str(project), *_flags(True), "--run-dir", str(pytest_dir)],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode in (0, 1), p.stdout + p.stderr                 # 1: a case below the thresholds
    cli, via_pytest = _the_run(cli_dir), _the_run(pytest_dir)
    assert cli["manifest"]["epochs"] == 2 and cli["manifest"]["config"]["max_retries"] == 2
    assert cli["manifest"]["models"][0]["generation"]["max_tokens"] == 300
    assert cli["manifest"]["config"]["concurrency"] == 3 and cli["manifest"]["config"]["max_cost"] == 5
    assert len(cli["samples"]) == 6
    assert via_pytest == cli


# ------------------------------------------------------------------------ harness grade: the same finish as a run

GOOD_QUOTE = "search_orders builds SQL with an f-string: SQL injection"


def _judge_replies(body):
    """The fake Messages API as the judge: the planted SQL injection found (quoting the scripted good review),
    the trap not flagged."""
    from harness.testing.fakeserver import Reply
    return Reply(tool_input={
        "findings": [{"id": "sqli", "verdict": "found", "quote": GOOD_QUOTE, "reason": "names search_orders"}],
        "traps": [{"id": "get-order-ok", "verdict": "not_flagged", "quote": "", "reason": "not mentioned"}],
        "extra_issues": 0})


def _stable_summary(run_dir: Path) -> dict:
    """summary.json without what differs between two runs of the same samples (ids, times, file stamps)."""
    data = json.loads((run_dir / SUMMARY).read_text())
    for k in ("computed_at", "sources"):
        data.pop(k)
    for k in ("run_id", "created_at", "started_at", "ended_at"):
        data["run"].pop(k)
    return data


def test_a_regraded_run_is_finished_as_a_fresh_run_with_the_same_graders(project, tmp_path, monkeypatch, capsys):
    """A run graded deterministic, then ``harness grade --grader judge``, against a run graded by both from the
    start (same scripted answers, the judge through the fake Messages API): the same run.json status and graders,
    summary.json, cases.json and markdown report, every sample carrying the judge's verdict."""
    cfg = load_config(project, {"cache_mode": "off"})
    regraded, fresh = tmp_path / "regraded", tmp_path / "fresh"
    # no prompt caching at the server: which concurrent judge call writes the cache and which reads it depends on
    # timing, and so the judge's cost per case (CI, under load, 2026-12-08); this test is about re-grading
    no_cache = {"cache_min_tokens": 10 ** 9}
    with FakeServer(_judge_replies, **no_cache) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        first = pipeline.run(pipeline.plan(cfg, _choices(run_dir=str(regraded), graders=["deterministic"])),
                             model_factory=_scripted(True))
        assert first.exit_code == ExitCode.OK and srv.requests == 0
        code = main(["--root", str(project), "grade", str(regraded), "--grader", "judge", "--judge-model", MODEL])
        err = capsys.readouterr().err
        assert code == ExitCode.OK, err
        assert "re-graded 3 samples with judge" in err and srv.requests == 3
    with FakeServer(_judge_replies, **no_cache) as srv:     # a server of its own, as the first's
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        both = pipeline.run(pipeline.plan(cfg, _choices(run_dir=str(fresh), graders=["deterministic", "judge"],
                                                        judge_model=MODEL)), model_factory=_scripted(True))
    assert both.exit_code == ExitCode.OK
    a, b = RunDir.open(regraded), RunDir.open(fresh)
    assert a.manifest.graders == b.manifest.graders == ["deterministic", "judge"]
    assert a.manifest.judge_model == b.manifest.judge_model == MODEL   # a resume of either keeps this judge
    assert a.manifest.status == b.manifest.status == "complete" and a.manifest.summary["regraded"]["samples"] == 3
    judged = [r.grades["judge"] for r in a.read_samples().records]
    assert len(judged) == 3 and all(g.error is None and [f.id for f in g.findings if f.found] == ["sqli"]
                                    for g in judged)
    from harness.history import summary_problem
    assert summary_problem(regraded, json.loads((regraded / SUMMARY).read_text())) is None   # not stale
    assert _stable_summary(regraded) == _stable_summary(fresh)
    assert (regraded / "cases.json").read_text() == (fresh / "cases.json").read_text()
    # the markdown reports (both by the finish step), run ids and folders masked
    reports = tmp_path / "reports"
    ra, rb = (reports / "regraded" / "report.md").read_text(), (reports / "fresh" / "report.md").read_text()
    for old, new in [(a.manifest.run_id, "<run>"), (b.manifest.run_id, "<run>"), (str(regraded), "<path>"),
                     (str(fresh), "<path>"), ("regraded", "<dir>"), ("fresh", "<dir>")]:
        ra, rb = ra.replace(old, new), rb.replace(old, new)
    assert "judge" in ra and ra == rb


def test_a_grading_error_re_graded_away_makes_the_run_complete(project, tmp_path, monkeypatch, capsys):
    """A grader that failed on one sample leaves the run incomplete (exit 3); once it works, ``harness grade``
    re-assesses the run as the end of a run does: run.json, summary.json and the exit code say complete."""
    from harness.graders.rubric import DeterministicGrader
    real = DeterministicGrader.grade

    def broken(self, case, review):
        if case.id == "case-1":
            raise RuntimeError("grader broke")
        return real(self, case, review)

    cfg = load_config(project, {"cache_mode": "off"})
    run = tmp_path / "run"
    monkeypatch.setattr(DeterministicGrader, "grade", broken)
    out = pipeline.run(pipeline.plan(cfg, _choices(run_dir=str(run))), model_factory=_scripted(True))
    assert out.exit_code == ExitCode.INCOMPLETE and "could not be graded" in out.result.reason
    assert json.loads((run / SUMMARY).read_text())["run"]["status"] == "incomplete"
    monkeypatch.setattr(DeterministicGrader, "grade", real)
    code = main(["--root", str(project), "grade", str(run)])
    assert code == ExitCode.OK, capsys.readouterr().err
    m = RunDir.open(run).manifest
    assert m.status == "complete" and m.status_reason is None and m.summary["grading_errors"] == 0
    assert json.loads((run / SUMMARY).read_text())["run"]["status"] == "complete"


def test_harness_grade_gates_on_a_baseline(project, tmp_path, capsys):
    """``--baseline``: the re-graded run is gated as ``pytest evals --baseline`` gates a new run: 8 cases found
    in the baseline, none in the candidate → regressed, exit 1; a baseline that is not a run is exit 2 before
    anything is re-graded."""
    for i in range(3, 8):
        write_case(tmp_path / "cases", f"case-{i}")
    cfg = load_config(project, {"cache_mode": "off"})
    base, cand = tmp_path / "base", tmp_path / "cand"
    pipeline.run(pipeline.plan(cfg, _choices(run_dir=str(base))), model_factory=_scripted(True))
    pipeline.run(pipeline.plan(cfg, _choices(run_dir=str(cand))), model_factory=_scripted(False))
    before = (cand / "samples.jsonl").read_bytes()
    assert main(["--root", str(project), "grade", str(cand), "--baseline", str(tmp_path / "nope")]) == 2
    assert (cand / "samples.jsonl").read_bytes() == before
    code = main(["--root", str(project), "grade", str(cand), "--baseline", str(base)])
    err = capsys.readouterr().err
    assert code == ExitCode.REGRESSED, err
    assert "gate against the baseline: regressed" in err and "recall regressed significantly" in err
    assert any((tmp_path / "reports").rglob("compare.md"))


def test_a_case_edited_since_the_run_keeps_its_grades_and_its_cases_json_entry(project, tmp_path, capsys):
    cfg = load_config(project, {"cache_mode": "off"})
    run = tmp_path / "run"
    pipeline.run(pipeline.plan(cfg, _choices(run_dir=str(run))), model_factory=_scripted(True))
    entry = {c["id"]: c for c in json.loads((run / "cases.json").read_text())}["case-2"]
    old = {r.case: r.grades for r in RunDir.open(run).read_samples().records}["case-2"]
    yaml = tmp_path / "cases" / "case-2" / "case.yaml"
    yaml.write_text(yaml.read_text().replace("title: Demo", "title: Demo, edited"))
    assert main(["--root", str(project), "grade", str(run)]) == ExitCode.OK
    assert "not re-graded: 1 case(s) changed or gone since the run" in capsys.readouterr().err
    after = {c["id"]: c for c in json.loads((run / "cases.json").read_text())}
    assert list(after) == ["case-0", "case-1", "case-2"] and after["case-2"] == entry
    assert {r.case: r.grades for r in RunDir.open(run).read_samples().records}["case-2"] == old
    assert RunDir.open(run).manifest.summary["regraded"]["not_regraded_cases"] == ["case-2"]


def test_the_pipeline_is_the_only_writer_of_summary_json(project, tmp_path, monkeypatch):
    """One run, one summary.json, written once by the finish step with the configured reducer (the runner no
    longer writes one of its own with the default reducer first)."""
    import harness.history as history
    calls = []
    real = history.write_run_summary

    def counted(run_dir, **kw):
        calls.append(kw)
        return real(run_dir, **kw)

    monkeypatch.setattr(history, "write_run_summary", counted)
    cfg = load_config(project, {"cache_mode": "off", "reducer": "majority"})
    pipeline.run(pipeline.plan(cfg, _choices(run_dir=str(tmp_path / "run"))), model_factory=_scripted(True))
    assert [c.get("reducer") for c in calls] == ["majority"]


def test_a_baseline_chooses_the_cases_unless_cases_are_given(project, tmp_path):
    """Without --cases a baseline's own cases run (its others are gone from the suite: said); a baseline of the
    whole suite adds no line; --cases keeps the choice; a baseline of nothing left in the suite is bad input."""
    from harness.records import RunManifest
    cfg = load_config(project, {"cache_mode": "off"})

    def baseline(name: str, cases: list[str]) -> str:
        RunDir.create(tmp_path / name, RunManifest(run_id=name, status="complete", cases=cases))
        return str(tmp_path / name)

    part = baseline("part", ["case-2", "case-0", "gone-case"])
    p = pipeline.plan(cfg, Choices(models=[MODEL], progress=False), baseline=part)
    assert [c.id for c in p.opts.cases] == ["case-0", "case-2"]
    (note,) = [n for n in p.notices if "--baseline" in n]
    assert "running the baseline's 2 case(s) only, 1 other case(s) of the suite left out" in note
    assert "1 of its cases are gone from the suite: gone-case" in note
    whole = baseline("whole", ["case-0", "case-1", "case-2"])
    p = pipeline.plan(cfg, Choices(models=[MODEL], progress=False), baseline=whole)
    assert len(p.opts.cases) == 3 and not [n for n in p.notices if "--baseline" in n]
    p = pipeline.plan(cfg, _choices(), baseline=part)
    assert len(p.opts.cases) == 3
    with pytest.raises(HarnessError, match="none of the baseline's 1 cases is in the suite"):
        pipeline.plan(cfg, Choices(models=[MODEL], progress=False), baseline=baseline("none", ["gone-case"]))


def test_a_baseline_chooses_the_epochs_unless_epochs_are_given(project, tmp_path):
    """`pytest evals --prompt v2.md --baseline RUN` ran 1 epoch against a baseline of 3 (a fresh user's report,
    2026-12-08): without --epochs the run takes the baseline's, and says so; --epochs keeps the choice."""
    from harness.records import RunManifest
    cfg = load_config(project, {"cache_mode": "off"})
    RunDir.create(tmp_path / "b3", RunManifest(run_id="b3", status="complete", cases=["case-0"], epochs=3))
    p = pipeline.plan(cfg, Choices(models=[MODEL], progress=False), baseline=str(tmp_path / "b3"))
    assert p.opts.epochs == 3
    assert any("3 epoch(s) a case, as the baseline ran" in n for n in p.notices)
    p = pipeline.plan(cfg, Choices(models=[MODEL], epochs=2, progress=False), baseline=str(tmp_path / "b3"))
    assert p.opts.epochs == 2 and not any("as the baseline ran" in n for n in p.notices)


def test_a_run_that_fails_before_its_first_sample_is_not_left_running(project, tmp_path):
    """Fresh-user report item 6: a failure the runner does not record as a sample (here the model cannot be
    built) left run.json "running" — read as "still running" by the report and the dashboard. run.json now
    says it failed and why, and the lock is released (a resume can take it)."""
    from harness.errors import ModelError

    def unbuildable(name):
        raise ModelError("the model cannot be built here", kind="not_installed")

    cfg = load_config(project)
    run_dir = tmp_path / "failed"
    p = pipeline.plan(cfg, _choices(run_dir=str(run_dir)))
    with pytest.raises(ModelError):
        pipeline.execute(p, model_factory=unbuildable)
    rd = RunDir.open(run_dir)
    assert rd.manifest.status == "incomplete"
    assert rd.manifest.status_reason.startswith("failed: ModelError: the model cannot be built here")
    assert "--resume" in rd.manifest.status_reason
    with rd.lock():       # released: a second process (a resume) can take it
        pass


def test_a_team_suite_outside_the_project_is_resumed_and_regraded_from_its_own_folder(tmp_path, monkeypatch, capsys):
    """Fresh-user report item 4: a run made with `--cases-dir /x/teamcases` was re-graded by `harness grade` against
    the project's cases/ ("re-graded 0 samples", exit 0), its printed resume command failed (exit 2, "cases of
    the run are gone from the suite") and the "what next" commands dropped --cases-dir. run.json now records the
    folder; resume and grade read it; grade takes --cases-dir; a grade that finds none of the run's cases is
    exit 2 naming the folder it looked in."""
    from .crash_child import review_responder, write_project
    project = write_project(tmp_path / "proj", 0)          # its own cases/ does not even exist
    (project / "prompt2.md").write_text("Review the code. Another wording.\n", encoding="utf-8")
    team = tmp_path / "teamcases"
    for i in range(2):
        write_case(team, f"case-{i:02d}")
    other = tmp_path / "othercases"
    write_case(other, "unrelated-case")
    run_dir = tmp_path / "team1"
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.chdir(tmp_path)
    with FakeServer(review_responder) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        base = ["--root", str(project)]
        assert main([*base, "run", "--model", MODEL, "--cases-dir", str(team), "--cases", "all",
                     "--run-dir", str(run_dir), "--no-progress"]) == 0
        err = capsys.readouterr().err
        assert RunDir.open(run_dir).manifest.config["cases_dir"] == str(team.resolve())
        assert "harness run --prompt prompt2.md --cases-dir teamcases" in err, err
        # resumed without --cases-dir: the run's own folder (before: exit 2, cases gone from the suite)
        assert main([*base, "run", "--resume", str(run_dir), "--no-progress"]) == 0, capsys.readouterr().err
        capsys.readouterr()
        sent = len(srv.bodies())
    assert sent == 2
    assert main([*base, "grade", str(run_dir)]) == 0
    err = capsys.readouterr().err
    assert "re-graded 2 samples" in err and str(team.resolve()) in err
    # a folder that holds none of the run's cases: nothing could be re-graded, so not exit 0, and the folder named
    assert main([*base, "grade", str(run_dir), "--cases-dir", str(other)]) == 2
    err = capsys.readouterr().err
    assert str(other) in err and "none of the run's 2 case(s)" in err and "--cases-dir" in err
    assert main([*base, "grade", str(run_dir), "--cases-dir", str(tmp_path / "gone")]) == 2
    assert str(tmp_path / "gone") in capsys.readouterr().err
    # the records were left as the good grade wrote them
    assert RunDir.open(run_dir).manifest.summary["regraded"]["samples"] == 2
    # a case of the team's folder still being written (it does not load) does not block re-grading a run that
    # never had it (before: exit 2 with advice to pass the very folder passed); a warning names it
    bad = team / "wip-case"
    bad.mkdir()
    (bad / "case.yaml").write_text("id: wip-case\ntitle: [unclosed\n", encoding="utf-8")
    assert main([*base, "grade", str(run_dir)]) == 0
    err = capsys.readouterr().err
    assert "re-graded 2 samples" in err and "left out (not in the run)" in err and "wip-case" in err
    # ... but a case the run has that no longer loads stops the re-grade, naming its file
    (team / "case-00" / "case.yaml").write_text("id: case-00\ntitle: [unclosed\n", encoding="utf-8")
    assert main([*base, "grade", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "the run has this case" in err and "case-00" in err
