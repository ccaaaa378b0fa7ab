"""The ``pytest evals`` plugin: one test per case (× prompt version × model), all samples generated up front in
one session-scoped run through the run pipeline (:mod:`harness.pipeline`), a report written at the end.

Loading. The package registers this module under the ``pytest11`` entry point ``harness.pytest_plugin``, so any
project with the harness installed can use it (``-p no:harness.pytest_plugin`` turns it off); a checkout installed
before the entry point existed loads it from its conftest (``pytest_plugins = ["harness.pytest_plugin"]``), or
``pytest -p harness.pytest_plugin``. The module adds the options and, at configure time, registers
:class:`HarnessPlugin`, which holds the hooks and fixtures.

The plugin stays inert in sessions without evaluation tests (a project's own unit tests): it plans the run only
when a test asks for ``eval_target`` or ``eval_run``, so nothing is read, checked or printed otherwise. A bad
option or configuration found then stops the session with a usage error (exit 4) before anything is sent.

Options: every run option of :class:`harness.options.RunArgs` as ``--harness-<flag>`` (``--harness-model``,
``--harness-cases``, ``--harness-timeout``...), plus ``--harness-root``; a project's conftest adds the short
names (``--model``, ``--cases``...) with :func:`harness.options.add_pytest_aliases`. A case none of whose
samples has a gradable review (every one errored, was cut at max_tokens, refused or empty) is reported as an
ERROR (setup) naming the outcomes, never as a failure. While the samples run, progress goes to stderr (a bar on a
terminal, a line every ~10 s in a log); the summary ends with a short "what this means, what next" section
(:func:`harness.guidance.next_steps`).

Selection and pytest-xdist: the run covers only the cases (prompt versions, models) whose tests are selected —
``-k``, node ids and ``--deselect`` narrow what is sent and paid for. Under ``pytest -n N`` the evaluation runs
once, on the controller, after the workers have collected and before any test is handed out; the workers read
that run directory (chosen by the controller and passed in ``workerinput``) instead of running the suite
themselves, and the controller prints the harness section (run path, reports, cost). A resumed ``--run-dir``
keeps its own case list (it is not narrowed). Under xdist the controller sees only node ids: it runs the
evaluation when at least one collected id is an ``eval_target`` test.

Pass/fail of a case is :func:`harness.verdicts.case_verdicts` on the run's results table — the same table, reducer
included, as the reports. With ``--baseline RUN_DIR`` (or ``a,b,c``: several nights pooled) the pipeline also
puts the run through the regression gate (:func:`harness.verdicts.decide`, via
:func:`harness.report.compare.compare_runs`): its verdict is printed and a *regressed* verdict makes the session
exit 1, like ``harness compare --fail-on-regression`` and ``harness nightly`` on the same pair of runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .errors import HarnessError
from .exitcodes import ExitCode
from .options import RunArgs, add_pytest_options

if TYPE_CHECKING:
    from .pipeline import Outcome, Plan  # noqa: F401 (Outcome is named in a StashKey string, unseen by ruff)
    from .runner import RunResult

# harness.pipeline, .runner and .verdicts (pandas, scipy) are imported when a run is planned or judged: loading
# the plugin into every pytest session stays light (issue 16)

PLUGIN_NAME = "harness-evals"                   # the registered HarnessPlugin instance
WORKER_RUN_DIR = "harness_run_dir"              # workerinput key: the run directory the controller writes (xdist)

PLAN = pytest.StashKey["Plan"]()                # what the session runs (set when evaluation tests are collected)
SELECTED = pytest.StashKey["set[tuple[str, str, str]] | None"]()   # the targets selected tests need; None: all
OUTCOME = pytest.StashKey["Outcome"]()          # the pipeline's outcome (serial session, xdist controller)
RESULT = pytest.StashKey["RunResult"]()         # the run's records (also on a worker reading the controller's run)
RUN_ERROR = pytest.StashKey[str]()              # the controller's run failed (xdist): shown in the summary
XDIST_STARTED = pytest.StashKey[bool]()         # the controller started the run once
VERDICTS = pytest.StashKey["dict[str, dict]"]()  # per-case verdicts by grader, loaded once per session
PLAN_ERROR = pytest.StashKey[str]()             # why the plan could not be made (bad option or configuration)
_RUN_DIR = pytest.StashKey[Path]()              # the run directory the xdist controller chose for the workers
INTERRUPTED = pytest.StashKey["tuple[str, Path]"]()   # the run was interrupted: (how, its run directory)


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("harness", "prompt evaluation harness")
    add_pytest_options(g)
    g.addoption("--harness-root", default=None, dest="harness_root",
                help="project folder holding pyproject.toml (default: search up from the rootdir)")


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(HarnessPlugin(), PLUGIN_NAME)


def session_plan(config: pytest.Config) -> "Plan | None":
    """The session's :class:`~harness.pipeline.Plan`, made on first use from the options and ``[tool.harness]``
    (under ``--harness-root``, else searched up from the rootdir); None when that input is bad: the error is kept
    (:data:`PLAN_ERROR`) and ends the session as a usage error once collection is over (exit 4, before anything
    is sent), as a bad option does."""
    if PLAN not in config.stash and PLAN_ERROR not in config.stash:
        from . import pipeline
        args = RunArgs.from_pytest(config.getoption)
        try:
            cfg = pipeline.load_run_config(args, config.getoption("harness_root") or config.rootpath)
            config.stash[PLAN] = pipeline.plan(cfg, args.choices(), baseline=args.baseline)
        except HarnessError as e:
            config.stash[PLAN_ERROR] = f"harness: {e}"
    return config.stash.get(PLAN, None)


def _plan(config: pytest.Config) -> "Plan":
    """:func:`session_plan`, raising UsageError when the input is bad (a test that needs the plan)."""
    p = session_plan(config)
    if p is None:
        raise pytest.UsageError(config.stash[PLAN_ERROR])
    return p


def _targets(opts) -> list[tuple[str, tuple]]:
    """``[(test id, (case, prompt, model))]`` of the ``eval_target`` parameter, in collection order."""
    out = []
    multi = len(opts.prompts) > 1 or len(opts.models) > 1
    for m in opts.models:
        for p in opts.prompts:
            for c in opts.cases:
                out.append((f"{c.id}[{p.label}|{m}]" if multi else c.id, (c, p, m)))
    return out


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
    the part in brackets is matched against the ids of ``eval_target``. An empty set when no id is one of them
    (no evaluation test: nothing to run); None (run the whole configured selection) when some are and others are
    not — a test the controller cannot see the fixtures of."""
    by_id = {i: _key(t) for i, t in _targets(opts)}
    keys = set()
    unknown = False
    for nid in nodeids:
        name = nid.rsplit("::", 1)[-1]
        pid = name[name.index("[") + 1:-1] if "[" in name and name.endswith("]") else None
        if pid in by_id:
            keys.add(by_id[pid])
        else:
            unknown = True
    return None if keys and unknown else keys


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


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def run_evaluation(config: pytest.Config) -> "RunResult":
    """Run every selected sample once for the session (concurrently) through the pipeline: the run, its
    cases.json, summary.json and reports, and with ``--baseline`` the comparison and the gate. Idempotent: the
    second call returns the first result."""
    from dataclasses import replace

    from . import pipeline
    if RESULT in config.stash:
        return config.stash[RESULT]
    p = _plan(config)
    p = replace(p, opts=narrow(p.opts, config.stash.get(SELECTED, None)))
    try:
        res = pipeline.execute(p, progress=_progress_scope(config))
    except KeyboardInterrupt as e:     # Ctrl-C or SIGTERM (RunInterrupted): the summary says how to resume
        if getattr(e, "run_dir", None) is not None:
            config.stash[INTERRUPTED] = (getattr(e, "how", "Ctrl-C"), Path(e.run_dir))  # type: ignore[attr-defined]
        raise
    except HarnessError as e:      # bad input found before any sample (e.g. the preflight's bad model id)
        if _is_worker(config) or config.stash.get(XDIST_STARTED, False):
            raise
        pytest.exit(f"harness: error: {e}", returncode=ExitCode.BAD_INPUT)
    config.stash[RESULT] = res
    config.stash[OUTCOME] = pipeline.finish(p, res)
    return res


