"""The ``pytest evals`` plugin: one test per case (× prompt version × model), all samples generated up front in
one session-scoped run, a report written at the end. Loaded by ``evals/conftest.py``.

Options: --model, --prompt, --epochs, --cases, --limit, --run-dir, --baseline, --grader, --judge-model, --cache,
--max-cost, --no-progress, --grade-truncated. A case none of whose samples has a gradable review (every one
errored, was cut at max_tokens, refused or empty) is reported as an ERROR (setup) naming the outcomes, never as a
failure.
While the samples run, progress goes to stderr (a bar on a terminal, a line every ~10 s in a log); the summary
ends with a short "what this means, what next" section (:func:`harness.guidance.next_steps`).

Selection and pytest-xdist (:func:`pytest_collection_finish`, :func:`pytest_configure_node`,
:func:`pytest_xdist_node_collection_finished`): the run covers only the cases (prompt versions, models) whose tests
are selected — ``-k``, node ids and ``--deselect`` narrow what is sent and paid for. Under ``pytest -n N`` the
evaluation runs once, on the controller, after the workers have collected and before any test is handed out; the
workers read that run directory (chosen by the controller and passed in ``workerinput``) instead of running the
suite themselves, and the controller prints the harness section (run path, reports, cost). A resumed
``--run-dir`` keeps its own case list (it is not narrowed).

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
from .graders.registry import NAMES as GRADER_NAMES
from .planning import Choices, build_options

# harness.verdicts (pandas, scipy) is imported where a verdict is made, after the run: loading the plugin and
# starting the run stay light (issue 16)

_STATE = pytest.StashKey[dict]()
_WORKER_RUN_DIR = "harness_run_dir"     # workerinput key: the run directory the controller writes (pytest-xdist)


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("harness", "prompt evaluation harness")
    g.addoption("--model", action="append", default=None,
                help="model name (repeatable): anthropic/<id>, openai/<model>@<base-url>, local/smollm2-135m "
                "(default: [tool.harness] anthropic_model with ANTHROPIC_API_KEY set, else the embedded model)")
    g.addoption("--prompt", action="append", default=None, help="prompt version: path or git:REV:PATH (repeatable)")
    g.addoption("--epochs", type=int, default=None,
                help="reviews per case (default [tool.harness] epochs); 3 or more make flips worth reading")
    g.addoption("--cases", default=None, help="case ids, tags or kinds, comma-separated; 'all'")
    g.addoption("--limit", type=int, default=None, metavar="N", help="run only the first N of the selected cases")
    g.addoption("--cases-dir", default=None, help="the suite's folder (default [tool.harness] cases_dir)")
    g.addoption("--run-dir", default=None, help="run directory; an existing one is resumed")
    g.addoption("--baseline", default=None, help="baseline run directory to compare against (a,b,c: several runs pooled)")
    g.addoption("--grader", action="append", default=None, choices=GRADER_NAMES,
                help="who grades the reviews (repeatable; default deterministic): the rubric grader, offline, or "
                "an LLM judge (needs --judge-model)")
    g.addoption("--judge-model", default=None, help="model of the LLM judge, e.g. anthropic/claude-haiku-4-5")
    g.addoption("--cache", default=None, choices=["use", "refresh", "off", "replay-only"],
                help="response cache: use (default: reuse identical requests), refresh (ask again, store), off, "
                "replay-only (never call a model)")
    g.addoption("--max-cost", type=float, default=None, metavar="USD",
                help="stop starting samples once this budget would be exceeded")
    g.addoption("--no-progress", action="store_true", default=False,
                help="no progress bar (terminal) or progress lines (logs) while the samples run")
    g.addoption("--grade-truncated", action="store_const", const=True, default=None,
                help="grade replies cut at max_tokens (flagged) instead of reporting them as ERROR")
    g.addoption("--harness-root", default=None, help="project folder (default: search up from the rootdir)")


def pytest_configure(config: pytest.Config) -> None:
    opt = config.getoption
    try:
        cfg = load_config(opt("--harness-root") or config.rootpath,
                          {"cache_mode": opt("--cache"), "max_cost": opt("--max-cost"),
                           "grade_truncated": opt("--grade-truncated"),
                           "cases_dir": str(Path(opt("--cases-dir")).resolve()) if opt("--cases-dir") else None})
        ch = Choices(models=opt("--model"), prompts=opt("--prompt"), cases=opt("--cases"), epochs=opt("--epochs"),
                     run_dir=opt("--run-dir"), graders=opt("--grader"), judge_model=opt("--judge-model"),
                     progress=not opt("--no-progress"), limit=opt("--limit"))
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


def _targets(opts) -> list[tuple[str, tuple]]:
    """``[(test id, (case, prompt, model))]`` of the ``eval_target`` parameter, in collection order."""
    out = []
    multi = len(opts.prompts) > 1 or len(opts.models) > 1
    for m in opts.models:
        for p in opts.prompts:
            for c in opts.cases:
                out.append((f"{c.id}[{p.label}|{m}]" if multi else c.id, (c, p, m)))
    return out


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "eval_target" not in metafunc.fixturenames:
        return
    targets = _targets(metafunc.config.stash[_STATE]["opts"])
    metafunc.parametrize("eval_target", [t for _, t in targets], ids=[i for i, _ in targets])


def _key(target: tuple) -> tuple[str, str, str]:
    case, prompt, model = target
    return case.id, prompt.fingerprint, model


def selected_targets(items) -> set[tuple[str, str, str]] | None:
    """The (case id, prompt fingerprint, model) the selected tests need, or None when a selected test needs the
    run without naming a target (it uses ``eval_run`` but not ``eval_target``): then the whole configured
    selection runs. Tests that use neither are ignored."""
    keys = set()
    for item in items:
        names = getattr(item, "fixturenames", ())
        cs = getattr(item, "callspec", None)
        if cs is not None and "eval_target" in cs.params:
            keys.add(_key(cs.params["eval_target"]))
        elif "eval_run" in names or "case_outcome" in names:
            return None
    return keys


def selected_from_ids(opts, nodeids) -> set[tuple[str, str, str]] | None:
    """:func:`selected_targets` from node ids (what an xdist worker reports to the controller after ``-k``):
    the part in brackets is matched against the ids of :func:`pytest_generate_tests`. None (run the whole
    configured selection) when any id is not one of them — a test the controller cannot see the fixtures of."""
    by_id = {i: _key(t) for i, t in _targets(opts)}
    keys = set()
    for nid in nodeids:
        name = nid.rsplit("::", 1)[-1]
        pid = name[name.index("[") + 1:-1] if "[" in name and name.endswith("]") else None
        if pid not in by_id:
            return None
        keys.add(by_id[pid])
    return keys


def narrow(opts, keys: set[tuple[str, str, str]] | None):
    """``opts`` restricted to the selected cases, prompt versions and models (their cross product: selecting
    case A under v1 and case B under v2 runs A and B under both). Unchanged when ``keys`` is None or the run is a
    resume (a resumed run keeps its manifest's cases)."""
    if keys is None or opts.resume:
        return opts
    from dataclasses import replace
    cases = {k[0] for k in keys}
    prompts = {k[1] for k in keys}
    models = {k[2] for k in keys}
    return replace(opts, cases=[c for c in opts.cases if c.id in cases],
                   prompts=[p for p in opts.prompts if p.fingerprint in prompts],
                   models=[m for m in opts.models if m in models])


def pytest_collection_finish(session: pytest.Session) -> None:
    """After ``-k`` / node-id deselection: remember which targets the run must cover."""
    st = session.config.stash.get(_STATE, None)
    if st is not None:
        st["selected"] = selected_targets(session.items)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """pytest-xdist, on the controller: fix the run directory now and hand it to every worker."""
    st = node.config.stash.get(_STATE, None)
    if st is None:
        return
    if st["opts"].run_dir is None:
        from .runner import _run_id
        st["opts"].run_dir = st["cfg"].path(st["cfg"].runs_root) / _run_id()
    node.workerinput[_WORKER_RUN_DIR] = str(st["opts"].run_dir)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids) -> None:
    """pytest-xdist, on the controller: when the first worker has collected (after ``-k``), run the evaluation
    once for the selected tests. Tests are handed out only after this returns, so every worker finds the run
    written. A failure is kept for the terminal summary; the workers then report it per test."""
    config = node.config
    st = config.stash.get(_STATE, None)
    if st is None or st.get("xdist_started"):
        return
    st["xdist_started"] = True
    keys = selected_from_ids(st["opts"], ids)
    if keys is not None and not keys:
        return                            # no evaluation test selected: nothing to run or pay for
    st["selected"] = keys
    try:
        run_evaluation(config)
    except Exception as e:  # noqa: BLE001 - the controller must survive to print it; workers report it per test
        st["run_error"] = f"{type(e).__name__}: {e}"


