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
