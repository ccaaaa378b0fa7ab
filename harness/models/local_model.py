"""``local/smollm2-135m``: the embedded model, SmolLM2-135M-Instruct (GGUF, see :mod:`.local_weights`), run with
``cyllama``: llama.cpp bindings published as manylinux wheels, so installing them compiles nothing. No network at
run time.

The prompt is the model's own chat template (from the GGUF, applied by llama.cpp) over ``[system, *messages]``,
split into two segments: the system turn and the rest. The engine remembers which tokens' KV is in its context;
when the next prompt starts with the same system turn, that KV is kept (``llama_memory_seq_rm`` after it) and only
the rest is evaluated (``kv_reuse=True``). Each segment is evaluated in ``N_BATCH``-token chunks counted from the
segment's start, whatever the cache held before: llama.cpp's numerics depend on how a prompt is cut into batches,
so this keeps a temperature-0 reply identical with or without reuse and in any order of cases. Calls are
serialised: one model, one context.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from functools import lru_cache

from ..errors import ModelError
from .base import Completion, GenerationConfig, Message, ModelSpec, StructuredOutput, Usage
from .local_weights import GGUF_NAME, gguf_path  # noqa: F401 - gguf_path is re-exported for callers and tests

N_BATCH = 512
# One thread per generated token, every core for the prompt, and OpenMP threads that sleep instead of spinning at
# barriers. A single token's forward pass of a 135M model is too small to share; on a 2-core machine busy with
# other work, spinning threads wait for each other's time slices. Measured here (load 15, 512-token prompt):
# 2 threads spinning 30 prompt tok/s, 0.2-1.0 generated tok/s; 1 generation thread + passive waits 47 and 17-21
# (llama-cpp-python 0.3.36 built here: 16 and 0.6-1.6).
GEN_THREADS = 1
# llama-cpp-python's sampling defaults for temperature > 0, kept so seeded samples read as they did before.
TOP_K = 40
MIN_P = 0.05


def _cyllama():
    # libgomp reads this when it is loaded, i.e. on cyllama's import; a user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        from cyllama.llama import llama_cpp
    except ImportError:
        raise ModelError("cyllama is not installed: run `pip install cyllama`", kind="not_installed") from None
    return llama_cpp


class Engine:
    """One loaded GGUF and one llama.cpp context (``n_ctx`` tokens, ``n_threads`` threads for the prompt,
    ``GEN_THREADS`` for each generated token), shared by every :class:`LocalModel` built with the same settings.

    Attributes:
        cached: the tokens whose KV is in the context, in order (position i holds ``cached[i]``).
        lock: held for a whole generation; llama.cpp contexts are not thread-safe.
    """

    def __init__(self, path: str, n_ctx: int, n_threads: int):
        ll = _cyllama()
        self.ll = ll
        ll.disable_logging()
        ll.ggml_backend_load_all()
        self.model = ll.LlamaModel(path, ll.LlamaModelParams())
        self.vocab = self.model.get_vocab()
        cp = ll.LlamaContextParams()
        cp.n_ctx = n_ctx
        cp.n_batch = N_BATCH
        cp.n_ubatch = N_BATCH
        cp.n_threads = min(GEN_THREADS, n_threads)
        cp.n_threads_batch = n_threads
        cp.no_perf = False
        self.ctx = ll.LlamaContext(self.model, cp)
        # Lets cancel() abort a long prompt evaluation mid-batch, not only between generated tokens.
        self.ctx.install_cancel_callback()
        self.n_ctx = n_ctx
        self.lock = threading.Lock()
        self.cached: list[int] = []
        self._state = threading.Lock()
        self._current: threading.Event | None = None

    def prompt_tokens(self, system: str, messages: list[Message]) -> tuple[list[int], int]:
        """The chat-templated prompt's tokens (ending with the assistant turn's header) and the length of its
        system-turn segment (0 when the template does not keep the system turn as a token prefix)."""
        msg = self.ll.LlamaChatMessage
        chat = [msg(role="system", content=system)] + [msg(role=m["role"], content=m["content"]) for m in messages]
        text = self.model.chat_apply_template(None, chat, True)
        head_text = self.model.chat_apply_template(None, chat[:1], False)
        tokens = self.vocab.tokenize(text, add_special=False, parse_special=True)
        head = self.vocab.tokenize(head_text, add_special=False, parse_special=True)
        ok = text.startswith(head_text) and len(head) < len(tokens) and tokens[:len(head)] == head
        return tokens, len(head) if ok else 0

    def cancel(self, event: threading.Event) -> None:
        """Cancel the generation that owns ``event``: at once if it is running (even mid-batch), else as soon
        as it starts."""
        with self._state:
            event.set()
            if self._current is event:
                self.ctx.cancel = True

    def _own(self, event: threading.Event | None) -> None:
        with self._state:
            self._current = event
            self.ctx.cancel = bool(event is not None and event.is_set())

    def reset(self) -> None:
        """Forget the KV cache and the tokens it held: the next prompt is evaluated from its first token."""
        self.ctx.kv_cache_clear()
        self.cached = []

    def _decode(self, tokens: list[int], pos: int) -> None:
        try:
            self.ctx.decode(self.ll.llama_batch_get_one(tokens, pos))
        except InterruptedError:
            raise ModelError("generation cancelled", kind="cancelled") from None
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"llama.cpp could not evaluate the prompt: {e}", kind="server") from None

    def prefill(self, tokens: list[int], head: int, reuse: bool) -> int:
        """Put ``tokens``' KV in the context, keeping the system segment ``tokens[:head]`` if the context already
        holds it and ``reuse`` is set. Returns how many prompt tokens were evaluated.

        Raises:
            ModelError(kind="cancelled"|"server"): the evaluation was aborted or failed (the KV is then cleared).
        """
        keep = head if reuse and head and self.cached[:head] == tokens[:head] else 0
        if keep:
            self.ctx.memory_seq_rm(0, keep, -1)
            self.cached = self.cached[:keep]
        else:
            self.reset()
        try:
            for start, end in ((0, head), (head, len(tokens))):
                for i in range(max(start, keep), end, N_BATCH):
                    chunk = tokens[i:min(i + N_BATCH, end)]
                    self._decode(chunk, i)
                    self.cached.extend(chunk)
        except BaseException:
            self.reset()
            raise
        return len(tokens) - keep

    def sampler(self, config: GenerationConfig):
        """A fresh sampler chain: greedy at temperature 0, else top-k 40 → top-p → min-p 0.05 → temperature →
        draw with ``config.seed`` (0 when unset), as llama-cpp-python did."""
        ll = self.ll
        s = ll.LlamaSampler(ll.LlamaSamplerChainParams())
        if config.temperature == 0:
            s.add_greedy()
        else:
            s.add_top_k(TOP_K)
            s.add_top_p(config.top_p if config.top_p is not None else 1.0, 1)
            s.add_min_p(MIN_P, 1)
            s.add_temp(config.temperature)
            s.add_dist(config.seed if config.seed is not None else 0)
        return s

    def generate(self, tokens: list[int], config: GenerationConfig, event: threading.Event) -> tuple[str, int, str]:
        """Sample up to ``config.max_tokens`` tokens after a prefilled prompt. Returns the text, the number of
        tokens generated (the end-of-turn token not counted) and the stop reason: ``"stop"`` (end of turn or a
        stop string) or ``"length"`` (cut at ``max_tokens``).

        Raises:
            ModelError(kind="cancelled"): ``event`` was set.
        """
        sampler = self.sampler(config)
        out: list[int] = []
        stops = tuple(config.stop or ())
        reason, text = "length", None
        pos = len(tokens)
        try:
            for _ in range(config.max_tokens):
                if event.is_set():
                    raise ModelError("generation cancelled", kind="cancelled")
                tok = sampler.sample(self.ctx, -1)
                if self.vocab.is_eog(tok):
                    reason = "stop"
                    break
                out.append(tok)
                if stops:
                    so_far = self.vocab.detokenize(out)
                    cut = min((i for i in (so_far.find(s) for s in stops) if i >= 0), default=-1)
                    if cut >= 0:
                        reason, text = "stop", so_far[:cut]
                        break
                if len(out) == config.max_tokens:
                    break  # its KV would serve nothing
                self._decode([tok], pos)
                self.cached.append(tok)
                pos += 1
        except BaseException:
            self.reset()
            raise
        return (self.vocab.detokenize(out) if text is None else text), len(out), reason


@lru_cache(maxsize=2)
def _engine(path: str, n_ctx: int, n_threads: int) -> Engine:
    return Engine(path, n_ctx, n_threads)


class LocalModel:
    """SmolLM2-135M-Instruct through cyllama (llama.cpp).

    Args:
        n_ctx: context window in tokens (the model was trained with 8,192).
        n_threads: llama.cpp threads for the prompt (default: every core); each generated token uses
            ``GEN_THREADS`` (1).
        kv_reuse: keep the system prompt's KV cache between calls so it is evaluated once.

    A prompt that does not fit ``n_ctx - max_tokens`` raises ModelError(kind="context_length"), recorded as a
    per-sample error by the runner. ``last_prompt_eval`` is the number of prompt tokens the last call evaluated
    (the rest came from the KV cache).
    """

    def __init__(self, spec: ModelSpec, *, n_ctx: int = 8192, n_threads: int | None = None, kv_reuse: bool = True):
        self.spec = spec
        self.base_url: str | None = None
        self.n_ctx = n_ctx
        self.kv_reuse = kv_reuse
        self.n_threads = n_threads or max(1, os.cpu_count() or 1)
        self.engine = _engine(str(gguf_path(fetch=False)), n_ctx, self.n_threads)
        self.last_prompt_eval = 0

    def count_tokens(self, system: str, messages: list[Message]) -> int:
        """Tokens of the chat-templated prompt, the assistant turn's header included."""
        with self.engine.lock:
            return len(self.engine.prompt_tokens(system, messages)[0])

    def _generate_sync(self, system: str, messages: list[Message], config: GenerationConfig,
                       event: threading.Event) -> Completion:
        eng = self.engine
        with eng.lock:
            tokens, head = eng.prompt_tokens(system, messages)
            if len(tokens) + config.max_tokens > self.n_ctx:
                raise ModelError(f"the prompt is {len(tokens)} tokens; with max_tokens={config.max_tokens} it exceeds "
                                 f"the embedded model's context of {self.n_ctx} tokens", kind="context_length")
            if event.is_set():
                raise ModelError("generation cancelled", kind="cancelled")
            t0 = time.perf_counter()
            eng._own(event)
            try:
                self.last_prompt_eval = eng.prefill(tokens, head, self.kv_reuse)
                text, n_out, reason = eng.generate(tokens, config, event)
            finally:
                eng._own(None)
            latency = time.perf_counter() - t0
        return Completion(text=text.strip(), stop_reason=reason, latency_s=latency,
                          usage=Usage(input_tokens=len(tokens), output_tokens=n_out),
                          model=GGUF_NAME.removesuffix(".gguf"))

    async def generate(self, system: str, messages: list[Message], config: GenerationConfig, *,
                       output: StructuredOutput | None = None) -> Completion:
        """One completion on llama.cpp, off the event loop; cancelling the task stops generation within a token.

        Raises:
            ModelError: kind ``unsupported`` when ``output`` asks for structured output (a 135M model cannot
                follow a schema); the engine's failures (``context_length``, ``cancelled``, ``server``).
        """
        if output is not None:
            raise ModelError("the embedded model cannot answer in a JSON schema (structured output); use "
                             "anthropic/<id> or openai/<model>@<url>", kind="unsupported")
        event = threading.Event()
        try:
            return await asyncio.to_thread(self._generate_sync, system, messages, config, event)
        except asyncio.CancelledError:
            # The worker thread goes on until it sees the flag: within one batch of the prompt or one token.
            self.engine.cancel(event)
            raise

    async def aclose(self) -> None:
        return None
