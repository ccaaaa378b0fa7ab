"""``pytest evals`` under pytest-xdist and with ``-k``: the suite runs once, only the selected cases are sent (and
paid for), and the controller prints the harness section.

Each test runs ``python -m pytest evals`` in a child process from the project folder against the loopback fake
server (real anthropic SDK, real HTTP), with ``--harness-root`` pointing at a copy of ``[tool.harness]`` whose
runs and reports folders live under tmp_path, and the response cache off so every sample is a request.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib

import pytest

from harness.cases import load_suite
from harness.testing.fakeserver import FakeServer
from harness.records import RunDir

from .conftest import ROOT
from .crash_child import MODEL, to_toml

pytest.importorskip("xdist", reason="pytest-xdist is in the test extra: pip install -e '.[test]'")

KEY = "sk-ant-test-xdist-3333"


def _three_cases() -> list[str]:
    """Three real case ids, none a substring of another (so ``-k ID`` selects exactly one)."""
    ids = sorted(c.id for c in load_suite(ROOT / "cases"))
    out: list[str] = []
    for i in ids:
        if not any(i in o or o in i for o in out):
            out.append(i)
        if len(out) == 3:
            return out
    raise AssertionError("the suite has fewer than 3 distinct case ids")


@pytest.fixture
def project(tmp_path):
    table = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["harness"]
    table.update({"cases_dir": str(ROOT / table.get("cases_dir", "cases")),
                  "prompts": [str(ROOT / p) for p in table.get("prompts", [])],
                  "runs_root": str(tmp_path / "runs"), "reports_dir": str(tmp_path / "reports"),
                  "retry_backoff_base_s": 0.001, "retry_backoff_max_s": 0.02, "max_retries": 1})
    root = tmp_path / "root"
    root.mkdir()
    (root / "pyproject.toml").write_text(to_toml(table, "tool.harness"), encoding="utf-8")
    return root


def _pytest_evals(srv, tmp_path, root, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "HARNESS_", "PYTEST_"))}
    env.update({"ANTHROPIC_BASE_URL": srv.base_url, "ANTHROPIC_API_KEY": KEY,
                "HARNESS_CACHE_DIR": str(tmp_path / "cache")})
    return subprocess.run([sys.executable, "-m", "pytest", "evals", "-p", "no:cacheprovider", "-rA", "--model", MODEL,
                           "--cache", "off", "--harness-root", str(root), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _harness_section(stdout: str) -> str:
    m = re.search(r"^=+ harness =+$(.*?)(?=^=+ )", stdout, re.M | re.S)
    assert m, stdout
    return m.group(1)


def test_xdist_runs_the_suite_once_and_the_controller_reports_it(tmp_path, project):
    ids = _three_cases()
    with FakeServer() as srv:
        p = _pytest_evals(srv, tmp_path, project, "-n", "2", "--cases", ",".join(ids))
        out = p.stdout + p.stderr
        assert srv.requests == 3, out                     # one request per case, not one per case per worker
    results = re.findall(r"^(?:PASSED|FAILED|ERROR) evals/test_suite\.py::test_case\[([^\]]+)\]", p.stdout, re.M)
    assert sorted(results) == sorted(ids), out
    runs = [d for d in (tmp_path / "runs").iterdir() if RunDir.exists(d)]
    assert len(runs) == 1, runs                           # one run directory, written by the controller
    section = _harness_section(p.stdout)
    assert f"run {runs[0]}: 3 samples recorded" in section and "$" in section, section
    reports = re.findall(r"^report: (.+)$", section, re.M)
    assert len(reports) == 2 and all(os.path.isfile(x) for x in reports), section
    assert len(re.findall(r"^=+ harness =+$", p.stdout, re.M)) == 1


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_k_selection_narrows_what_is_sent(tmp_path, project, xdist):
    ids = _three_cases()
    run_dir = tmp_path / "run"
    extra = ["-n", "2"] if xdist else []
    with FakeServer() as srv:
        p = _pytest_evals(srv, tmp_path, project, *extra, "--cases", ",".join(ids), "-k", ids[1],
                          "--run-dir", str(run_dir))
        out = p.stdout + p.stderr
        assert srv.requests == 1, out                     # only the selected case is sent and paid for
    if not xdist:                                          # (xdist workers deselect; the controller can't say)
        assert re.search(r"2 deselected", p.stdout), out
    rd = RunDir.open(run_dir)
    assert rd.manifest.cases == [ids[1]]
    assert [r.case for r in rd.read_samples().records] == [ids[1]]
    assert f"run {run_dir}: 1 samples recorded" in _harness_section(p.stdout)
