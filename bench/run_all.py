"""Run the benchmarks one after another and print one table of their figures.

    python bench/run_all.py                 # all of them, ~16–20 minutes on an idle 2-core machine
    python bench/run_all.py --only runner,grading
    python bench/run_all.py --full-local    # the embedded model on every case (adds tens of minutes)

The embedded-model bench runs last and is given what is left of 15 minutes: on a machine busy with other work it
skips its pass without KV reuse rather than overrun (it says so). Each bench runs in its own process, prints its
own lines as it goes and writes ``bench/results/<name>.json``;
this script then writes ``bench/results/summary.json`` and ``bench/results/table.md`` (the markdown table for
the README) and prints the combined table. Exit code: 0 when every bench ran (whether or not its targets were
met), 1 when one failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, RESULTS, ROOT, Figure, fmt_value, loadavg, machine_info, machine_line, table  # noqa: E402

BENCHES = [  # the embedded model last: it gets what is left of the time budget
    ("runner", "bench_runner.py", "1–2 runner vs bare SDK loop vs inspect-ai"),
    ("tools", "bench_tools.py", "1c whole processes: harness run vs bare loop, promptfoo, inspect-ai"),
    ("grading", "bench_grading.py", "3 deterministic grading"),
    ("report", "bench_report.py", "4 report and dashboard"),
    ("dashboard_scale", "bench_dashboard_scale.py", "4b dashboard, 400 cases × 365 nights"),
    ("cost", "bench_cost.py", "6 prompt-caching cost"),
    ("gate", "bench_gate.py", "7 regression gate: false alarms and power"),
    ("imports", "bench_imports.py", "8 imports when a run starts"),
    ("interrupt", "bench_interrupt.py", "9 interrupting a run: Ctrl-C and SIGTERM"),
    ("local", "bench_local.py", "5 embedded model"),
]
BUDGET_S = 19 * 60


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated bench names: " + ", ".join(n for n, _, _ in BENCHES))
    ap.add_argument("--full-local", action="store_true", help="pass --full to bench_local.py")
    a = ap.parse_args(argv)
    only = {x.strip() for x in a.only.split(",")} if a.only else None
    if not only or "tools" in only:
        sys.path.insert(0, str(BENCH))
        from bench_tools import find_inspect, find_promptfoo
        for name, finder in (("promptfoo", find_promptfoo), ("inspect-ai", find_inspect)):
            cmd, version, why = finder()
            print(f"{name}: {version} ({' '.join(cmd)})" if cmd else
                  f"{name} is ABSENT: {why}; figure 1c runs without it (install: sh bench/setup_tools.sh)", flush=True)
    t_all = time.perf_counter()
    load0 = loadavg()
    ran: list[tuple[str, str, float, int]] = []
    for name, script, what in BENCHES:
        if only and name not in only:
            continue
        args = [sys.executable, str(BENCH / script)]
        if name == "local":
            if a.full_local:
                args.append("--full")
            else:
                left = BUDGET_S - (time.perf_counter() - t_all) - 15
                args += ["--deadline-s", f"{max(60.0, left):.0f}"]
        print(f"\n### {what} ({script})", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(args, cwd=ROOT)
        ran.append((name, what, time.perf_counter() - t0, rc))
        if rc != 0:
            print(f"### {script} exited {rc}", flush=True)
    total = time.perf_counter() - t_all

    rows, md_rows, summary = [], [], {"machine": machine_info(), "load_before": load0, "load_after": loadavg(),
                                      "elapsed_s": round(total, 1), "benches": {}}
    for name, what, secs, rc in ran:
        path = RESULTS / f"{name}.json"
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() and rc == 0 else None
        summary["benches"][name] = {"exit": rc, "elapsed_s": round(secs, 1),
                                    "figures": data["figures"] if data else None}
        if not data:
            rows.append([what, "FAILED", "", "", ""])
            continue
        for f in data["figures"]:
            fig = Figure(**f)
            verdict = "" if fig.ok is None else ("ok" if fig.ok else "MISS")
            rows.append([what, fig.label, fmt_value(fig.value, fig.unit), fig.target or "", verdict])
            md_rows.append(f"| {fig.label.strip()} | {fmt_value(fig.value, fig.unit)} | {fig.target or ''} | "
                           f"{'✓' if fig.ok else '✗' if fig.ok is False else ''} |")
            what = ""
    m = summary["machine"]
    print("\n" + "=" * 100)
    print(f"Benchmarks, {time.strftime('%Y-%m-%d %H:%M')}; {machine_line(m)}")
    print(f"load average before {load0}, after {summary['load_after']}; total {total / 60:.1f} min")
    print(table(["bench", "figure", "value", "target", ""], rows))
    md = "\n".join([f"Measured {time.strftime('%Y-%m-%d')} on {machine_line(m)} "
                    f"(`python bench/run_all.py`, {total / 60:.0f} min; 1-minute load average "
                    f"{load0[0] if load0 else '?'} before, "
                    f"{summary['load_after'][0] if summary['load_after'] else '?'} "
                    "after).", "",
                    "| figure | value | target | |", "|---|---|---|---|", *md_rows]) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "table.md").write_text(md, encoding="utf-8")
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    print(f"(markdown table: {(RESULTS / 'table.md').relative_to(ROOT)})")
    return 0 if all(rc == 0 for *_, rc in ran) else 1


if __name__ == "__main__":
    sys.exit(main())
