"""CLI commands that run things: ``harness run``, ``harness grade``, ``harness nightly``."""

from __future__ import annotations

import sys

from . import pipeline
from .config import HarnessConfig, load_config
from .exitcodes import ExitCode
from .options import RunArgs
from .pipeline import print_outcome, summary_line  # noqa: F401 - the names callers used before the pipeline
from .planning import Choices


def config_from_args(args) -> HarnessConfig:
    """``[tool.harness]`` under ``--root`` with the run options of the parsed command line layered on top."""
    return pipeline.load_run_config(RunArgs.from_namespace(args), getattr(args, "root", None))


def choices_from_args(args) -> Choices:
    """The :class:`~harness.planning.Choices` of a parsed ``harness run`` / ``harness nightly`` command line."""
    return RunArgs.from_namespace(args).choices(resume=getattr(args, "resume", None),
                                                 dry_run=bool(getattr(args, "dry_run", False)))


def cmd_run(args) -> int:
    """``harness run``: exit 0 when complete, 3 when incomplete (errors, budget, fatal error); with
    ``--dry-run``, print the plan and its estimated cost, send nothing and exit 0. A report that cannot be written
    is bad input (exit 2), the run being kept."""
    from .guidance import next_steps, plan_lines
    from .guidance import plan as cost_plan
    cfg = config_from_args(args)
    ch = choices_from_args(args)
    p = pipeline.plan(cfg, ch)
    for n in p.notices:
        print(n, file=sys.stderr)
    if ch.dry_run:
        for line in plan_lines(cost_plan(cfg, p.opts), cfg):
            print(line)
        import os
        from .models.base import ModelSpec
        if any(ModelSpec.parse(m).provider == "anthropic" for m in p.opts.models) and \
                not os.environ.get("ANTHROPIC_API_KEY"):
            print("note: ANTHROPIC_API_KEY is not set; the real run needs it")
        return ExitCode.OK
    out = pipeline.run(p)
    res = out.result
    print_outcome(res, out.reports)
    if out.report_error:
        print(f"harness: error: the run's report could not be written: {out.report_error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    lines = next_steps(cfg, p.opts, res.run_dir.path, out.reports, errored=0, command="harness run")
    if lines:
        print("harness: what next:", file=sys.stderr)
        for line in lines:
            print(f"  - {line}", file=sys.stderr)
    return out.exit_code


def cmd_grade(args) -> int:
    """``harness grade RUN_DIR``: re-grade every sample with a gradable review with the chosen graders and finish
    the run as a new one is finished (:func:`harness.pipeline.regrade`: records rewritten atomically, cases.json,
    summary.json, reports, the gate on ``--baseline``). Exit codes as ``harness run``: 0 complete, 3 incomplete
    (a grader still failing, samples errored or not run), 1 the gate says regressed, 2 bad input (also a report
    that cannot be written, the grades being kept, or a baseline with nothing in common)."""
    cfg = load_config(getattr(args, "root", None))
    names = args.graders or cfg.graders
    out = pipeline.regrade(cfg, args.run_dir, names, judge_model=args.judge_model,
                           baseline=getattr(args, "baseline", None), cases_dir=getattr(args, "cases_dir", None))
    res = out.result
    print(f"harness: re-graded {res.stats.done} samples with {', '.join(names)} against the cases in "
          f"{out.cases_dir}", file=sys.stderr)
    print_outcome(res, out.reports + out.compare_reports)
    if out.report_error:
        print(f"harness: error: the run's report could not be written: {out.report_error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if out.compare_error:
        print(f"harness: error: cannot gate on the baseline: {out.compare_error}", file=sys.stderr)
    elif out.comparison is not None:
        gate = out.comparison.gate
        print(f"harness: gate against the baseline: {gate.headline()}", file=sys.stderr)
        for w in out.comparison.loud:
            print(f"harness: WARNING: {w}", file=sys.stderr)
        for r in gate.reasons:
            print(f"harness:   {r}", file=sys.stderr)
    return out.exit_code


def cmd_nightly(args) -> int:
    """``harness nightly``: run, rebuild the dashboard, compare with the baseline; exit 1 on a significant
    regression, 3 when the run is incomplete."""
    from .nightly import nightly
    cfg = config_from_args(args)
    return nightly(cfg, choices_from_args(args), args)
