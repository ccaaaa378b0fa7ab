"""The run options, defined once (harness/options.py): the CLI's flags and the pytest options come from the same
fields, parse to the same values, and override [tool.harness] the same way."""

from __future__ import annotations

from dataclasses import fields

import pytest

from harness.cli import _build
from harness.errors import ConfigError
from harness.options import RunArgs
from harness.pipeline import load_run_config

from .conftest import ROOT

pytest_plugins = ["pytester"]

ARGS = ["--model", "anthropic/claude-haiku-4-5", "--model", "local/smollm2-135m", "--prompt", "p/v1.md",
        "--cases", "smoke,sql", "--cases-dir", "suite", "--limit", "4", "--epochs", "3", "--run-dir", "r",
        "--concurrency", "2", "--max-retries", "1", "--timeout", "9.5", "--server-slots", "2",
        "--server-context", "4096", "--cache", "refresh", "--cache-dir", "c", "--max-cost", "1.25",
        "--temperature", "0.3", "--max-tokens", "500", "--batch", "--grader", "deterministic", "--grader", "judge",
        "--judge-model", "anthropic/claude-haiku-4-5", "--no-progress", "--grade-truncated"]


def test_every_field_is_a_flag_of_run_and_nightly_and_a_pytest_option(pytester):
    run = RunArgs.from_namespace(_build().parse_args(["run", *ARGS]))
    nightly = RunArgs.from_namespace(_build().parse_args(["nightly", *ARGS, "--baseline", "b"]))
    config = pytester.parseconfig("-p", "harness.pytest_plugin",
                                  *[("--harness-" + a[2:]) if a.startswith("--") else a for a in ARGS],
                                  "--harness-baseline", "b")
    via_pytest = RunArgs.from_pytest(config.getoption)
    assert run.model == ["anthropic/claude-haiku-4-5", "local/smollm2-135m"] and run.request_timeout_s == 9.5
    assert run.batch is True and run.no_progress is True and run.grade_truncated is True
    assert run.graders == ["deterministic", "judge"] and run.baseline is None      # harness run has no gate
    assert nightly == via_pytest and nightly.baseline == "b"
    from dataclasses import replace
    assert replace(run, baseline="b") == nightly
    unset = [f.name for f in fields(RunArgs) if getattr(nightly, f.name) in (None, False)]
    assert unset == [], unset               # ARGS gives every option: none was dropped on the way


def test_short_pytest_names_are_aliases_of_the_harness_options(pytester):
    pytester.makeconftest("from harness.options import add_pytest_aliases\n\n"
                          "def pytest_addoption(parser):\n    add_pytest_aliases(parser.getgroup('harness'))\n")
    config = pytester.parseconfig("-p", "harness.pytest_plugin", "--model", "m1", "--harness-model", "m2",
                                  "--epochs", "2", "--cache", "off", "--no-progress")
    args = RunArgs.from_pytest(config.getoption)
    assert args.model == ["m1", "m2"] and args.epochs == 2 and args.cache_mode == "off" and args.no_progress


def test_unset_options_leave_the_pyproject_values_and_set_ones_override_them(tmp_path, monkeypatch):
    cfg = load_run_config(RunArgs(), ROOT)
    assert cfg.concurrency == 8 and cfg.cache_mode == "use"                 # this project's pyproject.toml
    monkeypatch.chdir(tmp_path)
    cfg = load_run_config(RunArgs(concurrency=3, cache_mode="off", cases_dir="mine", request_timeout_s=7.0), ROOT)
    assert cfg.concurrency == 3 and cfg.cache_mode == "off" and cfg.request_timeout_s == 7.0
    assert cfg.path(cfg.cases_dir) == (tmp_path / "mine").resolve()     # relative to the working directory


def test_a_bad_option_value_names_the_flag():
    with pytest.raises(ConfigError) as e:
        load_run_config(RunArgs(concurrency=0), ROOT)
    assert e.value.field == "--concurrency"
    with pytest.raises(ConfigError) as e:
        load_run_config(RunArgs(request_timeout_s=-1.0), ROOT)
    assert e.value.field == "--timeout"


def test_choices_carry_what_planning_needs():
    ch = RunArgs(model=["m"], epochs=2, no_progress=True, limit=3, graders=["judge"], judge_model="j").choices()
    assert (ch.models, ch.epochs, ch.progress, ch.limit, ch.graders, ch.judge_model) == (["m"], 2, False, 3,
                                                                                          ["judge"], "j")
    resumed = RunArgs(run_dir="ignored").choices(resume="runs/x", dry_run=True)
    assert resumed.run_dir == "runs/x" and resumed.resume and resumed.dry_run
