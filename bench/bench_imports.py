"""Figure 8: what starting a run imports, and how long that takes.

    python bench/bench_imports.py [--rounds 7]

Each round starts fresh Python processes (no warm module state) and times, inside each, the import of one module
with ``time.perf_counter`` around it: ``harness.runner`` (what ``harness run`` and ``pytest evals`` load before the
first request), ``harness.results`` (what a report loads: pandas and scipy), and ``harness.cli`` (the console
script's own start-up). Medians over rounds; the processes alternate. It also lists which of pandas, scipy,
matplotlib and numpy each import pulled in (the run's import must pull in none of them: issue 16).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Bench, median  # noqa: E402

HEAVY = ("pandas", "scipy", "matplotlib", "numpy")
CHILD = ("import sys, time, json; t = time.perf_counter(); import {mod}; dt = time.perf_counter() - t; "
         "print(json.dumps({{'s': dt, 'heavy': [m for m in {heavy!r} if m in sys.modules]}}))")


def time_import(mod: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD.format(mod=mod, heavy=HEAVY)], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args(argv)
    b = Bench("imports", "Import time of starting a run (fresh processes, medians)")
    mods = ("harness.runner", "harness.results", "harness.cli")
    times: dict[str, list[float]] = {m: [] for m in mods}
    heavy: dict[str, list[str]] = {}
    for _ in range(a.rounds):
        for m in mods:
            r = time_import(m)
            times[m].append(r["s"])
            heavy[m] = r["heavy"]
    for m in mods:
        print(f"   import {m:16s} median {median(times[m]) * 1000:7.1f} ms; pulls in: "
              f"{', '.join(heavy[m]) or 'none of ' + '/'.join(HEAVY)}", flush=True)
    run_s, res_s = median(times["harness.runner"]), median(times["harness.results"])
    b.add("import_runner", "import harness.runner (starting a run)", run_s * 1000, "ms")
    b.add("import_results", "import harness.results (reports: pandas, scipy)", res_s * 1000, "ms")
    b.add("import_runner_ratio", "run start-up ÷ report imports", run_s / res_s if res_s else None, "×")
    b.add("import_runner_heavy", "of pandas/scipy/matplotlib/numpy imported by a run start",
          len(heavy["harness.runner"]),
          "", target="<= 0")
    b.details = {"rounds": a.rounds, "seconds": times, "heavy": heavy}
    b.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
