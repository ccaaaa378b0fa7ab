"""The ``pytest evals`` plugin: one test per case (× prompt version × model), all samples generated up front in
one session-scoped run, a report written at the end. Loaded by ``evals/conftest.py``.

Options: --model, --prompt, --epochs, --cases, --run-dir, --baseline, --grader, --judge-model, --cache,
--max-cost. A case whose samples all errored is reported as an ERROR (setup), not a failure.

Pass/fail of a case is :func:`harness.verdicts.case_verdicts` on the run's results table — the same table, reducer
included, as the reports. With ``--baseline RUN_DIR`` (or ``a,b,c``: several nights pooled) the run is also put
through the regression gate (:func:`harness.verdicts.decide`, via :func:`harness.report.compare.compare_runs`):
its verdict is printed and a *regressed* verdict makes the session exit 1, like ``harness compare
--fail-on-regression`` and ``harness nightly`` on the same pair of runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .config import load_config
from .errors import HarnessError
from .planning import Choices, build_options
from .verdicts import EXIT_REGRESSION, case_verdicts

_STATE = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("harness", "prompt evaluation harness")
    g.addoption("--model", action="append", default=None, help="model name (repeatable)")
    g.addoption("--prompt", action="append", default=None, help="prompt version: path or git:REV:PATH (repeatable)")
    g.addoption("--epochs", type=int, default=None)
    g.addoption("--cases", default=None, help="case ids, tags or kinds, comma-separated; 'all'")
    g.addoption("--cases-dir", default=None, help="the suite's folder (default [tool.harness] cases_dir)")
    g.addoption("--run-dir", default=None, help="run directory; an existing one is resumed")
    g.addoption("--baseline", default=None, help="baseline run directory to compare against (a,b,c: several runs pooled)")
    g.addoption("--grader", action="append", default=None, choices=["deterministic", "judge"])
    g.addoption("--judge-model", default=None)
    g.addoption("--cache", default=None, choices=["use", "refresh", "off", "replay-only"])
    g.addoption("--max-cost", type=float, default=None)
    g.addoption("--harness-root", default=None, help="project folder (default: search up from the rootdir)")


def pytest_configure(config: pytest.Config) -> None:
    opt = config.getoption
    try:
        cfg = load_config(opt("--harness-root") or config.rootpath,
                          {"cache_mode": opt("--cache"), "max_cost": opt("--max-cost"),
                           "cases_dir": str(Path(opt("--cases-dir")).resolve()) if opt("--cases-dir") else None})
        ch = Choices(models=opt("--model"), prompts=opt("--prompt"), cases=opt("--cases"), epochs=opt("--epochs"),
                     run_dir=opt("--run-dir"), graders=opt("--grader"), judge_model=opt("--judge-model"),
                     progress=False)
        opts, notices = build_options(cfg, ch)
        baseline = opt("--baseline")
        if baseline:
            from .records import RunDir
            from .report.compare import baseline_paths
            for b in baseline_paths(baseline):
                RunDir.open(b)  # a bad baseline fails now, not after the whole suite has run
    except HarnessError as e:
        raise pytest.UsageError(f"harness: {e}") from None
    config.stash[_STATE] = {"cfg": cfg, "opts": opts, "notices": notices, "result": None, "reports": [],
                            "compare": []}


def pytest_report_header(config: pytest.Config) -> list[str]:
    st = config.stash.get(_STATE, None)
    if not st:
        return []
    o = st["opts"]
    return st["notices"] + [f"harness: {len(o.cases)} cases × {len(o.prompts)} prompt version(s) "
                            f"({', '.join(p.label for p in o.prompts)}) × {', '.join(o.models)} × {o.epochs} epoch(s)"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "eval_target" not in metafunc.fixturenames:
        return
    o = metafunc.config.stash[_STATE]["opts"]
    params, ids = [], []
    multi = len(o.prompts) > 1 or len(o.models) > 1
    for m in o.models:
        for p in o.prompts:
            for c in o.cases:
                params.append((c, p, m))
                ids.append(f"{c.id}[{p.label}|{m}]" if multi else c.id)
    metafunc.parametrize("eval_target", params, ids=ids)


@pytest.fixture(scope="session")
def eval_run(request: pytest.FixtureRequest):
    """Run every sample once for the session (concurrently), then write the reports."""
    from .commands import write_reports
    from .runner import execute
    st = request.config.stash[_STATE]
    res = execute(st["cfg"], st["opts"])
    st["result"] = res
    try:
        st["reports"] = write_reports(st["cfg"], res.run_dir.path)
    except Exception as e:  # noqa: BLE001 - a report failure must not hide the per-case results
        st["report_error"] = f"{type(e).__name__}: {e}"
    baseline = request.config.getoption("--baseline")
    if baseline:
        from .report.compare import write_compare_report
        cmp = baseline_comparison(baseline, res.run_dir.path, st["cfg"])
        st["compare"] = list(write_compare_report(cmp, config=st["cfg"]))
        st["gate"] = cmp
        st["verdict"] = f"comparison with {baseline}: {cmp.gate.headline()}"
    return res


def baseline_comparison(baseline: str | Path, run_dir: str | Path, cfg):
    """The comparison ``pytest evals --baseline`` makes: :func:`harness.report.compare.compare_runs` (whose
    ``gate`` is :func:`harness.verdicts.decide`) with the session's settings. ``baseline``: a run directory or
    ``a,b,c``."""
    from .report.compare import compare_runs
    return compare_runs(baseline, Path(run_dir), config=cfg)


def session_exit_code(cmp, complete: bool) -> int:
    """The exit status a ``--baseline`` comparison imposes on the session: 1 when the gate says *regressed*, else
    0 (an incomplete run shows up as ERROR tests; pytest has no exit code 3)."""
    return EXIT_REGRESSION if cmp.gate.exit_code(complete) == EXIT_REGRESSION else 0


def _results(st: dict, grader: str):
    """The run's results table (one load per session and grader) and its per-case verdicts."""
    key = f"verdicts:{grader}"
    if key not in st:
        from .results import load_run
        cfg, res = st["cfg"], st["result"]
        table = load_run(res.run_dir.path, grader=grader, suite=st["opts"].cases, reducer=cfg.reducer,
                         severity_weights=cfg.severity_weights)
        st[key] = case_verdicts(table, min_recall=cfg.min_recall, max_critical_missed=cfg.max_critical_missed,
                                cases={c.id: c for c in st["opts"].cases})
    return st[key]


