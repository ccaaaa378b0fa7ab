"""Figure 6: what prompt caching saves on input tokens, for the full suite on an Anthropic model.

    python bench/bench_cost.py

Runs the whole suite (every case, one epoch, the configured ``anthropic_model`` and generation settings,
``cache_mode off``, the configured concurrency) through the harness's runner against the fake Messages API
twice: with the system prompt marked ``cache_control`` (the default, ``AnthropicModel(cache_system=True)``) and
without (``cache_system=False``). The fake server accounts prompt caching as the API does — a cached prefix is
written on first use (``cache_creation_input_tokens``) and read by later requests
(``cache_read_input_tokens``) — and reports usage per request.
Costs are computed from those usages with the harness's own price table (``[tool.harness.prices]``) and
:func:`harness.models.pricing.cost_usd`, input tokens alone (output tokens priced at zero) and in total.

Caveat: the fake server counts tokens as characters ÷ 4. The agent prompt is Japanese, for which that
undercounts (the real tokenizer gives it ~4,000 tokens, the fake ~730), so the real saving is larger than the
one shown. For the same reason the fake's minimum cacheable prefix is set to 0: the real prompt is well above
the API's 1,024-token minimum, the fake's estimate of it is not.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Bench, ServerProcess, fake_env, load_suite_and_prompt, work_dir  # noqa: E402


def run_suite(cfg, suite, prompt, model_name: str, cache_system: bool, run_dir: Path):
    from harness.models.anthropic_model import AnthropicModel
    from harness.models.base import ModelSpec
    from harness.runner import RunOptions, execute

    def factory(name: str):
        return AnthropicModel(ModelSpec.parse(name), timeout_s=cfg.request_timeout_s, cache_system=cache_system)

    opts = RunOptions(cases=suite, prompts=[prompt], models=[model_name], epochs=1, run_dir=run_dir,
                      graders=["deterministic"], progress=False)
    return execute(cfg, opts, model_factory=factory)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="anthropic/<id> (default: [tool.harness] anthropic_model)")
    ap.add_argument("--latency", type=float, default=0.05)
    a = ap.parse_args(argv)
    from harness.models.base import ModelSpec
    from harness.models.pricing import cost_usd
    suite, prompt, cfg = load_suite_and_prompt()
    model_name = a.model or cfg.anthropic_model
    spec = ModelSpec.parse(model_name)
    price = cfg.price_for(spec.model)
    b = Bench("cost", f"Input-token cost of the full suite ({len(suite)} cases) on {model_name}, "
                      "with and without prompt caching")
    if price is None:
        print(f"   no price for {spec.model} in [tool.harness.prices]: nothing to compute")
        b.finish()
        return 1
    cfg = cfg.model_copy(update={"cache_mode": "off"})
    out: dict[str, dict] = {}
    with ServerProcess(latency_s=a.latency, cache_min_tokens=0) as srv, \
            tempfile.TemporaryDirectory(prefix="harness-cache-") as cache, work_dir("cost-") as tmp, \
            fake_env(srv.base_url, cache):
        for label, cached in (("cached", True), ("uncached", False)):
            srv.reset()
            res = run_suite(cfg, suite, prompt, model_name, cached, Path(tmp) / label)
            st = srv.stats()
            recs = [r for r in res.records if r.error is None]
            usage = {k: sum(r.usage.get(k, 0) for r in recs) for k in
                     ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")}
            inp = sum(cost_usd(cfg, spec, dict(r.usage, output_tokens=0)) or 0.0 for r in recs)
            total = sum(cost_usd(cfg, spec, r.usage) or 0.0 for r in recs)
            out[label] = {"samples": len(res.records), "ok": len(recs), "usage": usage, "server_usage": st["usage"],
                          "input_cost_usd": inp, "total_cost_usd": total,
                          "cache_writes": sum(1 for r in recs if r.usage.get("cache_creation_input_tokens")),
                          "cache_reads": sum(1 for r in recs if r.usage.get("cache_read_input_tokens"))}
            if usage != st["usage"]:
                print(f"   WARNING: {label}: recorded usage {usage} differs from the server's {st['usage']}")
            print(f"   {label:8s}: {len(recs)}/{len(res.records)} ok; input {usage['input_tokens']:,} uncached + "
                  f"{usage['cache_creation_input_tokens']:,} cache-write + {usage['cache_read_input_tokens']:,} "
                  f"cache-read tokens ({out[label]['cache_writes']} writes, {out[label]['cache_reads']} reads); "
                  f"input ${inp:.4f}, total ${total:.4f}", flush=True)
    c, u = out["cached"], out["uncached"]
    saving = u["input_cost_usd"] - c["input_cost_usd"]
    b.add("cost_input_cached", "input cost, system prompt cached", c["input_cost_usd"], "$")
    b.add("cost_input_uncached", "input cost, no prompt caching", u["input_cost_usd"], "$")
    b.add("cost_input_saving", "input-cost saving from prompt caching",
          100 * saving / u["input_cost_usd"] if u["input_cost_usd"] else None, "%",
          note=f"${saving:.4f} per suite run")
    b.add("cost_total_cached", "total cost (input + output), cached", c["total_cost_usd"], "$")
    b.add("cost_total_uncached", "total cost (input + output), uncached", u["total_cost_usd"], "$")
    b.details = {"model": model_name, "price_per_mtok": price.model_dump(), "concurrency": cfg.concurrency,
                 "cases": len(suite), "runs": out,
                 "token_estimate": "fake server: characters / 4 (undercounts the Japanese system prompt)"}
    b.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
