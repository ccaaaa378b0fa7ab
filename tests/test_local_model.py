"""The embedded model on cyllama: found offline, chat-templated prompts, token counts, system-prompt KV reuse,
deterministic greedy and seeded sampling, stop reasons, a named context-length error, cancellation."""

import asyncio
import pytest

from harness.errors import ModelError
from harness.models.base import GenerationConfig, ModelSpec
from harness.models.local_model import LocalModel, gguf_path
from harness.models.local_weights import GGUF_BYTES

SYSTEM = "You are a code reviewer. Name each defect and where it is. " * 12
CASE_A = [{"role": "user", "content": "Review:\n```python\ndef f(x):\n    return x / 0\n```"}]
CASE_B = [{"role": "user", "content": "Review:\n```python\ndef g(path):\n    return open(path).read()\n```"}]


def _gen(model, system, messages, **cfg):
    return asyncio.run(model.generate(system, messages, GenerationConfig(**cfg)))


def test_gguf_is_found_without_the_network():
    p = gguf_path(fetch=False)
    assert p.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and p.stat().st_size == GGUF_BYTES


@pytest.fixture(scope="module")
def model():
    return LocalModel(ModelSpec.parse("local/smollm2-135m"))


def test_prompt_is_the_models_chat_template(model):
    tokens, head = model.engine.prompt_tokens("SYS", [{"role": "user", "content": "hi"}])
    text = model.engine.vocab.detokenize(tokens, remove_special=False, unparse_special=True)
    assert text == "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert model.engine.vocab.detokenize(tokens[:head], remove_special=False,
                                         unparse_special=True) == "<|im_start|>system\nSYS<|im_end|>\n"
    assert model.count_tokens("SYS", [{"role": "user", "content": "hi"}]) == len(tokens)


def test_generates_counts_tokens_and_reuses_the_system_prompt(model):
    with model.engine.lock:
        model.engine.reset()
    a = _gen(model, SYSTEM, CASE_A, max_tokens=8)
    first_eval = model.last_prompt_eval
    b = _gen(model, SYSTEM, CASE_B, max_tokens=8)
    assert a.usage.input_tokens > 150 and 0 < a.usage.output_tokens <= 8 and a.text
    assert a.stop_reason in ("length", "stop") and a.model == "SmolLM2-135M-Instruct.Q4_1"
    assert first_eval == a.usage.input_tokens
    # the second call shares the system prompt: its KV is kept and only the case's own tokens are evaluated
    assert model.last_prompt_eval < 40 < b.usage.input_tokens
    assert b.usage.input_tokens == model.count_tokens(SYSTEM, CASE_B)


def test_without_kv_reuse_the_whole_prompt_is_evaluated(model):
    off = LocalModel(ModelSpec.parse("local/smollm2-135m"), kv_reuse=False)
    assert off.engine is model.engine  # one loaded model, one context
    _gen(off, SYSTEM, CASE_A, max_tokens=2)
    r = _gen(off, SYSTEM, CASE_A, max_tokens=2)
    assert off.last_prompt_eval == r.usage.input_tokens


def test_greedy_reply_does_not_depend_on_what_the_cache_held(model):
    off = LocalModel(ModelSpec.parse("local/smollm2-135m"), kv_reuse=False)
    fresh = _gen(off, SYSTEM, CASE_A, max_tokens=16).text
    _gen(model, SYSTEM, CASE_B, max_tokens=16)
    after_b = _gen(model, SYSTEM, CASE_A, max_tokens=16).text   # system KV reused, case evaluated on its own
    again = _gen(model, SYSTEM, CASE_A, max_tokens=16).text     # the cache holds this very prompt and reply
    assert fresh == after_b == again and len(fresh) > 10


def test_seeded_sampling_repeats_per_seed(model):
    one = [_gen(model, "Be creative.", [{"role": "user", "content": "Write a poem about rain."}],
                temperature=1.0, seed=1, max_tokens=32).text for _ in range(2)]
    two = _gen(model, "Be creative.", [{"role": "user", "content": "Write a poem about rain."}],
               temperature=1.0, seed=2, max_tokens=32).text
    assert one[0] == one[1] and two != one[0]


def test_stop_reasons_length_and_stop(model):
    cut = _gen(model, SYSTEM, CASE_A, max_tokens=3)
    assert cut.stop_reason == "length" and cut.usage.output_tokens == 3
    done = _gen(model, "You are a helpful assistant.", [{"role": "user", "content": "Say hello."}], max_tokens=64)
    assert done.stop_reason == "stop" and done.usage.output_tokens < 64 and "<|im_end|>" not in done.text
    full = _gen(model, SYSTEM, CASE_A, max_tokens=16).text
    at = _gen(model, SYSTEM, CASE_A, max_tokens=16, stop=(full[len(full) // 2:][:3],))
    assert at.stop_reason == "stop" and at.text == full[:len(at.text)] and len(at.text) < len(full)


def test_prompt_longer_than_context_is_a_named_error(model):
    huge = "word " * 9000
    with pytest.raises(ModelError) as ei:
        _gen(model, "sys", [{"role": "user", "content": huge}], max_tokens=16)
    assert ei.value.kind == "context_length" and "8192" in ei.value.message
    # the model still answers afterwards
    assert _gen(model, SYSTEM, CASE_A, max_tokens=2).usage.output_tokens == 2


def test_cancel_stops_a_long_prompt_evaluation_mid_batch(model):
    off = LocalModel(ModelSpec.parse("local/smollm2-135m"), kv_reuse=False)
    long_case = [{"role": "user", "content": "Review this line. " * 1200}]   # ~6,000 tokens: tens of seconds

    async def go():
        task = asyncio.create_task(off.generate("sys", long_case, GenerationConfig(max_tokens=4)))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    # the worker thread aborts within one ggml operation, long before the ~6,000-token prefill would end
    got = model.engine.lock.acquire(timeout=20)
    assert got
    model.engine.lock.release()
    assert _gen(model, SYSTEM, CASE_A, max_tokens=2).usage.output_tokens == 2
