"""A loopback fake of a local OpenAI-compatible server as people run them: llama.cpp's ``llama-server``,
``llama-cpp-python[server]`` or Ollama, for tests of the harness against slow, small, one-slot servers.

What it reproduces (each switchable), from llama.cpp's server and llama-cpp-python's server:

* **slots**: at most ``slots`` requests compute at once, each for ``compute_s`` seconds; the others wait in the
  server's queue. A client that gives up does not stop the computation (llama-cpp-python computes an abandoned
  request to the end; so did llama-server before it checked for closed connections): ``abandoned`` counts them.
* **a small context** (``n_ctx`` tokens; a token is 4 characters, as :func:`harness.fakeserver.estimate_tokens`,
  plus ``TEMPLATE_TOKENS`` per message for the chat template). A prompt longer than the context is a 400. A prompt
  that fits but leaves less than ``max_tokens``: ``overflow="lower"`` lowers the limit silently and cuts the
  answer with ``finish_reason: "length"`` (llama-cpp-python), ``"error500"`` answers HTTP 500 "llama_decode
  returned 1", ``"error400"`` answers llama-server's ``exceed_context_size_error``.
* **structured output**: ``json_schema=False`` answers a ``response_format`` of type ``json_schema`` with HTTP 500
  "Input should be 'text' or 'json_object'" (llama-cpp-python's pydantic error); ``{"type": "json_object",
  "schema": ...}`` is answered with an instance of the schema; ``fence_json`` wraps JSON answers in a markdown
  fence, as small models do.
* **what the server tells** (``flavour``): ``"llama-server"`` has ``GET /props`` (``total_slots``,
  ``default_generation_settings.n_ctx``), ``GET /slots``, ``POST /tokenize`` and ``meta.n_ctx_train`` in
  ``/v1/models``, and ``timings`` in answers; ``"llama-cpp-python"`` has ``POST /extras/tokenize/count`` only;
  ``"ollama"`` tells nothing (its OLLAMA_NUM_PARALLEL and num_ctx are not visible over the OpenAI API).

Usage: ``with FakeLlamaServer(slots=1, compute_s=0.2) as srv: ... srv.openai_base_url ...``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any, Callable

from aiohttp import web

from .fakeserver import default_responder, estimate_tokens, schema_instance

TEMPLATE_TOKENS = 4
"""Tokens the fake's chat template adds per message (llama.cpp's ChatML-style templates add 3-5)."""

FLAVOURS = ("llama-server", "llama-cpp-python", "ollama")
OVERFLOWS = ("lower", "error500", "error400")


def _tokens(text: str) -> int:
    return estimate_tokens(text)


class FakeLlamaServer:
    """A fake local OpenAI-compatible server on 127.0.0.1, in a background thread (see the module docstring).

    Args:
        slots: requests computed at once (≥ 1); more wait in the server's queue.
        compute_s: seconds each request holds its slot (fixed, whatever the prompt).
        n_ctx: context size in tokens (prompt + answer).
        overflow: what happens when prompt + max_tokens > n_ctx: "lower", "error500" or "error400".
        json_schema: whether ``response_format`` type ``json_schema`` is accepted.
        fence_json: wrap JSON answers in a markdown ```json fence.
        reply_tokens: if set, review answers are padded to this many tokens (then cut at the allowed limit).
        flavour: which info endpoints exist: "llama-server", "llama-cpp-python" or "ollama".
        responder: ``(body) -> str | dict``; default :func:`harness.fakeserver.default_responder`.
    """

    def __init__(self, *, slots: int = 1, compute_s: float = 0.1, n_ctx: int = 8192, overflow: str = "lower",
                 json_schema: bool = True, fence_json: bool = False, reply_tokens: int | None = None,
                 flavour: str = "llama-server", responder: Callable[[dict], Any] | None = None,
                 model: str = "smollm2-fake"):
        if slots < 1:
            raise ValueError("slots must be >= 1")
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
        if overflow not in OVERFLOWS:
            raise ValueError(f"overflow must be one of {OVERFLOWS}, got {overflow!r}")
        self.slots, self.compute_s, self.n_ctx, self.overflow = slots, float(compute_s), int(n_ctx), overflow
        self.json_schema, self.fence_json, self.reply_tokens = json_schema, fence_json, reply_tokens
        self.flavour, self.responder, self.model = flavour, responder or default_responder, model
        self.port = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.started = 0        # chat requests received
        self.computed = 0       # chat requests whose computation ended
        self.delivered = 0      # answers written to a client still waiting
        self.abandoned = 0      # computed, but the client had gone
        self.rejected = 0       # 4xx/5xx answers
        self.max_computing = 0
        self.max_queued = 0
        self.info_requests: dict[str, int] = {}
        self.bodies: list[dict] = []
        self._computing = 0
        self._queued = 0
        self._sem: asyncio.Semaphore | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    def start(self) -> "FakeLlamaServer":
        ready = threading.Event()
        errors: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=main, name="FakeLlamaServer", daemon=True)
        self._thread.start()
        if not ready.wait(30) or errors:
            raise RuntimeError(f"FakeLlamaServer did not start: {errors[0] if errors else 'timeout'}")
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = self._loop = self._runner = None

    def __enter__(self) -> "FakeLlamaServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _astart(self) -> None:
        self._sem = asyncio.Semaphore(self.slots)
        app = web.Application()
        r = app.router
        r.add_post("/v1/chat/completions", self._h_chat)
        r.add_get("/v1/models", self._h_models)
        if self.flavour == "llama-server":
            r.add_get("/props", self._h_props)
            r.add_get("/slots", self._h_slots)
            r.add_post("/tokenize", self._h_tokenize)
        if self.flavour == "llama-cpp-python":
            r.add_post("/extras/tokenize/count", self._h_count)
        # handler_cancellation=False: a client that disconnects does not stop the computation (the real servers)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=False, shutdown_timeout=0.5)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        site = web.SockSite(runner, sock, backlog=128)
        await site.start()
        self.port = sock.getsockname()[1]
        self._runner = runner

    # -- info endpoints ----------------------------------------------------------------------------------------

    def _count_info(self, request: web.Request) -> None:
        with self._lock:
            self.info_requests[request.path] = self.info_requests.get(request.path, 0) + 1

    async def _h_models(self, request: web.Request) -> web.Response:
        self._count_info(request)
        item: dict = {"id": self.model, "object": "model", "owned_by": "me", "created": 0}
        if self.flavour == "llama-server":
            item["meta"] = {"n_ctx_train": 8192, "n_params": 134515008}
        return web.json_response({"object": "list", "data": [item]})

    async def _h_props(self, request: web.Request) -> web.Response:
        self._count_info(request)
        return web.json_response({"total_slots": self.slots, "model_path": f"/models/{self.model}.gguf",
                                  "default_generation_settings": {"n_ctx": self.n_ctx, "params": {"n_predict": -1}}})

    async def _h_slots(self, request: web.Request) -> web.Response:
        self._count_info(request)
        busy = self._computing
        return web.json_response([{"id": i, "n_ctx": self.n_ctx, "is_processing": i < busy}
                                  for i in range(self.slots)])

    async def _h_tokenize(self, request: web.Request) -> web.Response:
        self._count_info(request)
        body = await request.json()
        return web.json_response({"tokens": list(range(_tokens(str(body.get("content", "")))))})

    async def _h_count(self, request: web.Request) -> web.Response:
        self._count_info(request)
        body = await request.json()
        return web.json_response({"count": _tokens(str(body.get("input", "")))})

    # -- chat ------------------------------------------------------------------------------------------------

    def _error(self, status: int, message: str, etype: str) -> web.Response:
        with self._lock:
            self.rejected += 1
        return web.json_response({"error": {"code": status, "message": message, "type": etype}}, status=status)

    def prompt_tokens(self, body: dict) -> int:
        """Tokens the fake counts for a chat request's messages (content at 4 characters a token + template)."""
        msgs = body.get("messages") or []
        return sum(_tokens(str(m.get("content") or "")) + TEMPLATE_TOKENS for m in msgs)

    async def _h_chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        with self._lock:
            self.started += 1
            self.bodies.append(body)
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema" and not self.json_schema:
            return self._error(500, "1 validation error for CreateChatCompletionRequest\nresponse_format.type\n  "
                               "Input should be 'text' or 'json_object' [type=literal_error, input_value="
                               "'json_schema', input_type=str]", "internal_server_error")
        prompt = self.prompt_tokens(body)
        if prompt >= self.n_ctx:
            return self._context_error(prompt, int(body.get("max_tokens") or 0))
        want = int(body.get("max_tokens") or 0) or self.n_ctx - prompt
        allowed = want
        if prompt + want > self.n_ctx:
            if self.overflow == "error400":
                return self._context_error(prompt, want)
            allowed = self.n_ctx - prompt
        assert self._sem is not None
        with self._lock:
            self._queued += 1
            self.max_queued = max(self.max_queued, self._queued)
        async with self._sem:
            with self._lock:
                self._queued -= 1
                self._computing += 1
                self.max_computing = max(self.max_computing, self._computing)
            try:
                await asyncio.sleep(self.compute_s)
            finally:
                with self._lock:
                    self._computing -= 1
                    self.computed += 1
        if prompt + want > self.n_ctx and self.overflow == "error500":
            return self._error(500, "llama_decode returned 1", "internal_server_error")
        text, finish = self._answer(body, allowed)
        completion = _tokens(text)
        payload: dict = {
            "id": f"chatcmpl-{self.started}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}
        if self.flavour == "llama-server":
            payload["timings"] = {"prompt_ms": self.compute_s * 500, "predicted_ms": self.compute_s * 500}
        transport = request.transport
        if transport is None or transport.is_closing():
            with self._lock:
                self.abandoned += 1
            return web.Response(status=499)
        with self._lock:
            self.delivered += 1
        return web.json_response(payload)

    def _context_error(self, prompt: int, max_tokens: int) -> web.Response:
        if self.flavour == "llama-cpp-python":
            return self._error(400, f"This model's maximum context length is {self.n_ctx} tokens. However, you "
                               f"requested {prompt + max_tokens} tokens ({prompt} in the messages, {max_tokens} in "
                               "the completion). Please reduce the length of the messages or completion.",
                               "invalid_request_error")
        return self._error(400, f"the request exceeds the available context size ({self.n_ctx} tokens), try "
                           "increasing it", "exceed_context_size_error")

    def _answer(self, body: dict, allowed: int) -> tuple[str, str]:
        result = self.responder(body)
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_object" and isinstance(fmt.get("schema"), dict) and result == \
                default_responder(body):
            result = schema_instance(fmt["schema"]) or {}
        if isinstance(result, dict):
            text = json.dumps(result)
            if self.fence_json:
                text = f"```json\n{text}\n```"
        else:
            text = str(result)
            if self.reply_tokens:
                text = (text + " ") * (self.reply_tokens * 4 // (len(text) + 1) + 1)
                text = text[: self.reply_tokens * 4]
        if _tokens(text) > allowed:
            return text[: allowed * 4], "length"
        return text, "stop"