def run_evaluation(config: pytest.Config):
    """Run every selected sample once for the session (concurrently), write the reports and, with
    ``--baseline``, the comparison. Idempotent: the second call returns the first result."""
    from .commands import write_reports
    st = config.stash[_STATE]
    if st["result"] is not None:
        return st["result"]
    try:
        res = _execute_with_progress(config, st, narrow(st["opts"], st.get("selected")))
    except HarnessError as e:      # bad input found before any sample (e.g. the preflight's bad model id)
        if _is_worker(config) or st.get("xdist_started"):
            raise
        pytest.exit(f"harness: error: {e}", returncode=2)
    st["result"] = res
    try:
        st["reports"] = write_reports(st["cfg"], res.run_dir.path)
    except Exception as e:  # noqa: BLE001 - a report failure must not hide the per-case results
        st["report_error"] = f"{type(e).__name__}: {e}"
    baseline = config.getoption("--baseline")
    if baseline:
        from .report.compare import write_compare_report
        cmp = baseline_comparison(baseline, res.run_dir.path, st["cfg"])
        st["compare"] = list(write_compare_report(cmp, config=st["cfg"]))
        st["gate"] = cmp
        st["verdict"] = f"comparison with {baseline}: {cmp.gate.headline()}"
    return res


def _execute_with_progress(config: pytest.Config, st: dict, opts):
    """Run the session's samples with progress on stderr: pytest's capture is suspended around the run (the run
    happens inside a fixture, whose output pytest would otherwise hold back), so a terminal gets a live bar and a
    CI log a line every ~10 s (:func:`harness.progress.run_progress`)."""
    from contextlib import nullcontext
    from .progress import run_progress
    from .runner import execute
    if not opts.progress:
        return execute(st["cfg"], opts)
    capman = config.pluginmanager.getplugin("capturemanager")
    tr = config.pluginmanager.getplugin("terminalreporter")
    with (capman.global_and_fixture_disabled() if capman is not None else nullcontext()):
        if tr is not None:
            tr.ensure_newline()     # the bar starts on its own line, not after "evals/test_suite.py "
        sys.stdout.flush()
        with run_progress(True) as cb:
            return execute(st["cfg"], opts, on_progress=cb)