def _progress_scope(config: pytest.Config):
    """Progress on stderr with pytest's capture suspended around the run (the run happens inside a fixture, whose
    output pytest would otherwise hold back), so a terminal gets a live bar and a CI log a line every ~10 s
    (:func:`harness.progress.run_progress`)."""
    from contextlib import contextmanager, nullcontext

    from .progress import run_progress

    @contextmanager
    def scope(enabled: bool):
        if not enabled:
            with run_progress(False) as cb:
                yield cb
            return
        capman = config.pluginmanager.getplugin("capturemanager")
        tr = config.pluginmanager.getplugin("terminalreporter")
        with (capman.global_and_fixture_disabled() if capman is not None else nullcontext()):
            if tr is not None:
                tr.ensure_newline()     # the bar starts on its own line, not after "evals/test_suite.py "
            sys.stdout.flush()
            with run_progress(True) as cb:
                yield cb
    return scope


def shared_run(path: str | Path) -> "RunResult":
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


def baseline_comparison(baseline: str | Path, run_dir: str | Path, cfg):
    """The comparison ``pytest evals --baseline`` makes: :func:`harness.pipeline.compare_with_baseline`, as
    :func:`harness.pipeline.finish` calls it. ``baseline``: a run directory or ``a,b,c``."""
    from .pipeline import compare_with_baseline
    return compare_with_baseline(baseline, run_dir, cfg)


