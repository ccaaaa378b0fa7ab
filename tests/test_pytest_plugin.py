"""The ``pytest evals`` plugin, tested with ``pytester`` in a project that is not this one: only the plugin
(``-p harness.pytest_plugin``, what the pytest11 entry point loads), a pyproject.toml with ``[tool.harness]``, two
small cases and a one-test file; the model is the loopback fake server (real anthropic SDK, real HTTP)."""

from __future__ import annotations

import os
import tomllib

import pytest

from harness.testing.fakeserver import FakeServer
from harness.records import RunDir

from .conftest import ROOT, write_case
from .crash_child import MODEL, to_toml

pytest_plugins = ["pytester"]

KEY = "sk-ant-test-plugin-4444"
GOOD_REVIEW = "1. **Critical** — search_orders builds SQL with an f-string: SQL injection; use a bind parameter."
TEST_FILE = """
import pytest
from harness.verdicts import explain


def test_case(eval_target, case_outcome):
    if not case_outcome.passed:
        pytest.fail(explain(case_outcome), pytrace=False)
"""


def responder(body) -> str:
    """Finds the planted SQL injection in ``case-good`` and nothing in any other case."""
    return GOOD_REVIEW if "case-good" in str(body) else "1. Looks fine to me; no issues."


@pytest.fixture
def project(pytester, monkeypatch):
    """A project of its own: [tool.harness] (this project's, with its folders under the pytester dir), two cases,
    an evaluation test; no conftest, so the plugin's options are the --harness-* names."""
    root = pytester.path
    table = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["harness"]
    table.update({"cases_dir": str(root / "cases"), "prompts": [str(ROOT / p) for p in table["prompts"]],
                  "runs_root": str(root / "runs"), "reports_dir": str(root / "reports"), "cache_mode": "off",
                  "retry_backoff_base_s": 0.001, "retry_backoff_max_s": 0.02, "max_retries": 1})
    (root / "pyproject.toml").write_text(to_toml(table, "tool.harness"), encoding="utf-8")
    for cid in ("case-good", "case-bad"):
        write_case(root / "cases", cid)
    pytester.makepyfile(test_evals=TEST_FILE)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")       # replaced by _run; never reached
    return root


def _run(pytester, *args, srv=None):
    """``pytest`` in a child process (the run imports numpy & co., which cannot be imported twice in-process)
    against the fake server ``srv``."""
    if srv is not None:
        os.environ["ANTHROPIC_BASE_URL"] = srv.base_url      # restored by the monkeypatch of ``project``
    return pytester.runpytest_subprocess("-p", "harness.pytest_plugin", "-p", "no:cacheprovider", "--harness-model",
                                         MODEL, "--harness-cases", "all", "--harness-no-progress", *args)


def test_options_are_generated_from_the_shared_definition(pytester):
    from dataclasses import fields

    from harness.options import RunArgs
    result = pytester.runpytest("-p", "harness.pytest_plugin", "--help")
    out = result.stdout.str()
    for f in fields(RunArgs):
        assert f"--harness-{f.metadata['flag']}" in out, f.name
    assert "--harness-root" in out
    assert "--model" not in out.replace("--harness-model", "")     # short names only where a conftest adds them


