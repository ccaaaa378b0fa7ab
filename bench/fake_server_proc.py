"""The fake Messages API server in its own process, for the benchmarks (see ``common.ServerProcess``).

    python bench/fake_server_proc.py --latency 0.2 --responder reviews

Prints ``PORT <n>`` once serving on 127.0.0.1, then reads commands from stdin, one a line:
``stats`` (answers one JSON line), ``reset`` (counters, prompt cache and the responder's
review sequence; answers ``ok``), ``quit`` or end of input (stops).

Responders: ``default`` (the fake server's one-line review) or ``reviews``: a review of the case named in the
request, from :mod:`reviews` (realistic length and content, so the harness's grader does real work); the case
is recognised by its rendered request (the user message), else by its request's first line.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.testing.fakeserver import FakeServer, flatten_text, default_responder  # noqa: E402


def reviews_responder(per_case: int = 40, seed: int = 7):
    from harness.cases import load_suite
    from harness.config import load_config
    from harness.request import render_request
    from reviews import generate_review

    cfg = load_config(Path(__file__).resolve().parents[1])
    suite = load_suite(cfg.path(cfg.cases_dir))
    rng = random.Random(seed)
    by_hash: dict[str, object] = {}
    firsts: list[tuple[str, object]] = []
    pools: dict[str, list[str]] = {}
    counters: dict[str, itertools.count] = {}
    for c in suite:
        by_hash[hashlib.sha256(render_request(c).encode()).hexdigest()] = c
        firsts.append((c.spec.request.strip().splitlines()[0][:80], c))
        pools[c.id] = [generate_review(c, rng) for _ in range(per_case)]
        counters[c.id] = itertools.count()
    lock = threading.Lock()

    def respond(body: dict):
        msgs = body.get("messages") or []
        text = flatten_text(msgs[0].get("content")) if msgs and isinstance(msgs[0], dict) else ""
        case = by_hash.get(hashlib.sha256(text.encode()).hexdigest())
        if case is None:
            case = next((c for first, c in firsts if first and first in text), None)
        if case is None:
            return default_responder(body)
        with lock:
            i = next(counters[case.id])
        pool = pools[case.id]
        return pool[i % len(pool)]

    def reset() -> None:
        with lock:
            for cid in counters:
                counters[cid] = itertools.count()

    respond.reset = reset  # type: ignore[attr-defined]
    return respond


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--responder", choices=["default", "reviews"], default="reviews")
    ap.add_argument("--cache-min-tokens", type=int, default=0)
    ap.add_argument("--stream-chunk-chars", type=int, default=16)
    a = ap.parse_args()
    responder = reviews_responder() if a.responder == "reviews" else None
    server = FakeServer(responder, latency_s=a.latency, cache_min_tokens=a.cache_min_tokens,
                        stream_chunk_chars=a.stream_chunk_chars)
    server.start()
    print(f"PORT {server.port}", flush=True)
    try:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "stats":
                received = server.received
                streamed = sum(1 for r in received if isinstance(r.body, dict) and r.body.get("stream"))
                paths: dict[str, int] = dict(server.requests_by_path)
                print(json.dumps({"requests": server.requests, "completed": server.completed,
                                  "streamed": streamed, "max_inflight": server.max_inflight,
                                  "usage": server.usage_totals, "by_path": paths,
                                  "faults": dict(server.faults_injected),
                                  "responder_errors": server.responder_errors}), flush=True)
            elif cmd == "reset":
                server.reset()
                if hasattr(responder, "reset"):
                    responder.reset()
                print("ok", flush=True)
            elif cmd == "quit":
                print("ok", flush=True)
                break
            else:
                print(json.dumps({"error": f"unknown command {cmd!r}"}), flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
