"""Figure 3: deterministic grading throughput, reviews per second on one core.

    python bench/bench_grading.py                  # 10,000 reviews
    python bench/bench_grading.py --reviews 2000 --profile

The reviews are generated from the suite's own cases by ``reviews.py`` (seed 0): markdown reviews of 0.2–12 KB,
about half in Japanese, naming a random subset of each case's findings by title, anchors, keywords and
``file:line`` references, quoting the located code, praising or wrongly flagging traps, with generic checklist
lines and filler. The process is pinned to one CPU (``sched_setaffinity``) and grades them one after another
with ``DeterministicGrader`` (its memo of grades by review digest cleared first: every review is distinct and
really graded). Compiling each case's matchers (once per case per grader) is timed apart from the
per-review work, and the throughput is given both per wall second and per CPU second of the process (the two
agree on an idle machine; on a busy one the CPU figure is the grader's own speed).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, Bench, load_suite_and_prompt  # noqa: E402
from reviews import generate_reviews  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reviews", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true", help="cProfile the grading loop and print hot spots")
    a = ap.parse_args(argv)
    pinned = None
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        pinned = cpu
    b = Bench("grading", f"Deterministic grading throughput: {a.reviews:,} generated reviews, one core")
    from harness.graders.rubric import DeterministicGrader
    suite, _, _ = load_suite_and_prompt()
    t0 = time.perf_counter()
    pairs = generate_reviews(suite, a.reviews, seed=a.seed)
    gen_s = time.perf_counter() - t0
    lengths = [len(r) for _, r in pairs]
    ja = sum(1 for _, r in pairs if any("\u3040" <= ch <= "\u30ff" for ch in r[:400]))
    print(f"   generated {len(pairs):,} reviews in {gen_s:.1f} s: mean {sum(lengths) / len(lengths):,.0f} chars "
          f"(max {max(lengths):,}), {ja / len(pairs):.0%} Japanese", flush=True)

    distinct = len({(c.id, r) for c, r in pairs})
    if distinct != len(pairs):
        print(f"   note: {len(pairs) - distinct} reviews are repeats (the grader's memo answers them)", flush=True)

    graders: list = []   # every grader timed below

    def clear_memo() -> None:
        # DeterministicGrader memoises grades by (case, review digest): a benchmark must not time lookups
        for g in graders:
            g.clear_memo()
        # ... nor embeddings the semantic stage computed for an earlier review
        from harness.graders.semantic import get_embedder
        get_embedder()._cache.clear()

    grader = DeterministicGrader()   # a new grader: no case compiled yet, nothing memoised
    graders.append(grader)
    clear_memo()
    t0, c0 = time.perf_counter(), time.process_time()
    for c in suite:
        grader.grade(c, "")
    compile_wall, compile_cpu = time.perf_counter() - t0, time.process_time() - c0

    prof = None
    if a.profile:
        import cProfile
        prof = cProfile.Profile()
    per: list[float] = []
    errors = found = total = 0
    clear_memo()
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    for case, review in pairs:
        s = time.perf_counter()
        g = grader.grade(case, review)
        per.append(time.perf_counter() - s)
        if g.error:
            errors += 1
        found += sum(1 for f in g.findings if f.found)
        total += len(g.findings)
    if prof:
        prof.disable()
    wall, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    per.sort()
    rate_wall, rate_cpu = len(pairs) / wall, len(pairs) / cpu_s
    kchars = sum(lengths) / 1000 / cpu_s
    # per-language rates, on a second pass over (at most) the first 1,000 reviews
    lang_t = {"en": [0.0, 0], "ja": [0.0, 0]}
    clear_memo()
    for case, review in pairs[: min(1000, len(pairs))]:
        lang = "ja" if any("\u3040" <= ch <= "\u30ff" for ch in review[:400]) else "en"
        s = time.process_time()
        grader.grade(case, review)
        lang_t[lang][0] += time.process_time() - s
        lang_t[lang][1] += 1

    b.add("grading_rate_cpu", "deterministic grading (semantic stage on), reviews per CPU-second (one core)",
          rate_cpu, "reviews/s", target=">= 50")
    b.add("grading_rate_wall", "deterministic grading, reviews per wall second", rate_wall, "reviews/s")
    b.add("grading_p50_ms", "per review, median", per[len(per) // 2] * 1000, "ms")
    b.add("grading_p99_ms", "per review, 99th percentile", per[int(len(per) * 0.99)] * 1000, "ms")
    b.add("grading_kchars", "throughput in review text", kchars, "kchars/CPU-s")
    b.add("compile_ms_per_case", "compiling one case's matchers (once per case per grader)",
          compile_cpu / len(suite) * 1000, "ms", note=f"{len(suite)} cases: {compile_wall:.2f} s wall")
    for lang, (t, n) in lang_t.items():
        if n:
            b.add(f"grading_rate_{lang}", f"  reviews per CPU-second, {'Japanese' if lang == 'ja' else 'English'}",
                  n / t, "reviews/s")
    # the same reviews with the lexical stage alone, and the project's labelled (real, blind-written) reviews
    lexical = DeterministicGrader(semantic=False)
    graders.append(lexical)
    for c in suite:   # its own compiled cases (the grader owns them): compiled before the clock, as above
        lexical.grade(c, "")
    clear_memo()
    c0 = time.process_time()
    for case, review in pairs:
        lexical.grade(case, review)
    b.add("grading_rate_lexical", "  lexical stage alone, reviews per CPU-second",
          len(pairs) / (time.process_time() - c0),
          "reviews/s")
    labelled = _labelled_reviews({c.id: c for c in suite})
    if labelled:
        for name, g in (("semantic", grader), ("lexical", lexical)):
            clear_memo()
            c0 = time.process_time()
            for case, review in labelled:
                g.grade(case, review)
            b.add(f"labelled_rate_{name}", f"  labelled/ reviews ({len(labelled)}, real), {name} "
                  f"{'stage on' if name == 'semantic' else 'stage alone'}, reviews per CPU-second",
                  len(labelled) / (time.process_time() - c0), "reviews/s")
    b.details = {"reviews": len(pairs), "distinct": distinct, "seed": a.seed, "pinned_cpu": pinned,
                 "generate_s": round(gen_s, 2),
                 "mean_chars": round(sum(lengths) / len(lengths)), "japanese_share": round(ja / len(pairs), 3),
                 "wall_s": round(wall, 3), "cpu_s": round(cpu_s, 3), "grade_errors": errors,
                 "found_rate": round(found / max(total, 1), 3), "compile_wall_s": round(compile_wall, 3),
                 "compile_cpu_s": round(compile_cpu, 3)}
    print(f"   graded in {wall:.1f} s wall / {cpu_s:.1f} s CPU; {errors} grading errors; "
          f"found rate {found / max(total, 1):.2f}", flush=True)
    if prof:
        import pstats
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / "grading.prof"
        prof.dump_stats(str(path))
        pstats.Stats(str(path)).sort_stats("tottime").print_stats(20)
    b.finish()
    return 0


def _labelled_reviews(suite: dict) -> list:
    """(case, review text) of every review in the project's labelled/ corpus whose case is in the suite."""
    import yaml
    root = Path(__file__).resolve().parents[1] / "labelled"
    out = []
    for lab in sorted(root.glob("*/labels.yaml")):
        cid = (yaml.safe_load(lab.read_text(encoding="utf-8")) or {}).get("case")
        if cid in suite:
            out += [(suite[cid], f.read_text(encoding="utf-8")) for f in sorted((lab.parent / "reviews").glob("r*.md"))]
    return out


if __name__ == "__main__":
    sys.exit(main())
