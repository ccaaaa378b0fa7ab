"""Figure 4: building the run report of a 10,000-sample run, and the nightly dashboard over 365 nights.

    python bench/bench_report.py                 # report (10,000 samples) + dashboard (365 nights, warm)
    python bench/bench_report.py --cold          # also time the first dashboard build, before any summary.json
    python bench/bench_report.py --profile       # cProfile both builds and print hot spots

Set-up (not timed): ``harness.testing.synthetic.write_synthetic_run`` writes

* one run of 200 synthetic cases × 50 epochs = 10,000 samples, each with a ~3 KB review (like real reviews, so
  ``samples.jsonl`` has a real run's size, ~45 MB);
* 365 nightly runs of the real suite's 25 cases × 3 epochs, dated one night apart, recall drifting slowly with
  a step regression 60 nights before the end; each night's ``summary.json`` is written as ``harness nightly``
  does at the end of a run (two processes in parallel, to save set-up time).

The writes skip ``fsync`` (set-up only: a real run pays it while it runs, not when a report is built).

Timed, each in a fresh process (``wait4`` gives its peak RSS): ``harness report RUN --out DIR`` and ``harness
dashboard RUNS_ROOT --out DIR --baseline <night 1>`` (the baseline makes it also compare the latest night and
write that comparison report, as a nightly does). The time is the whole command, interpreter start and imports
included (what a user waits for); the import time and the peak memory are shown beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, Bench, run_child, work_dir  # noqa: E402

FILLER = [
    "The handler reads the request, validates it and calls the service layer; the service owns the transaction.",
    "Line numbers refer to the files as submitted; I did not run the code.",
    "Most of the module is sound and idiomatic, so the list below is short and ordered by impact.",
    "ハンドラはリクエストを検証してからサービス層を呼び出しており、トランザクションはサービス側が管理しています。",
    "行番号は提出されたファイルのものです。コードは実行していません。",
    "The fix for each item is small; I added a suggested change under each one so they can be reviewed together.",
]


@contextmanager
def no_fsync():
    """Set-up only: skip fsync while writing synthetic runs (restored afterwards)."""
    real = os.fsync
    os.fsync = lambda fd: None  # type: ignore[assignment]
    try:
        yield
    finally:
        os.fsync = real  # type: ignore[assignment]


def review_text(case: dict, epoch: int, found: list, flagged: list) -> str:
    """The synthetic run's default review, padded with filler to ~3 KB as real reviews are."""
    from harness.testing.synthetic import default_review
    rng = random.Random(f"{case['id']}:{epoch}")
    text = default_review(case, epoch, found, flagged)
    parts = [text]
    n = len(text)
    while n < 2600 + rng.randint(0, 900):
        s = rng.choice(FILLER)
        parts.append(s)
        n += len(s) + 1
    return "\n".join(parts) + "\n"


def write_report_run(path: Path, cases: int, epochs: int) -> Path:
    from harness.testing.synthetic import write_synthetic_run
    with no_fsync():
        return write_synthetic_run(path, cases=cases, epochs=epochs, review=review_text, seed=11,
                                   run_id="bench-report-10k")


def _night(args: tuple) -> str:
    root, i, nights, cases = args
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from harness.records import RunDir
    from harness.testing.synthetic import write_synthetic_run
    day = datetime(2025, 1, 1, 2, 0, tzinfo=timezone.utc) + timedelta(days=i)
    run_id = "nightly-" + day.strftime("%Y%m%d")
    # recall drifts slowly (+-3 points) and steps down 8 points for the last 60 nights
    shift = 0.03 * ((i % 90) / 90 - 0.5) - (0.08 if i >= nights - 60 else 0.0)
    with no_fsync():
        path = write_synthetic_run(Path(root) / run_id, cases=cases, epochs=3, shift=shift, seed=1000 + i,
                                   run_id=run_id, prompt_label="v1", model="anthropic/claude-sonnet-4-6",
                                   review=review_text, error_rate=0.01)
        rd = RunDir.open(path)
        m = rd.manifest
        m.created_at = m.started_at = day.isoformat().replace("+00:00", "Z")
        m.ended_at = (day + timedelta(minutes=12)).isoformat().replace("+00:00", "Z")
        rd.write_manifest()
    return run_id


def write_nights(root: Path, nights: int, *, summaries: bool) -> list[str]:
    from common import load_suite_and_prompt
    from harness.results import case_payload
    suite, _, _ = load_suite_and_prompt()
    cases = [case_payload(c) for c in suite]
    root.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as ex:
        ids = list(ex.map(_night, [(str(root), i, nights, cases) for i in range(nights)], chunksize=8))
        if summaries:
            list(ex.map(_summary, [str(root / i) for i in ids], chunksize=8))
    return ids


