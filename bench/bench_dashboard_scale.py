"""Figure 4b: the nightly dashboard at scale — 400 cases × 365 nights with a pinned baseline (issue 16).

    python bench/bench_dashboard_scale.py [--cases 400] [--nights 365] [--profile]

Set-up (not timed). A real run of ``--cases`` synthetic cases × 3 epochs is written once
(:func:`harness.testing.synthetic.write_synthetic_run`, short reviews) and summarised as ``harness nightly`` does
(:func:`harness.history.write_run_summary`). Every night is then a run directory whose ``samples.jsonl`` and
``cases.json`` are hard links to that run's (so the summaries' source stamps stay valid) with its own
``run.json`` (run id, dates) and its own ``summary.json``: the template's, with each finding's found count redrawn
for the night (binomial over its successful epochs, the probability drifting slowly and stepping down 8 points 60
nights before the end) and the per-case recall and the suite recall recomputed from them. So the dashboard reads
365 distinct nights of 400 cases (a ~1.5 MB summary each) the way it reads a real history: from the summaries.
The baseline is night 1; the comparison report of the latest night against it is built from the runs' samples.

Timed in a fresh process: ``harness dashboard RUNS_ROOT --out DIR --baseline <night 1>`` (whole command, imports
included; ``wait4`` gives the peak RSS). ``--profile`` writes cProfile stats to ``bench/results/dashboard_scale.prof``
and prints the hot spots.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_report import _print_profile, no_fsync, timed  # noqa: E402
from common import RESULTS, Bench, work_dir  # noqa: E402


def write_history(root: Path, n_cases: int, nights: int, seed: int = 0) -> list[str]:
    """The synthetic history described in the module docs; returns the run ids, oldest first."""
    from harness.config import load_config
    from harness.history import SUMMARY, source_stamp, write_run_summary
    from harness.records import MANIFEST, SAMPLES, RunDir
    from harness.testing.synthetic import make_cases, write_synthetic_run

    cfg = load_config(Path(__file__).resolve().parents[1])
    tmpl = root.parent / "template-run"
    with no_fsync():
        write_synthetic_run(tmpl, cases=make_cases(n_cases, findings_per_case=(2, 6), seed=seed), epochs=3,
                            seed=seed, run_id="template", model="anthropic/claude-sonnet-4-6", error_rate=0.01)
    write_run_summary(tmpl, reducer=cfg.reducer, severity_weights=cfg.severity_weights)
    base = json.loads((tmpl / SUMMARY).read_text(encoding="utf-8"))
    manifest = RunDir.open(tmpl).manifest
    v0 = base["variants"][0]
    f_case = [f["case"] for f in v0["findings"]]
    p0 = np.array([f["score"] if f["score"] is not None else 0.5 for f in v0["findings"]], dtype=float)
    p0 = np.clip(0.15 + 0.7 * p0, 0.02, 0.98)                # every finding keeps some night-to-night noise
    n_ep = np.array([f["n_epochs"] for f in v0["findings"]])
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(nights):
        day = datetime(2025, 1, 1, 2, 0, tzinfo=timezone.utc) + timedelta(days=i)
        rid = "nightly-" + day.strftime("%Y%m%d")
        d = root / rid
        d.mkdir()
        for name in (SAMPLES, "cases.json"):
            os.link(tmpl / name, d / name)
        m = manifest.model_copy(deep=True)
        m.run_id = rid
        m.created_at = m.started_at = day.isoformat().replace("+00:00", "Z")
        m.ended_at = (day + timedelta(minutes=12)).isoformat().replace("+00:00", "Z")
        (d / MANIFEST).write_text(m.model_dump_json(indent=2), encoding="utf-8")
        shift = 0.03 * ((i % 90) / 90 - 0.5) - (0.08 if i >= nights - 60 else 0.0)
        k = rng.binomial(n_ep, np.clip(p0 + shift, 0, 1))
        score = np.where(n_ep > 0, k / np.maximum(n_ep, 1), np.nan)
        s = json.loads(json.dumps(base))
        v = s["variants"][0]
        for f, kk, sc in zip(v["findings"], k, score):
            f["n_found"], f["score"] = int(kk), (None if np.isnan(sc) else float(sc))
        by_case: dict[str, list[float]] = {}
        for c, sc in zip(f_case, score):
            if not np.isnan(sc):
                by_case.setdefault(c, []).append(float(sc))
        for c in v["cases"]:
            if c["case"] in by_case:
                c["recall"] = float(np.mean(by_case[c["case"]]))
        rec = v["metrics"]["recall"]
        new = float(np.nanmean(score))
        if rec.get("value") is not None:
            half = ((rec["hi"] or new) - (rec["lo"] or new)) / 2
            rec.update(value=new, lo=max(0.0, new - half), hi=min(1.0, new + half))
        s["run"].update(run_id=rid, started_at=m.started_at, ended_at=m.ended_at)
        s["sources"] = {**s["sources"], MANIFEST: source_stamp(d / MANIFEST)}
        (d / SUMMARY).write_text(json.dumps(s), encoding="utf-8")
        ids.append(rid)
    return ids


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=400)
    ap.add_argument("--nights", type=int, default=365)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args(argv)
    b = Bench("dashboard_scale", f"Dashboard over {a.nights} nights of {a.cases} cases, with a baseline")
    with work_dir("dash-scale-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        ids = write_history(tmp / "runs", a.cases, a.nights)
        size = sum((tmp / "runs" / i / "summary.json").stat().st_size for i in ids)
        print(f"   set-up: {len(ids)} nights × {a.cases} cases ({size / 1e6:.0f} MB of summary.json) in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        prof = str(RESULTS / "dashboard_scale.prof") if a.profile else None
        RESULTS.mkdir(parents=True, exist_ok=True)
        r = timed("dashboard", tmp / "runs", tmp / "dash", baseline=ids[0], profile=prof)
        print(f"   harness dashboard: {r['total_s']:.2f} s ({r['import_s']:.2f} s imports, {r['build_s']:.2f} s "
              f"build and write), peak RSS {r['maxrss_mib']:.0f} MiB", flush=True)
        b.add("dashboard_scale_s", f"harness dashboard, {a.nights} nights × {a.cases} cases, baseline (whole command)",
              r["total_s"], "s", target="<= 15",
              note=f"imports {r['import_s']:.2f} s, build+write {r['build_s']:.2f} s")
        b.add("dashboard_scale_mem", "  peak RSS", r["maxrss_mib"], "MiB")
        b.details = dict(r, nights=a.nights, cases=a.cases, summary_bytes=size)
        if prof:
            _print_profile(prof)
    b.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
