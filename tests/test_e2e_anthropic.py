"""End to end (issue 2): ``pytest evals --model anthropic/claude-sonnet-4-5`` against the loopback fake server.

Runs ``python -m pytest evals`` in a child process from the project folder, on real cases of the suite, with the
real anthropic SDK pointed at the fake server by ``ANTHROPIC_BASE_URL``. The fake model answers one case with a
review that finds its planted defects (PASSED), another with a review that finds nothing (FAILED), and answers
every request for a third with a 500 (ERROR: nothing was graded, which is not a failure of the prompt).
``--harness-root`` points at a copy of the project's ``[tool.harness]`` with fast retries and the runs and reports
folders moved under tmp_path, so the test neither waits for real backoff nor writes into the repository.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib

from harness.cases import load_suite
from harness.testing.fakeserver import FakeServer, default_responder
from harness.graders.rubric import DeterministicGrader
from harness.request import render_request
from harness.records import RunDir

from .conftest import ROOT
from .crash_child import MODEL, to_toml

KEY = "sk-ant-test-e2e-2222"


def _finding_review(case) -> str:
    """A review that reports each planted finding where it is, in its own words."""
    return "\n".join(f"## {f.title}\n\nIn `{f.location.file}` lines {f.location.lines[0]}-{f.location.lines[1]} "
                     f"(`{f.anchors[0]}`): {', '.join(f.keywords)}. {f.rubric}\n" for f in case.findings)


def _pick_cases():
    """Four real cases: one the crafted review passes, one with a critical finding (fails on an empty review),
    one more (errors) and one whose reply is cut at max_tokens (no gradable review). Chosen from whatever the
    suite holds, in id order."""
    suite = sorted(load_suite(ROOT / "cases"), key=lambda c: c.id)
    grader = DeterministicGrader()
    passing = next(c for c in suite if c.findings and not (g := grader.grade(c, _finding_review(c))).flagged_ids()
                   and g.found_ids() == {f.id for f in c.findings})
    failing = next(c for c in suite if c is not passing and any(f.severity == "critical" for f in c.findings))
    erroring = next(c for c in suite if c not in (passing, failing))
    truncating = next(c for c in suite if c not in (passing, failing, erroring))
    return passing, failing, erroring, truncating


def test_pytest_evals_against_the_fake_server(tmp_path):
    from harness.testing.fakeserver import Reply
    passing, failing, erroring, truncating = _pick_cases()
    texts = {render_request(c): c for c in (passing, failing, erroring, truncating)}

    def case_of(body):
        msgs = body.get("messages") or [{}]
        return texts.get(msgs[0].get("content"))

    def responder(body):
        if case_of(body) is truncating:
            return Reply(text=_finding_review(truncating)[:60], stop_reason="max_tokens")
        return _finding_review(passing) if case_of(body) is passing else default_responder(body)

    def faults(body, attempt):
        return "500" if case_of(body) is erroring else None

    table = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["harness"]
    table.update({"cases_dir": str(ROOT / table.get("cases_dir", "cases")),
                  "prompts": [str(ROOT / p) for p in table.get("prompts", [])],
                  "runs_root": str(tmp_path / "runs"), "reports_dir": str(tmp_path / "reports"),
                  "retry_backoff_base_s": 0.001, "retry_backoff_max_s": 0.02, "max_retries": 2})
    root = tmp_path / "root"
    root.mkdir()
    (root / "pyproject.toml").write_text(to_toml(table, "tool.harness"), encoding="utf-8")
    run_dir = tmp_path / "run"
    ids = [passing.id, failing.id, erroring.id, truncating.id]

    with FakeServer(responder, faults=faults) as srv:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "HARNESS_", "PYTEST_"))}
        env.update({"ANTHROPIC_BASE_URL": srv.base_url, "ANTHROPIC_API_KEY": KEY,
                    "HARNESS_CACHE_DIR": str(tmp_path / "cache")})
        p = subprocess.run([sys.executable, "-m", "pytest", "evals", "-q", "-rA", "-p", "no:cacheprovider",
                            "--model", MODEL, "--run-dir", str(run_dir), "--cases", ",".join(ids),
                            "--harness-root", str(root)],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        out = p.stdout + p.stderr
        assert p.returncode == 1, out  # some tests failed (and errored)

        # one result per case, and the right one: an all-errored case is an ERROR, not a FAILED
        results = re.findall(r"^(PASSED|FAILED|ERROR) evals/test_suite\.py::test_case\[([^\]]+)\]", p.stdout, re.M)
        assert sorted(results, key=lambda r: ids.index(r[1])) == \
            [("PASSED", passing.id), ("FAILED", failing.id), ("ERROR", erroring.id), ("ERROR", truncating.id)], out
        assert re.search(r"^1 failed, 1 passed, .*2 errors", p.stdout, re.M), out
        assert f"{erroring.id}: no sample has a gradable review (1 error)" in p.stdout
        assert f"{truncating.id}: no sample has a gradable review (1 truncated)" in p.stdout
        assert "2 ok, 1 truncated, 0 refused, 0 empty, 1 error" in p.stdout  # ok: passing and failing

        assert "server error (500)" in p.stdout

        # the report lines, pointing at files that exist
        reports = re.findall(r"^report: (.+)$", p.stdout, re.M)
        assert len(reports) == 2 and all(os.path.isfile(x) for x in reports), out
        assert all(x.startswith(str(tmp_path / "reports")) for x in reports)

        # progress while the samples ran: plain lines in a log (stderr is not a terminal here), no bar
        progress = re.findall(r"^harness: (\d+)/4 samples .*$", p.stderr, re.M)
        assert progress and progress[-1] == "4", p.stderr
        assert "\r" not in p.stderr and "━" not in p.stderr
        # the truncated sample is an error too (no gradable review); the 500 was retried twice
        assert re.search(r"^harness: 4/4 samples \(100%\) · 2 errors · 2 retries · [\d,]+ tokens · "
                         r"\$\d+\.\d{4} · .* · done$", p.stderr, re.M), p.stderr
        # what the result means and what to do next
        nxt = p.stdout[p.stdout.index("what this means, what next"):]
        assert "1 case(s) failed" in nxt and "2 case(s) errored" in nxt and "report.html#samples" in nxt
        assert "--baseline" in nxt and "v2.md" in nxt and "Run on Claude" not in nxt

        # the run directory: manifest plus one record per case
        assert (run_dir / "run.json").is_file() and (run_dir / "samples.jsonl").is_file()
        lines = (run_dir / "samples.jsonl").read_text(encoding="utf-8").splitlines()
        assert sorted(json.loads(x)["case"] for x in lines) == sorted(ids)
        rd = RunDir.open(run_dir)
        recs = {r.case: r for r in rd.read_samples().records}
        assert recs[erroring.id].error.kind == "server" and recs[erroring.id].error.status == 500
        assert recs[erroring.id].retries == 2 and recs[passing.id].error is None and recs[failing.id].error is None
        assert rd.manifest.status == "incomplete" and rd.manifest.cases == ids

        # the server saw each healthy case once, and the broken one 1 + max_retries times
        assert srv.requests == 3 + 3
        assert all(r.api_key == KEY for r in srv.received)