def test_a_session_without_evaluation_tests_is_left_alone(pytester, monkeypatch):
    """No [tool.harness], no plan, no header, no harness section: the entry point loads the plugin everywhere."""
    pytester.makepyfile(test_plain="def test_one():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest("-p", "harness.pytest_plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    # pytest's own header lists the installed plugin ("plugins: harness-0.1.0, ...") and pytest warns when -p names
    # a plugin the entry point already imported ("Module already imported so cannot be rewritten"); nothing of the
    # harness's own may show
    lines = [ln for ln in result.stdout.str().splitlines() if not ln.startswith("plugins:")
             and "cannot be rewritten" not in ln and "PytestAssertRewriteWarning" not in ln]
    assert not [ln for ln in lines if "harness" in ln], lines


def test_collection_parametrizes_one_test_per_case_without_sending(pytester, project):
    with FakeServer(responder=responder) as srv:
        result = _run(pytester, "--collect-only", "-q", srv=srv)
        assert srv.requests == 0
    out = result.stdout.str()
    assert "test_evals.py::test_case[case-bad]" in out and "test_evals.py::test_case[case-good]" in out
    assert f"harness: 2 cases × 1 prompt version(s) (v1) × {MODEL} × 1 epoch(s)" in out


def test_a_run_on_the_fake_server_passes_and_fails_cases_and_writes_the_run(pytester, project):
    with FakeServer(responder=responder, require_key=KEY) as srv:
        result = _run(pytester, "-rA", srv=srv)
        assert srv.requests == 2
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "PASSED test_evals.py::test_case[case-good]" in out
    assert "FAILED test_evals.py::test_case[case-bad]" in out and "case-bad: recall 0.00 < 0.50" in out
    (run,) = [d for d in (project / "runs").iterdir() if RunDir.exists(d)]
    assert f"run {run}: 2 samples recorded" in out
    assert (run / "cases.json").is_file() and (run / "summary.json").is_file()
    reports = [line.split("report: ", 1)[1] for line in out.splitlines() if line.startswith("report: ")]
    assert len(reports) == 2 and all((project / r).is_file() for r in reports), reports


def test_k_narrows_what_is_sent_and_the_exit_status_follows_the_tests(pytester, project):
    with FakeServer(responder=responder) as srv:
        result = _run(pytester, "-k", "case-good", srv=srv)
        assert srv.requests == 1
    result.assert_outcomes(passed=1, deselected=1)
    assert result.ret == 0


def test_a_bad_option_is_a_usage_error_before_anything_is_sent(pytester, project):
    with FakeServer(responder=responder) as srv:
        result = _run(pytester, "--harness-epochs", "0", srv=srv)
        assert srv.requests == 0
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*harness: --epochs: expected a whole number of epochs >= 1, got 0*"])


def test_a_regressed_baseline_fails_the_session_even_when_every_case_passes(pytester, project):
    """The gate through the pipeline: thresholds that pass every case, a baseline that found the injection in all
    8 cases, a candidate that finds it in none: every test passes, the session exits 1 on the gate's verdict."""
    pp = project / "pyproject.toml"
    pp.write_text(pp.read_text(encoding="utf-8").replace("min_recall = 0.5", "min_recall = 0.0")
                  .replace("max_critical_missed = 0", "max_critical_missed = 1"), encoding="utf-8")
    for i in range(6):
        write_case(project / "cases", f"case-x{i}")
    base = project / "base"
    with FakeServer(responder=lambda body: GOOD_REVIEW) as srv:
        first = _run(pytester, "--harness-run-dir", str(base), srv=srv)
    first.assert_outcomes(passed=8)
    assert first.ret == 0
    with FakeServer(responder=lambda body: "1. Looks fine to me; no issues.") as srv:
        result = _run(pytester, "--harness-baseline", str(base), srv=srv)
    result.assert_outcomes(passed=8)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"comparison with {base}: regressed*", "comparison: *compare.md",
                                 "regression: *"])


def test_the_entry_point_loads_the_plugin_once_even_with_a_conftest_naming_it(pytester, tmp_path, monkeypatch):
    """The pytest11 entry point declared in pyproject.toml, installed as package metadata on the path (what
    ``pip install`` writes), loads the plugin without ``-p``; a conftest that also names it in ``pytest_plugins``
    (evals/conftest.py, for checkouts installed before the entry point) does not load it twice; ``-p no:NAME``
    turns it off."""
    group = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["entry-points"]["pytest11"]
    assert group == {"harness.pytest_plugin": "harness.pytest_plugin"}
    site = tmp_path / "site"
    meta = site / "harness_entry_point_probe-0.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: harness-entry-point-probe\nVersion: 0\n")
    (meta / "entry_points.txt").write_text("[pytest11]\n" + "".join(f"{k} = {v}\n" for k, v in group.items()))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    on = pytester.runpytest_subprocess("--help")                 # no -p, no conftest: the entry point alone
    assert on.ret == 0 and "--harness-model" in on.stdout.str(), on.stderr.str()
    pytester.makeconftest('pytest_plugins = ["harness.pytest_plugin"]\n')
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    run.assert_outcomes(passed=1)
    assert "already registered" not in run.stderr.str() + run.stdout.str()
    off = pytester.runpytest_subprocess("-p", "no:harness.pytest_plugin", "--help")
    assert off.ret == 0 and "--harness-model" not in off.stdout.str()