def session_exit_code(cmp, complete: bool) -> int:
    """The exit status a ``--baseline`` comparison imposes on the session: 1 when the gate says *regressed*, else
    0 (an incomplete run shows up as ERROR tests; pytest has no exit code 3)."""
    return ExitCode.REGRESSED if cmp.gate.exit_code(complete) == ExitCode.REGRESSED else ExitCode.OK


def _verdicts(config: pytest.Config, grader: str) -> dict:
    """The run's results table (one load per session and grader) and its per-case verdicts."""
    cache = config.stash.setdefault(VERDICTS, {})
    if grader not in cache:
        from .results import load_run
        from .verdicts import case_verdicts
        p, res = _plan(config), config.stash[RESULT]
        cfg = p.cfg
        table = load_run(res.run_dir.path, grader=grader, suite=p.opts.cases, reducer=cfg.reducer,
                         severity_weights=cfg.severity_weights)
        cache[grader] = case_verdicts(table, min_recall=cfg.min_recall, max_critical_missed=cfg.max_critical_missed,
                                      cases={c.id: c for c in p.opts.cases})
    return cache[grader]


@pytest.fixture(scope="session")
def eval_run(request: pytest.FixtureRequest) -> "RunResult":
    """The session's run: executed here (once), or under pytest-xdist read from the controller's run. A module
    function, not a method of :class:`HarnessPlugin`: pytest 9.1 deprecates broader-scoped fixtures defined as
    instance methods (``PytestRemovedIn10Warning``), and the module is registered as a plugin anyway."""
    config = request.config
    if _is_worker(config) and WORKER_RUN_DIR in config.workerinput:  # type: ignore[attr-defined]  # workerinput is set by pytest-xdist on workers (_is_worker)
        _plan(config)
        if RESULT not in config.stash:
            config.stash[RESULT] = shared_run(config.workerinput[WORKER_RUN_DIR])  # type: ignore[attr-defined]  # workerinput is set by pytest-xdist on workers (_is_worker)
        return config.stash[RESULT]
    return run_evaluation(config)


