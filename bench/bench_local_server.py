"""Figure 8: the issue #21 reproduction, a one-slot local server that computes each request for 2 s, at the
default concurrency (8) and ``--timeout 5``: samples completed, requests the server started, answers delivered,
requests cancelled or computed for nobody, wall time. Two settings: the server tells nothing (Ollama-like: the
loopback default of 1 applies) and a user who claims 8 slots (timeouts then halve the concurrency).

    python bench/bench_local_server.py [--samples 25] [--compute 2.0] [--timeout 5]

Before issue #21 the same setting ended with 19-20 of 25 samples "timeout: gave up after 6 retries", 63 requests
started and 5-6 delivered (the issue's figures).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.cases import load_suite  # noqa: E402
from harness.config import load_config  # noqa: E402
from harness.testing.fakellama import FakeLlamaServer  # noqa: E402
from harness.prompts import parse_prompt  # noqa: E402
from harness.runner import RunOptions, execute  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=25)
    ap.add_argument("--compute", type=float, default=2.0, help="seconds the server computes each request")
    ap.add_argument("--timeout", type=float, default=5.0)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.conftest import write_case
    tmp = Path(tempfile.mkdtemp(prefix="bench-local-server-"))
    os.environ["HARNESS_CACHE_DIR"] = str(tmp / "cache")
    for i in range(args.samples):
        write_case(tmp / "cases", f"case-{i}")
    suite = load_suite(tmp / "cases")
    prompt = parse_prompt("---\nname: r\ndescription: d\n---\nYou review code.\n", source="p.md")
    print(f"load average before: {os.getloadavg()}")
    out = {}
    for label, flavour, slots in (("server tells nothing", "ollama", None), ("user claims 8 slots", "ollama", 8)):
        with FakeLlamaServer(slots=1, compute_s=args.compute, flavour=flavour) as srv:
            cfg = load_config(ROOT, {"concurrency": 8, "request_timeout_s": args.timeout, "server_slots": slots,
                                     "cache_mode": "off"})
            opts = RunOptions(cases=suite, prompts=[prompt], models=[f"openai/fake@{srv.openai_base_url}"],
                              run_dir=tmp / label.replace(" ", "-"), graders=[], progress=False)
            t0 = time.perf_counter()
            res = execute(cfg, opts)
            wall = time.perf_counter() - t0
            ok = sum(1 for r in res.records if r.error is None)
            row = {"samples_ok": ok, "samples": args.samples, "requests_started": srv.started,
                   "delivered": srv.delivered, "cancelled": srv.cancelled, "dropped": srv.dropped,
                   "computed_for_nobody": srv.abandoned, "retries": res.stats.retries,
                   "min_concurrency": res.stats.min_concurrency, "wall_s": round(wall, 1),
                   "ideal_s": round(args.samples * args.compute, 1)}
        out[label] = row
        print(f"{label}: {ok}/{args.samples} samples, {row['requests_started']} requests started, "
              f"{row['delivered']} delivered, {row['cancelled']} cancelled, {row['dropped']} dropped, "
              f"{row['computed_for_nobody']} computed for nobody, {row['retries']} retries, "
              f"min concurrency {row['min_concurrency']}, {wall:.1f} s (ideal {row['ideal_s']} s)")
    print(f"load average after: {os.getloadavg()}")
    res_dir = ROOT / "bench" / "results"
    res_dir.mkdir(parents=True, exist_ok=True)
    (res_dir / "local_server.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