def _summary(path: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from harness.config import load_config
    from harness.history import write_run_summary
    cfg = load_config(Path(__file__).resolve().parents[1])
    write_run_summary(path, reducer=cfg.reducer, severity_weights=cfg.severity_weights)


# ------------------------------------------------------------------------------------------------ children


def child(kind: str, target: str, out: str, baseline: str | None, profile: str | None) -> dict:
    t0 = time.perf_counter()
    from harness.cli import main as harness_main
    if kind == "report":
        import harness.report.report  # noqa: F401
        argv = ["report", target, "--out", out]
    else:
        import harness.report.dashboard  # noqa: F401
        argv = ["dashboard", target, "--out", out] + (["--baseline", baseline] if baseline else [])
    import_s = time.perf_counter() - t0
    prof = None
    if profile:
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    devnull = open(os.devnull, "w")
    real_stdout, sys.stdout = sys.stdout, devnull
    t1 = time.perf_counter()
    try:
        code = harness_main(argv)
    finally:
        sys.stdout = real_stdout
    build_s = time.perf_counter() - t1
    if prof:
        prof.disable()
        prof.dump_stats(profile)
    return {"import_s": import_s, "build_s": build_s, "exit": code}


def timed(kind: str, target: Path, out: Path, baseline: str | None = None, profile: str | None = None) -> dict:
    args = [str(Path(__file__).resolve()), "--child", kind, str(target), str(out)]
    if baseline:
        args += ["--baseline", baseline]
    if profile:
        args += ["--profile-out", profile]
    res, usage = run_child(args, timeout=900)
    if res["exit"] != 0:
        raise RuntimeError(f"harness {kind} exited {res['exit']}")
    res.update(total_s=usage["wall_s"], maxrss_mib=usage["maxrss_mib"], cpu_s=usage["cpu_s"])
    return res


def _print_profile(path: str) -> None:
    import pstats
    pstats.Stats(path).sort_stats("cumulative").print_stats(30)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=200, help="synthetic cases of the report run")
    ap.add_argument("--epochs", type=int, default=50, help="epochs of the report run (cases × epochs samples)")
    ap.add_argument("--nights", type=int, default=365)
    ap.add_argument("--cold", action="store_true", help="also time a dashboard build that computes every summary")
    ap.add_argument("--skip-report", action="store_true")
    ap.add_argument("--skip-dashboard", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "TARGET", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--baseline", help=argparse.SUPPRESS)
    ap.add_argument("--profile-out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(*a.child, a.baseline, a.profile_out)), flush=True)
        return 0

    n = a.cases * a.epochs
    b = Bench("report", f"Report of a {n:,}-sample run; dashboard over {a.nights} nightly runs")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with work_dir("report-") as tmp:
        tmp = Path(tmp)
        if not a.skip_report:
            t0 = time.perf_counter()
            run = write_report_run(tmp / "run-10k", a.cases, a.epochs)
            size = (run / "samples.jsonl").stat().st_size
            print(f"   set-up: wrote a {n:,}-sample run ({size / 1e6:.0f} MB samples.jsonl) in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            prof = str(RESULTS / "report.prof") if a.profile else None
            r = timed("report", run, tmp / "report-out", profile=prof)
            print(f"   harness report: {r['total_s']:.2f} s ({r['import_s']:.2f} s imports, {r['build_s']:.2f} s "
                  f"build and write), peak RSS {r['maxrss_mib']:.0f} MiB", flush=True)
            b.add("report_s", f"harness report, {n:,}-sample run (whole command)", r["total_s"], "s",
                  target="<= 10", note=f"imports {r['import_s']:.2f} s, build+write {r['build_s']:.2f} s")
            b.add("report_mem", "  peak RSS (harness report)", r["maxrss_mib"], "MiB")
            b.details["report"] = dict(r, samples=n, samples_jsonl_bytes=size)
            if prof:
                _print_profile(prof)
        if not a.skip_dashboard:
            root = tmp / "runs"
            t0 = time.perf_counter()
            ids = write_nights(root, a.nights, summaries=not a.cold)
            print(f"   set-up: wrote {len(ids)} nightly runs" + ("" if a.cold else " and their summary.json")
                  + f" in {time.perf_counter() - t0:.1f} s", flush=True)
            base = ids[0]
            if a.cold:
                r = timed("dashboard", root, tmp / "dash-cold", baseline=base)
                print(f"   harness dashboard (cold, computes {len(ids)} summaries): {r['total_s']:.2f} s, "
                      f"peak RSS {r['maxrss_mib']:.0f} MiB", flush=True)
                b.add("dashboard_cold_s", f"harness dashboard, {a.nights} nights, no summary.json yet",
                      r["total_s"], "s")
                b.details["dashboard_cold"] = r
            prof = str(RESULTS / "dashboard.prof") if a.profile else None
            r = timed("dashboard", root, tmp / "dash", baseline=base, profile=prof)
            print(f"   harness dashboard: {r['total_s']:.2f} s ({r['import_s']:.2f} s imports, {r['build_s']:.2f} s "
                  f"build and write), peak RSS {r['maxrss_mib']:.0f} MiB", flush=True)
            b.add("dashboard_s", f"harness dashboard, {a.nights} nightly runs (whole command)", r["total_s"], "s",
                  target="<= 15", note=f"imports {r['import_s']:.2f} s, build+write {r['build_s']:.2f} s")
            b.add("dashboard_mem", "  peak RSS (harness dashboard)", r["maxrss_mib"], "MiB")
            b.details["dashboard"] = dict(r, nights=a.nights)
            if prof:
                _print_profile(prof)
    b.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