def shared_run(path: str | Path):
    """The run an xdist controller wrote, read by a worker (records deduplicated: the last one of a sample wins).
    Raises RuntimeError when there is none (the controller's run failed; its output says why)."""
    from .records import RunDir
    from .runner import RunResult, RunStats
    if not RunDir.exists(path):
        raise RuntimeError(f"no run at {path}: the evaluation on the pytest-xdist controller did not run or failed "
                           "(see the harness section of the output)")
    rd = RunDir.open(path)
    records = list({r.sample_id: r for r in rd.read_samples().records}.values())
    m = rd.manifest
    return RunResult(run_dir=rd, records=records, stats=RunStats(), complete=m.status == "complete",
                     reason=m.status_reason)


@pytest.fixture(scope="session")
def eval_run(request: pytest.FixtureRequest):
    """The session's run: executed here (once), or under pytest-xdist read from the controller's run."""
    config = request.config
    if _is_worker(config) and _WORKER_RUN_DIR in config.workerinput:
        st = config.stash[_STATE]
        st["result"] = shared_run(config.workerinput[_WORKER_RUN_DIR])
        return st["result"]
    return run_evaluation(config)


def baseline_comparison(baseline: str | Path, run_dir: str | Path, cfg):
    """The comparison ``pytest evals --baseline`` makes: :func:`harness.report.compare.compare_runs` (whose
    ``gate`` is :func:`harness.verdicts.decide`) with the session's settings. ``baseline``: a run directory or
    ``a,b,c``."""
    from .report.compare import compare_runs
    return compare_runs(baseline, Path(run_dir), config=cfg)


def session_exit_code(cmp, complete: bool) -> int:
    """The exit status a ``--baseline`` comparison imposes on the session: 1 when the gate says *regressed*, else
    0 (an incomplete run shows up as ERROR tests; pytest has no exit code 3)."""
    from .verdicts import EXIT_REGRESSION
    return EXIT_REGRESSION if cmp.gate.exit_code(complete) == EXIT_REGRESSION else 0


def _results(st: dict, grader: str):
    """The run's results table (one load per session and grader) and its per-case verdicts."""
    key = f"verdicts:{grader}"
    if key not in st:
        from .results import load_run
        from .verdicts import case_verdicts
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
        # an ERROR (raised in a fixture), never a FAILED: no review was graded, so there is no verdict to fail
        from .outcomes import count_outcomes
        errors = v.errors if v is not None else []
        seen = ", ".join(f"{n} {o}" for o, n in count_outcomes(records).items() if n)
        raise RuntimeError(f"{case.id}: no sample has a gradable review ({seen}), so nothing was graded:\n  "
                           + "\n  ".join(errors))
    return v


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    st = config.stash.get(_STATE, None)
    if not st or _is_worker(config):
        return
    tr = terminalreporter
    if st.get("run_error"):
        tr.section("harness")
        tr.write_line(f"run FAILED on the controller: {st['run_error']}", red=True)
    if st["result"] is None:
        return
    res = st["result"]
    if not st.get("run_error"):
        tr.section("harness")
    for n in st["notices"][:1]:
        tr.write_line(n)
    from .commands import summary_line
    tr.write_line(summary_line(res))
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
    from .guidance import next_steps
    failed = len(tr.stats.get("failed", []))
    errored = len([r for r in tr.stats.get("error", []) if getattr(r, "when", "") == "setup"])
    lines = next_steps(st["cfg"], st["opts"], res.run_dir.path, st["reports"], failed=failed, errored=errored,
                       command="pytest evals")
    if lines:
        tr.section("what this means, what next", sep="-")
        for line in lines:
            tr.write_line(f"- {line}")
    sys.stdout.flush()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With ``--baseline``: a *regressed* verdict fails the session (exit 1) even when every case passed. A report
    that could not be written fails the session too (exit 1): a green run whose report is missing is a lie."""
    st = session.config.stash.get(_STATE, None)
    if st and st.get("report_error") and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if not st or st.get("gate") is None or st["result"] is None:
        return
    if session_exit_code(st["gate"], st["result"].complete) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