def test_a_baseline_limits_the_run_to_its_cases_unless_cases_are_chosen(pytester, project):
    """``--baseline`` without ``--cases`` runs (and pays for) only the baseline's cases, and says so; with
    ``--cases all`` every case runs and the terminal names the cases the gate could not compare, with counts."""
    for i in range(3):
        write_case(project / "cases", f"case-x{i}")
    base = project / "base"
    with FakeServer(responder=responder) as srv:
        first = _run(pytester, "--harness-run-dir", str(base), "--harness-cases", "case-good,case-bad", srv=srv)
        assert srv.requests == 2
    assert first.ret == pytest.ExitCode.TESTS_FAILED          # case-bad fails its thresholds
    with FakeServer(responder=responder) as srv:
        os.environ["ANTHROPIC_BASE_URL"] = srv.base_url
        only = pytester.runpytest_subprocess("-p", "harness.pytest_plugin", "-p", "no:cacheprovider",
                                             "--harness-model", MODEL, "--harness-no-progress",
                                             "--harness-baseline", str(base))
        assert srv.requests == 2
    only.assert_outcomes(passed=1, failed=1)
    out = only.stdout.str()
    assert "harness: --baseline: running the baseline's 2 case(s) only, 3 other case(s) of the suite left out" in out
    assert out.count("running the baseline's 2 case(s)") == 2     # under the plan line and in the summary
    assert "only in the candidate" not in out
    with FakeServer(responder=responder) as srv:
        every = _run(pytester, "--harness-baseline", str(base), srv=srv)
        assert srv.requests == 5
    every.stdout.fnmatch_lines(["WARNING: 3 case(s) only in the candidate, left out: case-x0, case-x1, case-x2"])
    assert "running the baseline's" not in every.stdout.str()


def test_no_plugin_fixture_is_a_broader_scoped_instance_method():
    """pytest 9.1 warns (PytestRemovedIn10Warning) on every session for a session-, module- or class-scoped
    fixture defined as an instance method: the plugin's must be module functions."""
    import harness.pytest_plugin as plugin
    from harness.pytest_plugin import HarnessPlugin
    methods = {k: v._fixture_function_marker.scope for k, v in vars(HarnessPlugin).items()
               if hasattr(v, "_fixture_function_marker")}
    assert all(scope == "function" for scope in methods.values()), methods
    assert plugin.eval_run._fixture_function_marker.scope == "session"


def test_an_interrupted_session_names_the_run_and_the_exact_command_that_resumes_it(pytester, project):
    """SIGTERM to ``pytest`` while its requests are in flight: the harness section names the run and prints
    the session's own command with ``--harness-run-dir RUN`` (this project has no short names); running that
    command completes the run. Before: only pytest's ``!!! RunInterrupted: SIGTERM !!!`` line."""
    import shlex
    import signal
    import subprocess
    import sys
    import time

    args = ["-p", "harness.pytest_plugin", "-p", "no:cacheprovider", "--harness-model", MODEL, "--harness-cases",
            "all", "--harness-no-progress"]
    with FakeServer(responder=responder, require_key=KEY, latency_s=60.0) as slow:
        env = {**os.environ, "ANTHROPIC_BASE_URL": slow.base_url}
        proc = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=project, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        while slow.requests < 2:
            assert proc.poll() is None and time.monotonic() - t0 < 120, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out + err
    (run,) = [d for d in (project / "runs").iterdir() if RunDir.exists(d)]
    assert f"run INTERRUPTED (SIGTERM): {run}" in out
    assert "0 of 2 samples recorded and kept" in out
    command = f"continue with: {shlex.join(['pytest', *args, '--harness-run-dir', str(run)])}"
    assert command in out, out
    with FakeServer(responder=responder, require_key=KEY) as srv:
        resumed = subprocess.run([sys.executable, "-m", *shlex.split(command.split(": ", 1)[1])], cwd=project,
                                 env={**os.environ, "ANTHROPIC_BASE_URL": srv.base_url}, capture_output=True,
                                 text=True, timeout=300)
        assert srv.requests == 2
    assert resumed.returncode == pytest.ExitCode.TESTS_FAILED, resumed.stdout + resumed.stderr
    assert "1 failed, 1 passed" in resumed.stdout
    assert RunDir.open(run).manifest.status == "complete"
