"""Figure 5: the embedded model (``local/smollm2-135m``) on this machine, through the harness and bare.

    python bench/bench_local.py            # the default subset: the cases tagged smoke (3 cases)
    python bench/bench_local.py --extra 2  # ... plus the 2 smallest other cases
    python bench/bench_local.py --full     # every case of the suite (25 cases: tens of minutes on 2 cores)
    python bench/bench_local.py --cases invoices-drf-smoke,shop-edge-nginx

Three passes over the same cases, each starting with an empty KV cache, with the configured agent prompt and the
configured ``local_generation`` settings (temperature 0, 160 new tokens):

1. ``bare``: the llama.cpp engine alone — its own ``harness.models.local_model.Engine`` (cyllama; same GGUF,
   ``n_ctx``, threads), the same chat-templated prompt tokens, prefill keeping the system prompt's KV, the same
   sampling settings, one case after another, with no runner, records or grading around it;
2. ``harness``: ``harness.runner.execute`` with ``LocalModel()`` (system-prompt KV reuse on, the default), the
   deterministic grader on, records written, ``cache_mode off``;
3. ``harness, no KV reuse``: the same with ``LocalModel(kv_reuse=False)`` (the KV cache is cleared before every
   case, so the ~4,000-token system prompt is evaluated for each), on every case but the first — the first case
   costs the same either way, so it is left out to save time; the per-case times of those cases are compared.

The harness's overhead: the model's work is the same in passes 1 and 2 (same tokens, same calls; the outputs are
checked to be identical), so it is the time the harness spends outside the engine's calls beyond what the bare
loop spends there, relative to the bare loop's total. The plain wall-time ratio is printed beside it; on a busy
machine it swings by tens of percent either way from run to run (llama.cpp's two threads are the first to suffer
from other load), which is why the target is read on the first.
Prompt and generation speeds come from llama.cpp's own counters (``llama_perf_context``, via cyllama): prompt tokens
actually evaluated (a reused prefix is not) per second, and generated tokens per second. A case whose prompt does not
fit the 8,192-token context is refused by both (the harness records a ``context_length`` error) and costs ~0 s.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Bench, load_suite_and_prompt, work_dir  # noqa: E402

LOCAL = "local/smollm2-135m"


def perf(engine) -> dict:
    """llama.cpp's counters for an engine's context: prompt tokens evaluated and ms, tokens generated and ms."""
    try:
        d = engine.ctx.get_perf_data()
        return {k: (int(d[k]) if k.startswith("n_") else float(d[k]))
                for k in ("n_p_eval", "t_p_eval_ms", "n_eval", "t_eval_ms")}
    except Exception:  # noqa: BLE001 - an older or newer binding without these counters
        return {}


def perf_reset(engine) -> None:
    try:
        engine.ctx.reset_perf_data()
    except Exception:  # noqa: BLE001
        pass


def bare_pass(engine, cases, system: str, gen, n_ctx: int) -> dict:
    import threading

    from harness.request import render_request
    engine.reset()
    perf_reset(engine)
    out, in_model = {}, 0.0
    gc.collect()
    t0 = time.perf_counter()
    for c in cases:
        tokens, head = engine.prompt_tokens(system, [{"role": "user", "content": render_request(c)}])
        if len(tokens) + gen.max_tokens > n_ctx:
            out[c.id] = {"error": "context_length", "prompt_tokens": len(tokens)}
            continue
        s = time.perf_counter()
        engine.prefill(tokens, head, reuse=True)
        text, n_out, _ = engine.generate(tokens, gen, threading.Event())
        dt = time.perf_counter() - s
        in_model += dt
        out[c.id] = {"text": text.strip(), "prompt_tokens": len(tokens), "output_tokens": n_out, "latency_s": dt}
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "in_model_s": in_model, "cases": out, "perf": perf(engine)}


def harness_pass(cfg, cases, prompt, model, run_dir: Path) -> dict:
    from harness.runner import RunOptions, execute
    model.engine.reset()
    perf_reset(model.engine)
    opts = RunOptions(cases=cases, prompts=[prompt], models=[LOCAL], epochs=1, run_dir=run_dir,
                      graders=["deterministic"], progress=False)
    gc.collect()
    t0 = time.perf_counter()
    res = execute(cfg, opts, model_factory=lambda name: model)
    wall = time.perf_counter() - t0
    out, in_model = {}, 0.0
    for r in res.records:
        if r.error is not None:
            out[r.case] = {"error": r.error.kind}
            continue
        in_model += r.latency_s or 0.0
        out[r.case] = {"text": r.review, "prompt_tokens": r.usage.get("input_tokens"),
                       "output_tokens": r.usage.get("output_tokens"), "latency_s": r.latency_s}
    return {"wall_s": wall, "in_model_s": in_model, "cases": out, "perf": perf(model.engine)}


def rates(p: dict) -> tuple[float | None, float | None]:
    if not p:
        return None, None
    pr = p["n_p_eval"] / (p["t_p_eval_ms"] / 1000) if p["t_p_eval_ms"] else None
    gr = p["n_eval"] / (p["t_eval_ms"] / 1000) if p["t_eval_ms"] else None
    return pr, gr


def pick_cases(suite, a) -> tuple[list, str]:
    if a.full:
        return list(suite), f"full suite ({len(suite)} cases)"
    if a.cases:
        ids = [x.strip() for x in a.cases.split(",") if x.strip()]
        by = {c.id: c for c in suite}
        missing = [i for i in ids if i not in by]
        if missing:
            raise SystemExit(f"unknown case ids: {', '.join(missing)}")
        return [by[i] for i in ids], f"{len(ids)} chosen cases"
    from harness.request import render_request
    smoke = [c for c in suite if "smoke" in c.tags]
    others = sorted((c for c in suite if "smoke" not in c.tags), key=lambda c: len(render_request(c)))
    chosen = smoke + others[: a.extra]
    more = f" + the {a.extra} smallest other" if a.extra else ""
    return chosen, f"default subset ({len(chosen)} of {len(suite)} cases: tagged smoke{more}; --full for all)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="every case of the suite")
    ap.add_argument("--cases", help="comma-separated case ids instead of the default subset")
    ap.add_argument("--extra", type=int, default=0, help="non-smoke cases added to the default subset (smallest)")
    ap.add_argument("--max-tokens", type=int, help="override local_generation.max_tokens (quick checks only)")
    ap.add_argument("--deadline-s", type=float, help="skip the no-KV-reuse pass when it would end later than this "
                    "many seconds after the start (run_all.py passes what is left of its 15 minutes)")
    ap.add_argument("--no-bare", action="store_true", help="skip the bare engine pass")
    ap.add_argument("--no-kv-off", action="store_true", help="skip the pass without KV reuse")
    a = ap.parse_args(argv)
    t_start = time.perf_counter()
    suite, prompt, cfg = load_suite_and_prompt()
    cases, which = pick_cases(suite, a)
    b = Bench("local", f"Embedded model {LOCAL}: {which}")
    print(f"   cases: {', '.join(c.id for c in cases)}", flush=True)
    try:
        from harness.models.base import ModelSpec
        from harness.models.local_model import Engine, LocalModel, gguf_path
    except Exception as e:  # noqa: BLE001
        print(f"   the embedded model is not available: {e}")
        b.finish()
        return 1
    cfg = cfg.model_copy(update={"cache_mode": "off"})
    if a.max_tokens:
        cfg = cfg.model_copy(update={"local_generation": cfg.local_generation.model_copy(
            update={"max_tokens": a.max_tokens})})
    gen = cfg.local_generation
    spec = ModelSpec.parse(LOCAL)
    t0 = time.perf_counter()
    m_on = LocalModel(spec)
    load_s = time.perf_counter() - t0
    m_off = LocalModel(spec, kv_reuse=False)  # the same engine (LocalModel caches it), KV cleared per call
    n_ctx, threads = m_on.n_ctx, m_on.n_threads
    passes: dict[str, dict] = {}
    with work_dir("local-") as tmp:
        if not a.no_bare:
            bare = Engine(str(gguf_path()), n_ctx, threads)
            passes["bare"] = bare_pass(bare, cases, prompt.body, gen, n_ctx)
            del bare
            print(f"   bare engine (cyllama):  {passes['bare']['wall_s']:7.1f} s", flush=True)
        passes["harness"] = harness_pass(cfg, cases, prompt, m_on, Path(tmp) / "on")
        print(f"   harness (KV reuse):     {passes['harness']['wall_s']:7.1f} s", flush=True)
        skip_why = None
        if not a.no_kv_off and len(cases) > 1 and a.deadline_s:
            pr_, gr_ = rates(passes["harness"]["perf"])
            if pr_ and gr_:
                est = sum((v.get("prompt_tokens") or 0) / pr_ + (v.get("output_tokens") or 0) / gr_
                          for cid, v in passes["harness"]["cases"].items()
                          if cid != cases[0].id and "error" not in v)
                left = a.deadline_s - (time.perf_counter() - t_start)
                if est > left:
                    skip_why = (f"skipped: at the measured speed it would take ~{est:.0f} s, {left:.0f} s of the "
                                "time budget are left")
                    print(f"   harness (no KV reuse):  {skip_why}", flush=True)
                    b.details["no_kv_pass"] = skip_why
        if not a.no_kv_off and len(cases) > 1 and not skip_why:
            # Without reuse every case costs what the first case costs with reuse: time the cases after the first.
            passes["harness_no_kv"] = harness_pass(cfg, cases[1:], prompt, m_off, Path(tmp) / "off")
            print(f"   harness (no KV reuse):  {passes['harness_no_kv']['wall_s']:7.1f} s "
                  f"({len(cases) - 1} cases: all but the first)", flush=True)

    h = passes["harness"]
    n_ok = sum(1 for v in h["cases"].values() if "error" not in v)
    pr, gr = rates(h["perf"])
    b.add("local_wall_s", f"harness wall, {len(cases)} cases ({n_ok} fit the context)", h["wall_s"], "s",
          note=which)
    b.add("local_prompt_tps", "  prompt tokens evaluated per second", pr, "tok/s",
          note=f"{h['perf'].get('n_p_eval', 0):,} evaluated of "
               f"{sum(v.get('prompt_tokens') or 0 for v in h['cases'].values()):,} prompt tokens")
    b.add("local_gen_tps", "  generated tokens per second", gr, "tok/s")
    if "bare" in passes:
        bare = passes["bare"]
        own, bare_own = h["wall_s"] - h["in_model_s"], bare["wall_s"] - bare["in_model_s"]
        # The model's work is the same in both passes (same tokens, same calls, outputs checked below), so the
        # harness's overhead is the time it spends outside the model beyond what the bare loop spends there;
        # relative to the bare loop's total. Unlike the wall-time ratio, this does not move with other load.
        over = 100 * (own - bare_own) / (h["in_model_s"] + bare_own)
        b.add("local_overhead_pct", "harness overhead vs the bare engine", over, "%", target="<= 5",
              note=f"harness outside the model {own:.2f} s, bare loop {bare_own:.2f} s")
        b.add("local_overhead_wall_pct", "  the same from wall times alone (load-sensitive)",
              100 * (h["wall_s"] - bare["wall_s"]) / bare["wall_s"], "%",
              note=f"harness {h['wall_s']:.1f} s, bare {bare['wall_s']:.1f} s")
        bpr, bgr = rates(bare["perf"])
        b.details["bare_rates"] = {"prompt_tps": bpr, "gen_tps": bgr}
        same = [cid for cid, v in bare["cases"].items() if v.get("text") == h["cases"].get(cid, {}).get("text")]
        b.details["identical_outputs"] = f"{len(same)} of {len(bare['cases'])}"
        if len(same) != len(bare["cases"]):
            print(f"   note: {len(bare['cases']) - len(same)} cases generated different text bare vs harness")
    if "harness_no_kv" not in passes and b.details.get("no_kv_pass"):
        b.add("local_case_nokv_s", "  per case, KV reuse off (LocalModel(kv_reuse=False))", None, "s",
              note=b.details["no_kv_pass"])
    if "harness_no_kv" in passes:
        off = passes["harness_no_kv"]
        later = [c.id for c in cases[1:] if "error" not in h["cases"].get(c.id, {"error": 1})
                 and "error" not in off["cases"].get(c.id, {"error": 1})]
        if later:
            on_s = sum(h["cases"][i]["latency_s"] for i in later) / len(later)
            off_s = sum(off["cases"][i]["latency_s"] for i in later) / len(later)
            b.add("local_case_kv_s", "  per case after the first, KV reuse on", on_s, "s")
            b.add("local_case_nokv_s", "  per case, KV reuse off (LocalModel(kv_reuse=False))", off_s, "s",
                  note=f"same {len(later)} cases")
            b.add("local_kv_speedup", "  KV reuse speed-up per case", off_s / on_s, "×")
    # the full suite, estimated from the measured rates, when only a subset ran
    if not a.full and pr and gr:
        from harness.request import render_request
        sys_tokens = m_on.engine.prompt_tokens(prompt.body, [{"role": "user", "content": ""}])[1]
        est = est_off = 0.0
        fits = 0
        for c in suite:
            nt = len(m_on.engine.prompt_tokens(prompt.body, [{"role": "user", "content": render_request(c)}])[0])
            if nt + gen.max_tokens > n_ctx:
                continue
            fits += 1
            est += (nt - sys_tokens) / pr + gen.max_tokens / gr
            est_off += nt / pr + gen.max_tokens / gr
        est += sys_tokens / pr
        b.add("local_full_est_s", f"full suite, estimated from these rates ({fits} of {len(suite)} cases fit)",
              est, "s", note=f"every case generating max_tokens; without KV reuse {est_off:.0f} s")
        b.details["full_suite_estimate"] = {"kv_reuse_s": est, "no_kv_reuse_s": est_off, "cases_fit": fits,
                                            "system_tokens": sys_tokens}
    b.details.update({"cases": [c.id for c in cases], "selection": which, "model_load_s": round(load_s, 2),
                      "n_ctx": n_ctx, "threads": threads, "generation": gen.model_dump(mode="json"),
                      "passes": {k: {kk: vv for kk, vv in v.items()} for k, v in passes.items()}})
    for v in b.details["passes"].values():
        for c in v["cases"].values():
            c.pop("text", None)
    b.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
