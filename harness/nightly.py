"""``harness nightly``: run the suite, write the run (and its ``summary.json``), rebuild the dashboard, compare the
new run with the pinned baseline, and set an exit code a cron job or CI schedule can act on.

Exit codes (:class:`harness.exitcodes.ExitCode`):

* 0 — the run completed and shows no significant regression against the baseline (or no baseline is pinned).
* 1 — the regression gate's verdict is *regressed* (:func:`harness.verdicts.decide`, the same function as
  ``harness compare --fail-on-regression``, the dashboard's status and ``pytest evals --baseline``: recall lower
  by the sign-flip test at p < 0.05, or a critical finding lost by its exact test after Holm's correction).
  Computed from the run summaries whether or not the comparison report could be built. Takes precedence over 3:
  a regression seen on the samples that did succeed is reported even when others errored
  (:func:`harness.verdicts.exit_code`).
* 3 — the run is incomplete (samples errored, budget reached, fatal error) and shows no significant regression.
* 2 — bad input: the baseline is not a readable run (checked *before* the run, so nothing is spent), or it shares
  no variant or finding with the new run.

The response cache: unless ``--cache`` is given, a configured mode ``use`` becomes ``refresh`` — every night asks
the model again (and stores the answers), since replaying last night's cached answers would hide any change of
the model's behaviour.

Where things go: the run in ``--run-dir`` or ``<runs root>/<timestamp>-<id>/`` (runs root: ``--runs-root``, else
``[tool.harness] runs_root``); the dashboard in ``--dashboard-out``, else ``<reports_dir>/dashboard/``; the
baseline from ``--baseline`` (a run directory or a run id under the runs root, or several comma-separated: nights
pooled into one baseline), else ``[tool.harness] baseline_run``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import pipeline
from .config import HarnessConfig
from .errors import HarnessError
from .exitcodes import ExitCode
from .history import write_run_summary
from .planning import Choices
from .report.dashboard import baseline_values, build_dashboard, report, resolve_runs
from .verdicts import exit_code


@dataclass
class NightlyRun:
    """What the run step produced: the run directory, whether it completed, and why not."""

    run_dir: Path
    complete: bool
    reason: str | None = None
    summarised: bool = False    # summary.json written by the run step (the pipeline's); else nightly writes it


RunStep = Callable[[HarnessConfig, Choices], NightlyRun]


def run_suite(cfg: HarnessConfig, choices: Choices, *, model_factory: Callable[[str], Any] | None = None
              ) -> NightlyRun:
    """The default run step: the run pipeline (:func:`harness.pipeline.plan` with ``kind`` nightly,
    :func:`harness.pipeline.run`: the run, its cases.json, summary.json and reports), then the outcome printed.
    A report that cannot be written is a warning: the night's gate and dashboard still follow."""
    from dataclasses import replace
    p = pipeline.plan(cfg, replace(choices, kind="nightly"))
    for n in p.notices:
        print(n, file=sys.stderr)
    out = pipeline.run(p, model_factory=model_factory)
    if out.report_error:
        print(f"harness: warning: the run report could not be written: {out.report_error}", file=sys.stderr)
    pipeline.print_outcome(out.result, out.reports)
    res = out.result
    return NightlyRun(res.run_dir.path, res.complete, res.reason, summarised=out.report_error is None)


def nightly(cfg: HarnessConfig, choices: Choices, args: Any = None, *, run: RunStep | None = None,
            model_factory: Callable[[str], Any] | None = None) -> ExitCode:
    """Run, summarise, rebuild the dashboard, gate on the baseline; returns the exit code (module docs).

    Args:
        cfg: settings; ``runs_root``, ``baseline_run`` and ``reports_dir`` are used here.
        choices: what to run (models, prompts, cases, epochs...), as for ``harness run``.
        args: the parsed CLI namespace: ``runs_root``, ``baseline``, ``dashboard_out`` (each optional).
        run: replaces the run step (tests pass a fake run); default :func:`run_suite`.
        model_factory: passed to the runner by the default run step (tests pass scripted models).
    Raises:
        HarnessError: bad input (mapped to exit code 2 by the CLI).
    """
    runs_root = Path(getattr(args, "runs_root", None) or cfg.path(cfg.runs_root))
    cfg = cfg.model_copy(update={"runs_root": str(runs_root)})
    err = sys.stderr
    if getattr(args, "cache_mode", None) is None and cfg.cache_mode == "use":
        # a nightly measures tonight's answers: replaying last night's cached ones would hide every change
        cfg = cfg.model_copy(update={"cache_mode": "refresh"})
        print("harness: nightly: response cache mode 'refresh' (ask the model again, store the answers); pass "
              "--cache to override", file=err)
    baseline_value = getattr(args, "baseline", None) or cfg.baseline_run
    bases = resolve_runs(baseline_value, runs_root, None, cfg.root) if baseline_values(baseline_value) else []  # type: ignore[arg-type]  # baseline_values(baseline_value) is true only for a value
    runs_root.mkdir(parents=True, exist_ok=True)
    step = run or (lambda c, ch: run_suite(c, ch, model_factory=model_factory))
    result = step(cfg, choices)
    try:
        if not result.summarised:
            write_run_summary(result.run_dir, reducer=cfg.reducer, severity_weights=cfg.severity_weights)
    except (HarnessError, OSError) as e:
        print(f"harness: warning: summary.json not written for {result.run_dir}: {e}", file=err)
    new = Path(result.run_dir).resolve()
    if new in bases:
        print("harness: the new run is the pinned baseline itself; left out of the baseline", file=err)
        bases = [b for b in bases if b != new]
    baseline = bases or None
    dash = build_dashboard(runs_root, getattr(args, "dashboard_out", None), baseline=baseline or "",  # type: ignore[arg-type]  # build_dashboard takes the resolved baseline runs too
                           latest=result.run_dir, config=cfg)
    report(dash, file=err)
    regressions: list[str] = []
    compared = False
    for v in dash.views:
        if v.compare_error:
            print(f"harness: warning: {v.compare_error}", file=err)
        if v.verdict is None:
            continue
        compared = True
        if exit_code(v.verdict.verdict, result.complete) == ExitCode.REGRESSED:
            regressions += [f"{v.variant}: {r}" for r in v.verdict.reasons]
        cmp = v.comparison
        if cmp is not None and cmp.verdict != v.verdict.verdict:   # one procedure: must never happen
            print(f"harness: warning: {v.variant}: the comparison report says {cmp.verdict!r}, the gate "
                  f"{v.verdict.verdict!r}; the exit code follows the gate", file=err)
    if regressions:
        print(f"harness: nightly: SIGNIFICANT REGRESSION against the baseline {dash.baseline.run_id}:", file=err)  # type: ignore[union-attr]  # a regression implies a baseline
        for r in regressions:
            print(f"harness:   {r}", file=err)
        return ExitCode.REGRESSED
    if not result.complete:
        print(f"harness: nightly: run INCOMPLETE: {result.reason or 'see the run manifest'}", file=err)
        return ExitCode.INCOMPLETE
    if baseline and not compared:
        print("harness: nightly: the new run could not be compared with the baseline (no variant or finding in "
              "common); fix --baseline / [tool.harness] baseline_run", file=err)
        return ExitCode.BAD_INPUT
    if not baseline:
        print("harness: nightly: no baseline pinned (--baseline or [tool.harness] baseline_run): nothing gated",
              file=err)
    else:
        print(f"harness: nightly: no significant regression against the baseline {dash.baseline.run_id}", file=err)  # type: ignore[union-attr]  # a verdict implies a baseline
    return ExitCode.OK