class HarnessPlugin:
    """The hooks and fixtures of ``pytest evals``; its state lives in ``config.stash`` under the typed keys of
    this module (:data:`PLAN`, :data:`OUTCOME`, :data:`RESULT`...)."""

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "eval_target" not in metafunc.fixturenames:
            return
        p = session_plan(metafunc.config)
        targets = _targets(p.opts) if p is not None else []     # bad input: pytest_collection_finish says so
        metafunc.parametrize("eval_target", [t for _, t in targets], ids=[i for i, _ in targets])

    def pytest_report_collectionfinish(self, config: pytest.Config) -> list[str]:
        """The plan under "collected N items", when the session collected evaluation tests."""
        p = config.stash.get(PLAN, None)
        if p is None:
            return []
        o = p.opts
        return p.notices + [f"harness: {len(o.cases)} cases × {len(o.prompts)} prompt version(s) "
                            f"({', '.join(x.label for x in o.prompts)}) × {', '.join(o.models)} × {o.epochs} "
                            "epoch(s)"]

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """After ``-k`` / node-id deselection: remember which targets the run must cover. Bad input found while
        collecting ends the session here (usage error, exit 4)."""
        if PLAN_ERROR in session.config.stash:
            raise pytest.UsageError(session.config.stash[PLAN_ERROR])
        if PLAN in session.config.stash:
            session.config.stash[SELECTED] = selected_targets(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        """pytest-xdist, on the controller: fix the run directory now and hand it to every worker. A project
        without a readable ``[tool.harness]`` gets none (its sessions do not evaluate)."""
        from .config import load_config      # not the pipeline: every xdist session passes here
        config = node.config
        try:
            args = RunArgs.from_pytest(config.getoption)
            cfg = load_config(config.getoption("harness_root") or config.rootpath, args.overrides())
        except HarnessError:
            return
        if args.run_dir:
            run_dir = Path(args.run_dir)
        else:
            from .runner import _run_id
            run_dir = config.stash.setdefault(_RUN_DIR, cfg.path(cfg.runs_root) / _run_id())
        node.workerinput[WORKER_RUN_DIR] = str(run_dir)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        """pytest-xdist, on the controller: when the first worker has collected (after ``-k``), run the
        evaluation once for the selected tests. Tests are handed out only after this returns, so every worker
        finds the run written. A failure is kept for the terminal summary; the workers then report it per test."""
        config = node.config
        if config.stash.get(XDIST_STARTED, False) or not _maybe_evaluation(ids):
            return
        config.stash[XDIST_STARTED] = True
        p = session_plan(config)
        if p is None:       # not this session's business, or bad input: a worker collecting evaluation tests says
            return
        keys = selected_from_ids(p.opts, ids)
        if keys is not None and not keys:
            return                            # no evaluation test selected: nothing to run or pay for
        config.stash[SELECTED] = keys
        run_dir = node.workerinput.get(WORKER_RUN_DIR)
        if p.opts.run_dir is None and run_dir:
            p.opts.run_dir = Path(run_dir)     # where the workers will read it
        try:
            run_evaluation(config)
        except Exception as e:  # noqa: BLE001 - the controller must survive to print it; workers report it per test
            config.stash[RUN_ERROR] = f"{type(e).__name__}: {e}"

    @pytest.fixture
    def case_outcome(self, eval_run, eval_target, request: pytest.FixtureRequest):
        """The verdict of one case; raises (→ pytest ERROR) when every sample of it errored."""
        case, prompt, model = eval_target
        config = request.config
        records = [r for r in eval_run.records if r.case == case.id and r.prompt_fingerprint == prompt.fingerprint
                   and r.model == model]
        if not records:
            raise RuntimeError(f"{case.id}: no sample was run ({eval_run.reason or 'unknown reason'})")
        from .results import variant_label
        grader = _plan(config).opts.graders[0]
        v = _verdicts(config, grader).get((variant_label(records[0].prompt_version, model), case.id))
        if v is None or v.epochs_graded == 0:
            # an ERROR (raised in a fixture), never a FAILED: no review was graded, so there is no verdict to fail
            from .outcomes import count_outcomes
            errors = v.errors if v is not None else []
            seen = ", ".join(f"{n} {o}" for o, n in count_outcomes(records).items() if n)
            raise RuntimeError(f"{case.id}: no sample has a gradable review ({seen}), so nothing was graded:\n  "
                               + "\n  ".join(errors))
        return v

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config: pytest.Config) -> None:
        if _is_worker(config):
            return
        tr = terminalreporter
        if INTERRUPTED in config.stash:
            _interrupted_summary(tr, config)
            return
        run_error = config.stash.get(RUN_ERROR, None)
        if run_error:
            tr.section("harness")
            tr.write_line(f"run FAILED on the controller: {run_error}", red=True)
        out = config.stash.get(OUTCOME, None)
        if out is None:
            return
        from .pipeline import summary_line
        res, p = out.result, config.stash[PLAN]
        if not run_error:
            tr.section("harness")
        for n in [*p.notices[:1], *(n for n in p.notices[1:] if n.startswith("harness: --baseline"))]:
            tr.write_line(n)
        tr.write_line(summary_line(res))
        if not res.complete:
            tr.write_line(f"run INCOMPLETE: {res.reason}", red=True)
        if out.report_error:
            tr.write_line(f"report FAILED: {out.report_error}", red=True)
        if out.compare_error:
            tr.write_line(f"comparison FAILED: {out.compare_error}", red=True)
        for path in out.reports:
            tr.write_line(f"report: {path}", bold=True)
        cmp = out.comparison
        if cmp is not None:
            tr.write_line(f"comparison with {p.baseline}: {cmp.gate.headline()}", bold=True)
            for w in cmp.loud:      # cases left out, changed, unpaired epochs: not only inside compare.md
                tr.write_line(f"WARNING: {w}", yellow=True)
        for path in out.compare_reports:
            tr.write_line(f"comparison: {path}", bold=True)
        if cmp is not None:
            for r in cmp.gate.reasons:
                tr.write_line(f"{'regression' if cmp.gate.fail else 'inconclusive'}: {r}", red=cmp.gate.fail)
            for n in cmp.gate.notes:
                tr.write_line(f"note: {n}")
        from .guidance import next_steps
        failed = len(tr.stats.get("failed", []))
        errored = len([r for r in tr.stats.get("error", []) if getattr(r, "when", "") == "setup"])
        lines = next_steps(p.cfg, p.opts, res.run_dir.path, out.reports, failed=failed, errored=errored,
                           command="pytest evals")
        if lines:
            tr.section("what this means, what next", sep="-")
            for line in lines:
                tr.write_line(f"- {line}")
        sys.stdout.flush()

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """With ``--baseline``: a *regressed* verdict fails the session (exit 1) even when every case passed. A
        report that could not be written fails the session too (exit 1): a green run whose report is missing is
        a lie; so does a baseline the run cannot be compared with."""
        out = session.config.stash.get(OUTCOME, None)
        if out is None or session.exitstatus != 0:
            return
        if out.report_error or out.compare_error:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        elif out.comparison is not None and session_exit_code(out.comparison, out.result.complete):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED



