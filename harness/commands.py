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
    """``harness grade RUN_DIR``: re-grade every successful sample with the chosen graders, rewrite atomically."""
    from .cases import load_suite
    from .graders.registry import create_graders, is_async
    from .records import RunDir
    cfg = load_config(getattr(args, "root", None))
    rd = RunDir.open(args.run_dir)
    names = args.graders or cfg.graders
    graders = create_graders(names, cfg=cfg, judge_model=args.judge_model)
    suite = {c.id: c for c in load_suite(cfg.path(cfg.cases_dir), max_file_bytes=cfg.max_file_bytes)}
    res = rd.read_samples()
    from .aio import run_sync

    async def regrade():
        n = 0
        for r in res.records:
            if r.error is not None or r.review is None:
                continue
            case = suite.get(r.case)
            if case is None or case.fingerprint != r.case_fingerprint:
                print(f"harness: skipping {r.case}: the case changed or is gone since the run", file=sys.stderr)
                continue
            for g in graders:
                r.grades[g.name] = await g.agrade(case, r.review) if is_async(g) else g.grade(case, r.review)
            n += 1
        return n

    n = run_sync(regrade)
    rd.rewrite(res.records)
    rd.manifest.graders = sorted(set(rd.manifest.graders) | set(names))
    rd.write_manifest()
    print(f"harness: re-graded {n} samples with {', '.join(names)}", file=sys.stderr)
    for p in pipeline.write_reports(cfg, rd.path):
        print(f"harness: report: {p}", file=sys.stderr)
    return ExitCode.OK


def cmd_nightly(args) -> int:
    """``harness nightly``: run, rebuild the dashboard, compare with the baseline; exit 1 on a significant
    regression, 3 when the run is incomplete."""
    from .nightly import nightly
    cfg = config_from_args(args)
    return nightly(cfg, choices_from_args(args), args)
