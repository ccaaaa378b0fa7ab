"""A loopback fake of a local OpenAI-compatible server as people run them: llama.cpp's ``llama-server``,
``llama-cpp-python[server]`` or Ollama, for tests of the harness against slow, small, one-slot servers.

What it reproduces (each switchable), from llama.cpp's server and llama-cpp-python's server:

* **slots**: at most ``slots`` requests compute at once, each for ``compute_s`` seconds; the others wait in the
  server's queue. As in llama-cpp-python's server: a plain request whose client gives up is computed to the end
  anyway (``abandoned``), unless the client left before its turn came (``dropped``); a streamed one is stopped at
  the next token (``cancelled``). Streaming answers one token (4 characters) a chunk; the "llama-cpp-python"
  flavour sends its headers at once and a ping comment every ``ping_s`` while computing, and no usage chunk.
* **a small context** (``n_ctx`` tokens; a token is 4 characters, as :func:`harness.testing.fakeserver.estimate_tokens`,
  plus ``TEMPLATE_TOKENS`` per message for the chat template). A prompt longer than the context is a 400 (streamed
  to the "llama-cpp-python" flavour: a 200 whose stream ends with no event, as that server does). A prompt
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

try:
    from aiohttp import web
except ModuleNotFoundError as e:  # an optional dependency: say which extra brings it
    raise ModuleNotFoundError(f"{__name__} needs aiohttp: pip install 'harness[testing]' "
                              "(from a checkout: pip install -e '.[testing]')", name=e.name) from e

from .fakeserver import default_responder, estimate_tokens, schema_instance

TEMPLATE_TOKENS = 4
"""Tokens the fake's chat template adds per message (llama.cpp's ChatML-style templates add 3-5)."""

FLAVOURS = ("llama-server", "llama-cpp-python", "ollama")
OVERFLOWS = ("lower", "error500", "error400")


def _tokens(text: str) -> int:
    return estimate_tokens(text)


def _instance(schema):
    """:func:`harness.fakeserver.schema_instance`, plus tuples (``prefixItems``, as in the judge's schema narrowed
    to a case): one instance per listed item."""
    if isinstance(schema, dict) and schema.get("type") == "object" and isinstance(schema.get("properties"), dict):
        return {k: _instance(v) for k, v in schema["properties"].items()}
    if isinstance(schema, dict) and isinstance(schema.get("prefixItems"), list):
        return [_instance(item) for item in schema["prefixItems"]]
    return schema_instance(schema)


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
        responder: ``(body) -> str | dict``; default :func:`harness.testing.fakeserver.default_responder`.
        ping_s: for a streamed request to the "llama-cpp-python" flavour, the interval of the SSE comment lines
            sent while computing (sse-starlette's pings; 15 s in the real server). The other flavours send nothing
            before the first token.
    """

    def __init__(self, *, slots: int = 1, compute_s: float = 0.1, n_ctx: int = 8192, overflow: str = "lower",
                 json_schema: bool = True, fence_json: bool = False, reply_tokens: int | None = None,
                 flavour: str = "llama-server", responder: Callable[[dict], Any] | None = None,
                 model: str = "smollm2-fake", ping_s: float = 0.05):
        if slots < 1:
            raise ValueError("slots must be >= 1")
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
        if overflow not in OVERFLOWS:
            raise ValueError(f"overflow must be one of {OVERFLOWS}, got {overflow!r}")
        self.slots, self.compute_s, self.n_ctx, self.overflow = slots, float(compute_s), int(n_ctx), overflow
        self.json_schema, self.fence_json, self.reply_tokens = json_schema, fence_json, reply_tokens
        self.flavour, self.responder, self.model = flavour, responder or default_responder, model
        self.ping_s = ping_s
        self.port = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.started = 0        # chat requests received
        self.computed = 0       # chat requests whose computation ended
        self.delivered = 0      # answers written to a client still waiting
        self.abandoned = 0      # computed, but the client had gone
        self.dropped = 0        # the client left while the request waited for a slot: never computed
        self.cancelled = 0      # streamed, and the client left during the computation: stopped
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

    @staticmethod
    def _gone(request: web.Request) -> bool:
        transport = request.transport
        return transport is None or transport.is_closing()

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
            if body.get("stream") and self.flavour == "llama-cpp-python":
                # llama-cpp-python checks the prompt's length inside its event generator, after the 200 and the
                # headers: the ValueError ends the stream with no event at all
                with self._lock:
                    self.rejected += 1
                empty = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await empty.prepare(request)
                await empty.write_eof()
                return empty
            return self._context_error(prompt, int(body.get("max_tokens") or 0))
        want = int(body.get("max_tokens") or 0) or self.n_ctx - prompt
        allowed = want
        if prompt + want > self.n_ctx:
            if self.overflow == "error400":
                return self._context_error(prompt, want)
            allowed = self.n_ctx - prompt
        stream = bool(body.get("stream"))
        resp: web.StreamResponse | None = None
        if stream and self.flavour == "llama-cpp-python":
            # sse-starlette sends the headers at once, then a comment line every ping interval while it computes
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
        pinger = asyncio.create_task(self._ping(resp)) if resp is not None else None
        try:
            computed = await self._compute(request, stream)
        finally:
            if pinger is not None:
                pinger.cancel()
        if not computed:
            return resp if resp is not None else web.Response(status=499)
        if prompt + want > self.n_ctx and self.overflow == "error500":
            if resp is not None:
                await resp.write(b'data: {"error": {"message": "llama_decode returned 1", "code": 500}}\n\n')
                return resp
            return self._error(500, "llama_decode returned 1", "internal_server_error")
        text, finish = self._answer(body, allowed)
        completion = _tokens(text)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        timings = {"prompt_ms": self.compute_s * 500, "predicted_ms": self.compute_s * 500}
        if stream:
            return await self._stream(request, resp, body, text, finish, usage, timings)
        payload: dict = {
            "id": f"chatcmpl-{self.started}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": usage}
        if self.flavour == "llama-server":
            payload["timings"] = timings
        if self._gone(request):
            with self._lock:
                self.abandoned += 1
            return web.Response(status=499)
        with self._lock:
            self.delivered += 1
        return web.json_response(payload)

    async def _ping(self, resp: web.StreamResponse) -> None:
        try:
            while True:
                await asyncio.sleep(self.ping_s)
                await resp.write(b": ping\n\n")
        except (ConnectionError, RuntimeError):
            return

    async def _compute(self, request: web.Request, stream: bool) -> bool:
        """Hold a slot for ``compute_s``. A request whose client left while it waited for the slot is dropped
        (llama-cpp-python checks before computing); a streamed one whose client leaves is cancelled at the next
        token; a plain one is computed to the end (counted ``abandoned`` when its answer finds no client)."""
        assert self._sem is not None
        with self._lock:
            self._queued += 1
            self.max_queued = max(self.max_queued, self._queued)
        async with self._sem:
            with self._lock:
                self._queued -= 1
            if self._gone(request):
                with self._lock:
                    self.dropped += 1
                return False
            with self._lock:
                self._computing += 1
                self.max_computing = max(self.max_computing, self._computing)
            try:
                end = time.monotonic() + self.compute_s
                while (left := end - time.monotonic()) > 0:
                    await asyncio.sleep(min(left, 0.02))
                    if stream and self._gone(request):
                        with self._lock:
                            self.cancelled += 1
                        return False
            finally:
                with self._lock:
                    self._computing -= 1
                    self.computed += 1
        return True

    async def _stream(self, request: web.Request, resp: web.StreamResponse | None, body: dict, text: str,
                      finish: str, usage: dict, timings: dict) -> web.StreamResponse:
        if resp is None:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
        base = {"id": f"chatcmpl-{self.started}", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body.get("model", self.model)}

        def chunk(delta: dict, finish_reason: str | None = None, **more) -> bytes:
            data = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **more}
            return f"data: {json.dumps(data)}\n\n".encode()

        try:
            await resp.write(chunk({"role": "assistant", "content": ""}))
            for i in range(0, len(text), 4):          # one token (4 characters) a chunk, as llama.cpp streams
                await resp.write(chunk({"content": text[i:i + 4]}))
            last: dict = {"timings": timings} if self.flavour == "llama-server" else {}
            await resp.write(chunk({}, finish, **last))
            if (body.get("stream_options") or {}).get("include_usage") and self.flavour != "llama-cpp-python":
                await resp.write(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            with self._lock:
                self.abandoned += 1
            return resp
        with self._lock:
            # aiohttp drops writes to a connection the client closed: a client gone by now did not get it all
            if self._gone(request):
                self.abandoned += 1
            else:
                self.delivered += 1
        return resp

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
            result = _instance(fmt["schema"]) or {}
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
