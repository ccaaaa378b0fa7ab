"""The one place a run is assembled: plan → run → cases.json and summary.json → reports → gate → exit code.

``harness run`` (:mod:`harness.commands`), ``harness nightly`` (:mod:`harness.nightly`) and ``pytest evals``
(:mod:`harness.pytest_plugin`) all call it, so the same options make the same run whichever starts it. Layers:
the pipeline sits above :mod:`harness.report` (which never imports it) and below the CLI and the pytest plugin.

Steps:

1. :func:`plan` — ``[tool.harness]`` plus the options (:class:`harness.options.RunArgs`) → :class:`Plan`: the
   config, the resolved :class:`harness.runner.RunOptions`, notices to print, the baseline (checked readable now,
   before anything is spent).
2. :func:`execute` — :func:`harness.runner.execute` with progress on stderr.
3. :func:`finish` — writes ``cases.json`` and ``summary.json`` (with the configured reducer and severity weights),
   the run's reports, and with a baseline the comparison report and the gate's verdict
   (:func:`harness.verdicts.decide` via :func:`harness.report.compare.compare_runs`); returns an :class:`Outcome`
   whose ``exit_code`` is :func:`harness.verdicts.exit_code` (1 regressed, else 3 incomplete, else 0).

``harness grade RUN_DIR`` replaces steps 1–2 by :func:`regrade` (the run's samples graded again, its records
rewritten) and ends with the same :func:`finish`, so a re-graded run's summary and reports are made as a new run's.
The pipeline is the only writer of ``summary.json`` (the runner writes the records and ``run.json``).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .config import HarnessConfig, load_config
from .errors import HarnessError
from .exitcodes import ExitCode
from .options import RunArgs
from .planning import Choices, build_options
from .records import RunManifest
from .runner import RunOptions, RunResult, RunStats

ProgressScope = Callable[[bool], AbstractContextManager[Callable[[RunStats], None]]]


@dataclass
class Plan:
    """A run ready to start.

    Attributes:
        cfg: the settings (``[tool.harness]`` with the options' overrides).
        opts: what to run (cases, prompt versions, models, epochs, graders, run directory...).
        notices: lines to show the user before the run (embedded model, ``--limit``, aliased prompts...).
        baseline: the run(s) to gate against (``a,b,c`` pools several), or None: no gate.
        cases_json: what ``cases.json`` holds (:func:`harness.casemeta.case_payload` of each entry) when it is not
            ``opts.cases``: a re-grade keeps the run's own entry of a case edited or removed since the run.
    """

    cfg: HarnessConfig
    opts: RunOptions
    notices: list[str] = field(default_factory=list)
    baseline: str | None = None
    cases_json: list[Any] | None = None


@dataclass
class Outcome:
    """What a run produced.

    Attributes:
        result: the runner's :class:`~harness.runner.RunResult` (run directory, records, stats, completeness).
        reports: paths of the run's markdown and HTML reports ([] when they could not be written).
        report_error: why the reports (or the summary) could not be written, or None.
        comparison: the :class:`~harness.report.compare.Comparison` with the baseline, or None without one.
        compare_reports: paths of the comparison's markdown and HTML reports.
        compare_error: why the run could not be compared with the baseline (no variant or finding in common),
            or None; the exit code is then BAD_INPUT.
        cases_dir: the suite's folder the run's cases were read from.
        exit_code: :class:`~harness.exitcodes.ExitCode` — REGRESSED when the gate says *regressed*, else
            BAD_INPUT when the baseline could not be compared, else INCOMPLETE when the run is incomplete, else OK.
    """

    result: RunResult
    reports: list[Path] = field(default_factory=list)
    report_error: str | None = None
    comparison: Any = None
    compare_reports: list[Path] = field(default_factory=list)
    compare_error: str | None = None
    exit_code: ExitCode = ExitCode.OK
    cases_dir: Path | None = None


def load_run_config(args: RunArgs, root: str | Path | None = None, **updates: Any) -> HarnessConfig:
    """``[tool.harness]`` under ``root`` (default: searched up from the working directory) with the options'
    overrides, then ``updates`` (nightly's runs root, cache mode). Raises ConfigError (naming the key or flag)."""
    cfg = load_config(root, args.overrides())
    return cfg.model_copy(update=updates) if updates else cfg


def plan(cfg: HarnessConfig, choices: Choices, *, baseline: str | None = None) -> Plan:
    """Resolve the choices (:func:`harness.planning.build_options`) and check the baseline's runs are readable.

    Raises:
        HarnessError: unknown cases, prompts or models, bad values, a baseline that is not a run directory.
    """
    cfg = with_run_cases_dir(cfg, choices.run_dir, choices.cases_dir)
    bases = _check_baseline(baseline)
    if bases and choices.cases is None and not choices.resume:
        # without --cases, run what the baseline ran (its runs' cases, in order, each once): the gate can pair
        # nothing else
        ran = list(dict.fromkeys(c for m in bases for c in m.cases))
        choices = dataclasses.replace(choices, baseline_cases=ran)
    adopted = None
    if bases and choices.epochs is None and not choices.resume:
        # ... and as many epochs: a run of 1 epoch against a baseline of 3 was compared as rates over unequal
        # epochs (a fresh user's report, 2026-12-08)
        adopted = bases[0].epochs
        choices = dataclasses.replace(choices, epochs=adopted)
    opts, notices = build_options(cfg, choices)
    if adopted is not None and adopted != cfg.epochs:
        notices.append(f"--baseline: {adopted} epoch(s) a case, as the baseline ran (--epochs to choose)")
    return Plan(cfg, opts, notices, baseline or None)


def with_run_cases_dir(cfg: HarnessConfig, run_dir: str | Path | None, given: str | None) -> HarnessConfig:
    """``cfg`` reading the suite from the folder an existing run was made with (its run.json ``config.cases_dir``)
    when ``--cases-dir`` was not ``given``: a run of a team's own suite is resumed and re-graded from that suite,
    not from the project's ``cases/``. Unchanged for a new run, a run recorded before the folder was, or a flag."""
    from .records import RunDir
    if given or not run_dir or not RunDir.exists(run_dir):
        return cfg
    try:
        recorded = RunDir.open(run_dir).manifest.config.get("cases_dir")
    except HarnessError:
        return cfg            # the caller opens the run again and reports what is wrong with it
    if not recorded or Path(recorded) == cfg.path(cfg.cases_dir).resolve():
        return cfg
    return cfg.model_copy(update={"cases_dir": str(recorded)})


def _check_baseline(baseline: str | None) -> list[RunManifest]:
    """Raise RecordError now when a baseline run cannot be read: not after the whole suite has run. Returns the
    run.json of each of the baseline's runs ([] without a baseline)."""
    if not baseline:
        return []
    from .records import RunDir
    from .report.compare import baseline_paths
    return [RunDir.open(b).manifest for b in baseline_paths(baseline)]


def regrade(cfg: HarnessConfig, run_dir: str | Path, graders: list[str] | None = None, *,
            judge_model: str | None = None, baseline: str | None = None, cases_dir: str | None = None) -> Outcome:
    """``harness grade``: grade a finished run's samples again (:func:`harness.runner.regrade`), then
    :func:`finish` it as a new run is finished: ``cases.json``, ``summary.json``, reports, the gate on
    ``baseline``, the exit code.

    The run is finished with its own reducer and severity weights (its run.json ``config``, which a new run
    records from ``[tool.harness]``), so its summary does not change with settings edited since. ``cases.json``
    is written from the suite's cases, except for a case edited or removed since the run, whose entry (and
    samples' grades) stay as the run made them.

    Args:
        cfg: settings (``[tool.harness]``): the suite, the cache, the judge's settings, the reports' folder.
        run_dir: the run directory. graders: names (default ``[tool.harness] graders``).
        judge_model: the judge's model (default ``[tool.harness] judge_model``). baseline: as for :func:`plan`.
        cases_dir: the suite's folder (``--cases-dir``); default the one the run was made with (run.json
            ``config.cases_dir``), else ``[tool.harness] cases_dir``.
    Raises:
        HarnessError: not a run directory, a run another process holds, an unreadable baseline (checked before
        any grading), an unknown grader or a judge without a model; CaseError (before anything is rewritten)
        when the suite's folder does not exist or holds none of the run's cases, naming the folder.
        OSError: the records cannot be rewritten.
    """
    from .casemeta import CASES_JSON
    from .records import RunDir
    from .runner import regrade as regrade_run
    rd = RunDir.open(run_dir)
    _check_baseline(baseline)
    names = list(graders or cfg.graders)
    own = {k: rd.manifest.config[k] for k in ("reducer", "severity_weights") if rd.manifest.config.get(k)}
    if cases_dir:
        cfg = cfg.model_copy(update={"cases_dir": str(Path(cases_dir).resolve())})
    cfg = with_run_cases_dir(cfg, run_dir, cases_dir)
    run_cfg = cfg.model_copy(update=own) if own else cfg
    suite = _run_suite(cfg, rd)
    res = regrade_run(run_cfg, rd.path, names, cases=list(suite.values()), judge_model=judge_model)
    m = res.run_dir.manifest          # as the re-grade left it (its graders)
    # the run's cases: the suite's where unchanged since the run, else the entry the run wrote when it started
    try:
        kept = {str(c["id"]): c for c in json.loads((res.run_dir.path / CASES_JSON).read_text(encoding="utf-8"))}
    except (OSError, ValueError, TypeError, KeyError):
        kept = {}
    ran = {r.case: r.case_fingerprint for r in res.records}
    same = {c for c in m.cases if c in suite and suite[c].fingerprint == (
        ran.get(c) or kept.get(c, {}).get("fingerprint") or suite[c].fingerprint)}
    cases = [suite[c] for c in m.cases if c in same]
    entries: list[Any] = [suite[c] if c in same else kept[c] for c in m.cases if c in same or c in kept]
    opts = RunOptions(cases=cases, prompts=[], models=[x.name for x in m.models],
                      epochs=m.epochs, run_dir=res.run_dir.path, graders=list(m.graders),
                      judge_model=judge_model, progress=False)
    return finish(Plan(run_cfg, opts, [], baseline or None,
                       cases_json=None if len(entries) == len(cases) else entries), res)


def _run_suite(cfg: HarnessConfig, rd) -> dict[str, Any]:
    """The suite ``harness grade`` re-grades a run against, by case id. Raises CaseError naming the folder when
    it cannot be read or holds none of the run's cases (a re-grade would change nothing: exit 2, not 0)."""
    from .cases import load_suite_lenient
    from .errors import CaseError
    where = cfg.path(cfg.cases_dir)
    hint = "pass --cases-dir with the folder of the suite the run was made with"
    try:
        loaded, broken = load_suite_lenient(where, max_file_bytes=cfg.max_file_bytes)
    except CaseError as e:
        raise CaseError(f"{e.message}; the run's cases were looked for here: {hint}", file=e.file or where,
                        field=e.field) from None
    # a case of the folder that does not load stops the re-grade only when the run has it (a team's case still
    # being written must not block re-grading old runs); the others are left out with a warning, as a run does
    ran = set(rd.manifest.cases or ())
    for b in broken:
        if ran & set(b.names):
            raise CaseError(f"{b.error.message}; the run has this case: fix it to re-grade the run",
                            file=b.error.file, field=b.error.field)
        print(f"harness: warning: a case that does not load is left out (not in the run): {b.error}",
              file=sys.stderr)
    suite = {c.id: c for c in loaded}
    if rd.manifest.cases and not set(rd.manifest.cases) & set(suite):
        shown = ", ".join(rd.manifest.cases[:5]) + (" …" if len(rd.manifest.cases) > 5 else "")
        raise CaseError(f"none of the run's {len(rd.manifest.cases)} case(s) ({shown}) is in this folder, so "
                        f"nothing could be re-graded; {hint}", file=where, field="--cases-dir")
    return suite


def execute(p: Plan, *, progress: ProgressScope | None = None,
            model_factory: Callable[[str], Any] | None = None) -> RunResult:
    """Run the plan's samples (:func:`harness.runner.execute`). ``progress``: a context manager factory taking
    ``enabled`` and yielding the progress callback (default :func:`harness.progress.run_progress`: a bar on a
    terminal, a line every ~10 s in a log); ``model_factory`` replaces model construction (tests)."""
    from .progress import run_progress
    from .runner import execute as run
    with (progress or run_progress)(p.opts.progress) as cb:
        return run(p.cfg, p.opts, on_progress=cb, model_factory=model_factory)


def write_reports(cfg: HarnessConfig, run_dir: Path) -> list[Path]:
    """Build the run's markdown and HTML reports; returns their paths."""
    from .report.report import build_run_report, write_report
    return list(write_report(build_run_report(run_dir, config=cfg), config=cfg))


def finish(p: Plan, res: RunResult) -> Outcome:
    """Write ``cases.json``, ``summary.json`` and the reports of a finished run, and gate it on the plan's
    baseline. A report or summary that cannot be written does not lose the run: the error is kept in
    ``report_error`` (the caller decides what it costs); likewise a baseline the run cannot be compared with
    (``compare_error``)."""
    from .casemeta import write_cases_json
    from .history import write_run_summary
    out = Outcome(result=res)
    path = res.run_dir.path
    try:
        write_cases_json(path, p.opts.cases if p.cases_json is None else p.cases_json)
        write_run_summary(path, reducer=p.cfg.reducer, severity_weights=p.cfg.severity_weights)
        out.reports = write_reports(p.cfg, path)
    except Exception as e:  # noqa: BLE001 - the run is recorded; a failed report must not hide it
        out.report_error = f"{type(e).__name__}: {e}"
    out.exit_code = ExitCode.OK if res.complete else ExitCode.INCOMPLETE
    out.cases_dir = p.cfg.path(p.cfg.cases_dir)
    if p.baseline:
        from .report.compare import write_compare_report
        try:
            out.comparison = compare_with_baseline(p.baseline, path, p.cfg)
        except HarnessError as e:
            out.compare_error = str(e)
            out.exit_code = ExitCode.BAD_INPUT
            return out
        out.exit_code = out.comparison.gate.exit_code(res.complete)
        try:
            out.compare_reports = list(write_compare_report(out.comparison, config=p.cfg))
        except Exception as e:  # noqa: BLE001 - the verdict stands without its report
            out.report_error = f"{type(e).__name__}: {e}"
    return out


def compare_with_baseline(baseline: str | Path, run_dir: str | Path, cfg: HarnessConfig):
    """The gate's comparison of a run with its baseline: :func:`harness.report.compare.compare_runs` (whose
    ``gate`` is :func:`harness.verdicts.decide`, as for ``harness compare`` and ``harness nightly``).
    ``baseline``: a run directory or ``a,b,c`` (pooled). Raises HarnessError: nothing in common to compare."""
    from .report.compare import compare_runs
    return compare_runs(baseline, Path(run_dir), config=cfg)


def run(p: Plan, *, progress: ProgressScope | None = None,
        model_factory: Callable[[str], Any] | None = None) -> Outcome:
    """:func:`execute` then :func:`finish`."""
    return finish(p, execute(p, progress=progress, model_factory=model_factory))


def summary_line(res: RunResult) -> str:
    """The one-line account of a run: where it is, what each sample ended as (every outcome, zeros included),
    grading errors, retries, every kind of token (integers), and the cost: what this session spent (agent and
    judge) and what the cache saved."""
    from .outcomes import count_outcomes, format_counts
    st = res.stats
    graded_errors = sum(1 for r in res.records if r.error is None and any(g.error for g in r.grades.values()))
    reused = getattr(st, "reused", 0)
    head = (f"run {res.run_dir.path}: {len(res.records)} samples recorded ({st.skipped} already done, "
            f"{st.cache_hits} from cache" + (f", {reused} reused (temperature 0)" if reused else "") + "): "
            f"{format_counts(count_outcomes(res.records))}; {graded_errors} grading error"
            f"{'' if graded_errors == 1 else 's'}; {st.retries} retries")
    tokens = (f"tokens {st.input_tokens:,} input, {st.output_tokens:,} output, {st.cache_read_tokens:,} cache read, "
              f"{st.cache_write_tokens:,} cache write")
    judge = getattr(st, "judge_cost_usd", 0.0)
    unpriced = getattr(st, "cost_unknown", 0) and not st.cost_usd
    cost = (st.cost_text() if unpriced else f"spent {st.cost_text()}") + (f" (judge ${judge:.4f})" if judge else "")
    saved = getattr(st, "saved_usd", 0.0)
    if saved:
        cost += f", ${saved:.4f} saved by the cache"
    return f"{head}; {tokens}; {cost}"


def print_outcome(res: RunResult, report_paths: list[Path], file=None) -> None:
    """The run's account on stderr: :func:`summary_line`, the runner's notes, INCOMPLETE with the reason, the
    report paths."""
    out = file or sys.stderr
    print(f"harness: {summary_line(res)}", file=out)
    for n in res.notes:
        print(f"harness: note: {n}", file=out)
    if not res.complete:
        print(f"harness: run INCOMPLETE: {res.reason}", file=out)
    for p in report_paths:
        print(f"harness: report: {p}", file=out)
