"""CLI commands that run things: ``harness run``, ``harness grade``, ``harness nightly``."""

from __future__ import annotations

import sys
from pathlib import Path

from .config import HarnessConfig, load_config
from .planning import Choices, build_options
from .progress import run_progress
from .runner import RunResult, execute

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3


def _overrides(args) -> dict:
    keys = ("concurrency", "max_retries", "request_timeout_s", "cache_mode", "cache_dir", "max_cost", "grade_truncated",
            "server_slots", "server_context")
    out = {k: getattr(args, k, None) for k in keys}
    out["cases_dir"] = _abs(getattr(args, "cases_dir", None))
    return out


def _abs(path: str | None) -> str | None:
    """A folder given on the command line is relative to the working directory, not to the project root."""
    from pathlib import Path
    return str(Path(path).resolve()) if path else None


def config_from_args(args) -> HarnessConfig:
    return load_config(getattr(args, "root", None), _overrides(args))


def choices_from_args(args) -> Choices:
    return Choices(models=args.model, prompts=args.prompt, cases=args.cases, epochs=args.epochs,
                   run_dir=getattr(args, "resume", None) or args.run_dir, resume=bool(getattr(args, "resume", None)),
                   batch=args.batch, graders=args.graders, judge_model=args.judge_model,
                   temperature=args.temperature, max_tokens=args.max_tokens, progress=not args.no_progress,
                   limit=getattr(args, "limit", None), dry_run=bool(getattr(args, "dry_run", False)))


def write_reports(cfg: HarnessConfig, run_dir: Path) -> list[Path]:
    """Build the run's markdown and HTML reports; returns their paths."""
    from .report.report import build_run_report, write_report
    return list(write_report(build_run_report(run_dir, config=cfg), config=cfg))


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


def print_outcome(res: RunResult, report_paths: list[Path]) -> None:
    out = sys.stderr
    print(f"harness: {summary_line(res)}", file=out)
    for n in res.notes:
        print(f"harness: note: {n}", file=out)
    if not res.complete:
        print(f"harness: run INCOMPLETE: {res.reason}", file=out)
    for p in report_paths:
        print(f"harness: report: {p}", file=out)


def run_and_report(cfg: HarnessConfig, ch: Choices, opts=None) -> tuple[RunResult, list[Path]]:
    if opts is None:
        opts, notices = build_options(cfg, ch)
        for n in notices:
            print(n, file=sys.stderr)
    with run_progress(ch.progress) as cb:   # a bar on a terminal, a line every ~10 s in a log
        res = execute(cfg, opts, on_progress=cb)
    paths = write_reports(cfg, res.run_dir.path)
    return res, paths


def cmd_run(args) -> int:
    """``harness run``: exit 0 when complete, 3 when incomplete (errors, budget, fatal error); with
    ``--dry-run``, print the plan and its estimated cost, send nothing and exit 0."""
    from .guidance import next_steps, plan, plan_lines
    cfg = config_from_args(args)
    ch = choices_from_args(args)
    opts, notices = build_options(cfg, ch)
    for n in notices:
        print(n, file=sys.stderr)
    if ch.dry_run:
        for line in plan_lines(plan(cfg, opts), cfg):
            print(line)
        import os
        from .models.base import ModelSpec
        if any(ModelSpec.parse(m).provider == "anthropic" for m in opts.models) and \
                not os.environ.get("ANTHROPIC_API_KEY"):
            print("note: ANTHROPIC_API_KEY is not set; the real run needs it")
        return EXIT_OK
    res, paths = run_and_report(cfg, ch, opts)
    print_outcome(res, paths)
    lines = next_steps(cfg, opts, res.run_dir.path, paths, errored=0, command="harness run")
    if lines:
        print("harness: what next:", file=sys.stderr)
        for line in lines:
            print(f"  - {line}", file=sys.stderr)
    return EXIT_OK if res.complete else EXIT_INCOMPLETE


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
    for p in write_reports(cfg, rd.path):
        print(f"harness: report: {p}", file=sys.stderr)
    return EXIT_OK


def cmd_nightly(args) -> int:
    """``harness nightly``: run, rebuild the dashboard, compare with the baseline; exit 1 on a significant
    regression, 3 when the run is incomplete."""
    from .report.nightly import nightly
    cfg = config_from_args(args)
    return nightly(cfg, choices_from_args(args), args)