@pytest.fixture
def case_outcome(eval_run, eval_target, request: pytest.FixtureRequest):
    """The verdict of one case; raises (→ pytest ERROR) when every sample of it errored."""
    case, prompt, model = eval_target
    st = request.config.stash[_STATE]
    cfg = st["cfg"]
    records = [r for r in eval_run.records if r.case == case.id and r.prompt_fingerprint == prompt.fingerprint
               and r.model == model]
    if not records:
        raise RuntimeError(f"{case.id}: no sample was run ({eval_run.reason or 'unknown reason'})")
    from .results import variant_label
    grader = (request.config.getoption("--grader") or cfg.graders)[0]
    v = _results(st, grader).get((variant_label(records[0].prompt_version, model), case.id))
    if v is None or v.epochs_graded == 0:
        errors = v.errors if v is not None else []
        raise RuntimeError(f"{case.id}: every sample errored, so nothing was graded:\n  " + "\n  ".join(errors))
    return v


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    st = config.stash.get(_STATE, None)
    if not st or st["result"] is None:
        return
    res = st["result"]
    tr = terminalreporter
    tr.section("harness")
    for n in st["notices"][:1]:
        tr.write_line(n)
    s = res.stats
    tr.write_line(f"run: {res.run_dir.path} — {len(res.records)} samples, {s.errors} errors, {s.retries} retries, "
                  f"{s.cache_hits} from cache, {s.cost_text()}")
    if not res.complete:
        tr.write_line(f"run INCOMPLETE: {res.reason}", red=True)
    if st.get("report_error"):
        tr.write_line(f"report FAILED: {st['report_error']}", red=True)
    for p in st["reports"]:
        tr.write_line(f"report: {p}", bold=True)
    if st.get("verdict"):
        tr.write_line(st["verdict"], bold=True)
    for p in st["compare"]:
        tr.write_line(f"comparison: {p}", bold=True)
    cmp = st.get("gate")
    if cmp is not None:
        for r in cmp.gate.reasons:
            tr.write_line(f"{'regression' if cmp.gate.fail else 'inconclusive'}: {r}", red=cmp.gate.fail)
        for n in cmp.gate.notes:
            tr.write_line(f"note: {n}")
    sys.stdout.flush()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With ``--baseline``: a *regressed* verdict fails the session (exit 1) even when every case passed."""
    st = session.config.stash.get(_STATE, None)
    if not st or st.get("gate") is None or st["result"] is None:
        return
    if session_exit_code(st["gate"], st["result"].complete) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
