"""``openai/<model>@<base-url>``: any OpenAI-compatible chat completions server (Ollama, vLLM, llama.cpp)."""

from __future__ import annotations

import os
import time

import openai

from ..errors import ModelError
from .base import Completion, GenerationConfig, Message, ModelSpec, Usage
from .errors_map import classify_text_body, map_sdk_exception, short


def map_exception(exc: BaseException) -> ModelError:
    """Classify an openai SDK exception (or a transport/parse failure) as a ModelError."""
    return map_sdk_exception(exc, openai, env="OPENAI_API_KEY")


class OpenAICompatModel:
    """Chat completions via ``openai.AsyncOpenAI`` at ``spec.base_url``; key from ``OPENAI_API_KEY`` (optional)."""

    def __init__(self, spec: ModelSpec, *, timeout_s: float = 120.0):
        self.spec = spec
        self.base_url = spec.base_url
        self.client = openai.AsyncOpenAI(base_url=spec.base_url, api_key=os.environ.get("OPENAI_API_KEY") or "none",
                                         max_retries=0, timeout=timeout_s)

    async def generate(self, system: str, messages: list[Message], config: GenerationConfig,
                       response_format: dict | None = None) -> Completion:
        params: dict = {"model": self.spec.model, "messages": [{"role": "system", "content": system}, *messages],
                        "max_tokens": config.max_tokens, "temperature": config.temperature}
        if config.top_p is not None:
            params["top_p"] = config.top_p
        if config.stop:
            params["stop"] = list(config.stop)
        if config.seed is not None:
            params["seed"] = config.seed
        if response_format is not None:
            params["response_format"] = response_format
        t0 = time.perf_counter()
        try:
            resp = await self.client.chat.completions.create(**params)
        except Exception as exc:  # noqa: BLE001
            raise map_exception(exc) from None
        latency = time.perf_counter() - t0
        if isinstance(resp, str):   # a 200 whose body is not JSON (an HTML page from a proxy, an event stream)
            raise classify_text_body(resp, env="OPENAI_API_KEY")
        try:
            choice = resp.choices[0]
            text = choice.message.content or ""
            u = resp.usage
            usage = Usage(input_tokens=getattr(u, "prompt_tokens", 0) or 0,
                          output_tokens=getattr(u, "completion_tokens", 0) or 0)
        except (AttributeError, IndexError, TypeError) as exc:
            raise ModelError(f"malformed response: {short(exc)}", kind="malformed_response", retryable=True) from None
        return Completion(text=text, usage=usage, stop_reason=choice.finish_reason, latency_s=latency,
                          model=getattr(resp, "model", "") or self.spec.model)

    async def aclose(self) -> None:
        await self.client.close()