def resume_command(config: pytest.Config, run_dir: Path) -> str:
    """The command that resumes an interrupted ``pytest evals`` run: the session's own arguments with the run
    directory as ``--run-dir`` (``--harness-run-dir`` where the project has no short names), replacing one given.
    A resumed run keeps its settings, so repeating the other options is safe (:func:`harness.planning`)."""
    import shlex
    flags = ("--run-dir", "--harness-run-dir")
    args, skip = [], False
    for a in config.invocation_params.args:
        if skip:
            skip = False
        elif a in flags:
            skip = True
        elif a.split("=", 1)[0] not in flags:
            args.append(a)
    try:
        config.getoption("--run-dir")
        flag = "--run-dir"
    except ValueError:      # no short alias in this project (harness.options.add_pytest_aliases)
        flag = "--harness-run-dir"
    return shlex.join(["pytest", *args, flag, str(run_dir)])


def _interrupted_summary(tr, config: pytest.Config) -> None:
    """The harness section of an interrupted session: where the run is, what it holds, how to resume it."""
    from .records import RunDir
    how, run_dir = config.stash[INTERRUPTED]
    tr.section("harness")
    tr.write_line(f"run INTERRUPTED ({how}): {run_dir}", red=True)
    try:
        summary = RunDir.open(run_dir).manifest.summary or {}
    except Exception:  # noqa: BLE001 - the run folder is what it is; the resume command matters more
        summary = {}
    from .unrecorded import stop_account
    account = stop_account(summary)
    if account:
        tr.write_line(account)
    tr.write_line(f"continue with: {resume_command(config, run_dir)}", bold=True)
    tr.write_line(f"(or: harness run --resume {run_dir})")
    sys.stdout.flush()


def _maybe_evaluation(ids) -> bool:
    """Whether a worker's collected node ids may include evaluation tests: some id is parametrized (eval_target
    ids are ``test[<case>...]``). Spares a project's own unit tests under xdist the planning."""
    return any(str(i).endswith("]") for i in ids)
