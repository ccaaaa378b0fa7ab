"""End to end against a real llama.cpp OpenAI-compatible server: llama-cpp-python's server (the
``llamacpp-server`` extra) serving the embedded SmolLM2 GGUF on loopback, with a context just large enough for the
smoke case's prompt. What issue #21 found broken: one slot, a small context, no json_schema.

Bounded: one smoke case; the server's context leaves ~40 tokens for the agent's answer (so max_tokens must be
fitted: 2048 are configured), and the judge's answer is fitted to the same context. A few minutes on 2 loaded
cores. Skipped, saying why, when the server's packages are not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from .conftest import ROOT

CASE = "storefront-compose-smoke"
V1 = "prompts/backend-reliability-engineer/v1.md"
# what the harness reserves on top of the counted prompt text: 8 tokens a message (2) + a 16-token margin
RESERVED = 2 * 8 + 16
ROOM = 40

pytestmark = pytest.mark.slow

_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
# Opt-in: on 2 loaded cores the judge's answer alone took longer than the test's 25-minute bound (measured
# 2026-12-07), so it runs only when asked for (HARNESS_E2E_LLAMA_SERVER=1) and never in .ci/run.
if os.environ.get("HARNESS_E2E_LLAMA_SERVER") != "1":
    pytest.skip("end-to-end run against llama.cpp's server is opt-in (HARNESS_E2E_LLAMA_SERVER=1): it has not "
                "finished within its time bound on this 2-core machine yet", allow_module_level=True)
_missing = [m for m in _SERVER_MODULES if importlib.util.find_spec(m) is None]
if _missing:
    pytest.skip(f"llama-cpp-python's server is not installed (missing {', '.join(_missing)}): "
                "pip install -e '.[llamacpp-server]' to run this test", allow_module_level=True)


def _gguf():
    from harness.models.local_model import gguf_path
    try:
        return gguf_path()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"the embedded model's GGUF is not installed: {exc}")


def _prompt_tokens(gguf) -> int:
    """Tokens of the smoke case's system prompt + request text, by the model's own tokenizer (vocabulary only)."""
    from llama_cpp import Llama

    from harness.cases import load_suite
    from harness.request import render_request
    from harness.prompts import load_prompt
    case = next(c for c in load_suite(ROOT / "cases") if c.id == CASE)
    system = load_prompt(V1, root=ROOT).body
    tok = Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    return len(tok.tokenize((system + "\n" + render_request(case)).encode("utf-8"), add_bos=False, special=True))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    gguf = _gguf()
    n_ctx = _prompt_tokens(gguf) + RESERVED + ROOM
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias",
                                 "smollm2", "--n_ctx", str(n_ctx), "--n_threads", "2", "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/models", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llama-cpp-python's server did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)
        yield url, n_ctx
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _harness(tmp_path, *args, timeout=1500):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env["HARNESS_CACHE_DIR"] = str(tmp_path / "cache")
    return subprocess.run([sys.executable, "-m", "harness.cli", "--root", str(ROOT), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_smoke_case_and_judge_at_default_settings(server, tmp_path):
    url, n_ctx = server
    model = f"openai/smollm2@{url}"
    t0 = time.monotonic()
    # default concurrency (8), timeout and max_tokens (2048); the context is told, since llama-cpp-python's
    # server does not say it (llama.cpp's llama-server does, in /props)
    out = _harness(tmp_path, "run", "--model", model, "--prompt", V1, "--cases", CASE, "--server-context",
                   str(n_ctx), "--grader", "deterministic", "--grader", "judge", "--judge-model", model,
                   "--run-dir", str(tmp_path / "run"), "--no-progress")
    took = time.monotonic() - t0
    assert out.returncode in (0, 3), out.stderr
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    rec = [json.loads(ln) for ln in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()][-1]
    print(f"\nllama-cpp-python server, n_ctx {n_ctx}: {took:.0f} s; latency {rec.get('latency_s')} s, "
          f"queue {rec.get('queue_s')} s, max_tokens sent {rec.get('max_tokens_sent')}, stop {rec.get('stop_reason')}"
          f", judge: {(rec.get('grades') or {}).get('judge', {}).get('error') or 'graded'}")
    assert rec["error"] is None, rec["error"]
    server_facts = manifest["config"]["servers"][model]
    assert server_facts["concurrency"] == 1 and server_facts["locality"] == "loopback"
    assert server_facts["tokenizer"] == "/extras/tokenize/count"
    # max_tokens fitted to what the prompt leaves of the context: no "llama_decode returned 1", no silent cut
    assert 0 < rec["max_tokens_sent"] <= ROOM + 8 and rec["max_tokens_sent"] < 2048
    assert rec["usage"]["input_tokens"] + rec["usage"]["output_tokens"] <= n_ctx
    assert rec["stop_reason"] in ("stop", "length")
    # the judge: json_schema rejected once (HTTP 500), then json_object with the schema; its verdicts parsed or
    # a malformed reply recorded, never a request-shape error retried seven times
    judge = manifest["config"]["judge_server"]
    assert judge["structured_output"] == "json_object" and judge["structured_output_source"].startswith("detected")
    jg = rec["grades"]["judge"]
    assert jg.get("error") is None or "malformed judge reply" in jg["error"] or "context" in jg["error"], jg
    assert "cost n/a" in out.stderr
