"""``openai/<model>@<base-url>``: any OpenAI-compatible chat completions server (Ollama, vLLM, llama.cpp).

Local servers (a loopback or private-network base URL) are treated as people run them: one or a few slots, a
small context, no ``json_schema``. On first use the model asks the server what it can tell (llama.cpp's
``/props``, ``/slots``, ``/tokenize``, ``/v1/models`` meta; llama-cpp-python's ``/extras/tokenize/count``) and
keeps the answer in :class:`ServerInfo`, which the runner records in the run's manifest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

import httpx
import openai

from ..errors import ModelError
from .base import Completion, GenerationConfig, Message, ModelSpec, StructuredOutput, Usage
from .errors_map import classify_text_body, map_sdk_exception, short

# Tokens the chat template adds around each message (llama.cpp's ChatML-like templates add 3-5), and a margin
# for the assistant header and a rounding error of the count: what a fitted max_tokens leaves free.
TEMPLATE_TOKENS_PER_MESSAGE = 8
FIT_MARGIN_TOKENS = 16
# A local server computes what it has accepted, whatever the client does: after a timeout the next deadline
# doubles, up to this factor of the configured one, so a slow server is waited for instead of asked again.
MAX_TIMEOUT_SCALE = 4.0

_UNSUPPORTED_PATTERNS = (
    "input should be 'text' or 'json_object'",  # llama-cpp-python's pydantic error for json_schema
    "response_format", "json_schema", "not supported", "unsupported", "not implemented",
)
_CONTEXT_PATTERNS = (
    "exceeds the available context size",     # llama-server: exceed_context_size_error
    "maximum context length",                 # llama-cpp-python, vLLM, OpenAI
    "exceed context window",                  # llama-cpp-python's ValueError text
    "llama_decode returned 1",                # llama.cpp: no room left in the KV cache while decoding
    "context length", "context size",
)


def locality(base_url: str | None) -> str:
    """Where a server runs, from its base URL: ``"loopback"`` (127.0.0.0/8, ::1, localhost), ``"lan"`` (a
    private-network address, ``*.local``/``*.lan``/``*.internal`` or a dotless host name) or ``"remote"``."""
    host = (urlsplit(base_url or "").hostname or "").lower()
    if host in ("localhost", "") or host.endswith(".localhost"):
        return "loopback"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if "." not in host or host.endswith((".local", ".lan", ".internal", ".home.arpa")):
            return "lan"
        return "remote"
    if ip.is_loopback:
        return "loopback"
    return "lan" if ip.is_private or ip.is_link_local else "remote"


@dataclass
class ServerInfo:
    """What is known of an OpenAI-compatible server, and where each fact came from.

    ``slots``: requests it computes at once; ``n_ctx``: its context in tokens; ``tokenizer``: the path of its
    token-count endpoint; ``structured_output``: ``"json_schema"`` or ``"json_object"`` once the judge found out
    (detected on the first rejection); ``*_source`` say where a value came from ("configured", "/props",
    "/slots", "/v1/models meta (training context)", "context error message", "cut answer"...).
    """

    locality: str
    slots: int | None = None
    slots_source: str | None = None
    n_ctx: int | None = None
    n_ctx_source: str | None = None
    tokenizer: str | None = None
    structured_output: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, [])}


def map_exception(exc: BaseException) -> ModelError:
    """Classify an openai SDK exception (or a transport/parse failure) as a ModelError.

    On top of :func:`errors_map.map_sdk_exception`, what local servers say with a 4xx/5xx: a request shape they do
    not support (llama-cpp-python's 500 for ``json_schema``) is kind ``unsupported`` and a prompt or answer that
    does not fit the context (llama-server's 400, llama-cpp-python's 400, llama.cpp's 500 "llama_decode returned
    1") is kind ``context_length``; neither is retried, since the same request fails the same way.
    """
    err = map_sdk_exception(exc, openai, env="OPENAI_API_KEY")
    if err.status is None or err.status < 400 or err.kind in ("auth", "permission", "not_found", "rate_limit", "overloaded"):
        return err
    low = err.message.lower()
    if any(p in low for p in _CONTEXT_PATTERNS):
        return ModelError(f"the request does not fit the server's context ({err.status}): {short(exc)}",
                          kind="context_length", status=err.status)
    if any(p in low for p in _UNSUPPORTED_PATTERNS):
        return ModelError(f"the server does not support this request shape ({err.status}): {short(exc)}; "
                          "retrying will not help", kind="unsupported", status=err.status)
    return err


class _EmptyStream(Exception):
    """A streamed answer that ended with no chunk at all: no token, no finish_reason."""


def _server_seconds(timings: dict) -> float:
    """Compute time from llama.cpp's ``timings`` (prompt_ms + predicted_ms), in seconds."""
    ms = sum(v for k, v in timings.items() if k in ("prompt_ms", "predicted_ms") and isinstance(v, (int, float)))
    return round(ms / 1000, 4)


def context_from_message(message: str) -> int | None:
    """The context size a context-length error states ("maximum context length is 8192 tokens", "context window
    of 8192", "available context size (8192 tokens)"), or None."""
    m = re.search(r"(?:maximum context length is|context window of|context size \()\s*(\d+)", message)
    return int(m.group(1)) if m else None


def strip_fence(text: str) -> str:
    """The JSON inside a markdown code fence (```json ... ```), which small models and some servers add even in
    JSON-schema mode; the text itself when it has no fence."""
    m = re.match(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?\s*```\s*$", text or "", re.S)
    return m.group(1) if m else (text or "")


def json_object(text: str) -> dict | None:
    """``text`` (fenced or not) parsed as one JSON object; None when it is not one."""
    try:
        data = json.loads(strip_fence(text))
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


class OpenAICompatModel:
    """Chat completions via ``openai.AsyncOpenAI`` at ``spec.base_url``; key from ``OPENAI_API_KEY`` (optional).

    Args:
        timeout_s: deadline of one HTTP request, from when it is sent (time waiting for a slot in the harness is
            not counted); connecting gets at most 10 s. A local server streams, so for it this bounds silence (no
            token, no ping), not the whole computation, and it doubles after each timeout, up to
            ``MAX_TIMEOUT_SCALE`` ×.
        server_slots, server_context: what the user configured (``[tool.harness] server_slots`` /
            ``server_context``, ``--server-slots`` / ``--server-context``); None: ask the server.
    """

    def __init__(self, spec: ModelSpec, *, timeout_s: float = 120.0, server_slots: int | None = None,
                 server_context: int | None = None):
        self.spec = spec
        self.base_url = spec.base_url
        self.timeout_s = timeout_s
        self.client = openai.AsyncOpenAI(base_url=spec.base_url, api_key=os.environ.get("OPENAI_API_KEY") or "none",
                                         max_retries=0, timeout=timeout_s)
        self.server = ServerInfo(locality=locality(spec.base_url))
        if server_slots:
            self.server.slots, self.server.slots_source = server_slots, "configured"
        if server_context:
            self.server.n_ctx, self.server.n_ctx_source = server_context, "configured"
        self.timeout_scale = 1.0
        self.stream = self.is_local   # local servers stream: see _streamed
        self._probed = False
        self._probe_lock = asyncio.Lock()
        self._after_timeout = False
        # structured output: "json_schema" until the server rejects it as unsupported, then "json_object" with
        # the schema (llama.cpp's servers accept that), for the rest of this model's life
        self.structured_output = "json_schema"
        self.structured_output_source = "default (accepted)"

    @property
    def is_local(self) -> bool:
        return self.server.locality != "remote"

    @property
    def root_url(self) -> str:
        """The server's root (the base URL without a trailing ``/v1``), where llama.cpp's own endpoints live."""
        return re.sub(r"/v1/?$", "", self.base_url or "")

    def _headers(self) -> dict:
        key = os.environ.get("OPENAI_API_KEY")
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def probe(self) -> ServerInfo:
        """Ask a local server, once, for its slots, context and token counter. Never raises: what the server does
        not answer stays unknown. A remote server is not asked (its limits are the configured ones)."""
        async with self._probe_lock:
            if self._probed or not self.is_local:
                self._probed = True
                return self.server
            self._probed = True
            s = self.server
            async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), headers=self._headers()) as http:
                async def get(path: str):
                    try:
                        r = await http.get(self.root_url + path)
                        return r.json() if r.status_code == 200 else None
                    except (httpx.HTTPError, ValueError):
                        return None

                props = await get("/props")
                if isinstance(props, dict):
                    if s.slots is None and isinstance(props.get("total_slots"), int) and props["total_slots"] > 0:
                        s.slots, s.slots_source = props["total_slots"], "/props total_slots"
                    n = (props.get("default_generation_settings") or {}).get("n_ctx")
                    if s.n_ctx is None and isinstance(n, int) and n > 0:
                        s.n_ctx, s.n_ctx_source = n, "/props n_ctx"
                if s.slots is None or s.n_ctx is None:
                    slots = await get("/slots")
                    if isinstance(slots, list) and slots:
                        if s.slots is None:
                            s.slots, s.slots_source = len(slots), "/slots"
                        n = slots[0].get("n_ctx") if isinstance(slots[0], dict) else None
                        if s.n_ctx is None and isinstance(n, int) and n > 0:
                            s.n_ctx, s.n_ctx_source = n, "/slots n_ctx"
                if s.n_ctx is None:
                    models = await get("/v1/models")
                    for m in (models or {}).get("data", []) if isinstance(models, dict) else []:
                        meta = m.get("meta") if isinstance(m, dict) else None
                        if m.get("id") == self.spec.model or len(models["data"]) == 1:
                            n = (meta or {}).get("n_ctx_train")
                            if isinstance(n, int) and n > 0:
                                s.n_ctx, s.n_ctx_source = n, "/v1/models meta n_ctx_train (training context)"
                for path, body, field_ in (("/tokenize", {"content": "probe"}, "tokens"),
                                           ("/extras/tokenize/count", {"input": "probe", "model": self.spec.model},
                                            "count")):
                    try:
                        r = await http.post(self.root_url + path, json=body)
                        if r.status_code == 200 and field_ in r.json():
                            s.tokenizer = path
                            break
                    except (httpx.HTTPError, ValueError):
                        continue
            return s

    async def count_prompt_tokens(self, system: str, messages: list[Message]) -> tuple[int, bool]:
        """Tokens the request's messages take, with the chat template's overhead: (count, exact). Exact when the
        server's tokenizer answered; otherwise UTF-8 bytes / 3, which over-counts English (~4 characters a
        token) and counts Japanese at ~1 token a character, so a fitted limit errs towards fitting."""
        texts = [system, *(str(m.get("content") or "") for m in messages)]
        overhead = TEMPLATE_TOKENS_PER_MESSAGE * len(texts)
        text = "\n".join(texts)
        if self.server.tokenizer:
            try:
                async with httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s), headers=self._headers()) as h:
                    if self.server.tokenizer == "/tokenize":
                        r = await h.post(self.root_url + "/tokenize", json={"content": text})
                        return len(r.json()["tokens"]) + overhead, True
                    r = await h.post(self.root_url + self.server.tokenizer,
                                     json={"input": text, "model": self.spec.model})
                    return int(r.json()["count"]) + overhead, True
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                pass
        return len(text.encode("utf-8")) // 3 + overhead, False

    async def fit_max_tokens(self, system: str, messages: list[Message], wanted: int) -> tuple[int, dict]:
        """The ``max_tokens`` to send: ``wanted``, lowered to what the server's context leaves after the prompt
        (minus ``FIT_MARGIN_TOKENS``) when the context is known. Returns (max_tokens, facts for the record).

        Raises:
            ModelError: kind ``context_length`` (not retried) when the prompt, counted by the server's own
                tokenizer, leaves no room for an answer.
        """
        n_ctx = self.server.n_ctx
        if not n_ctx:
            return wanted, {}
        prompt, exact = await self.count_prompt_tokens(system, messages)
        room = n_ctx - prompt - FIT_MARGIN_TOKENS
        facts = {"prompt_tokens_counted": prompt, "prompt_count_exact": exact, "n_ctx": n_ctx}
        if room < 1 and exact:
            raise ModelError(f"the prompt takes {prompt} tokens and the server's context is {n_ctx} "
                             f"({self.server.n_ctx_source}): no room for an answer", kind="context_length")
        fitted = min(wanted, max(room, 32))
        return fitted, facts

    async def _wait_for_idle_slot(self) -> float:
        """After a timeout, a local server still computes the abandoned request: wait (up to the deadline) until
        ``/slots`` shows an idle slot, so the retry is not queued behind it (a server without ``/slots`` is not
        waited for: its retry gets the longer deadline instead). Returns seconds waited."""
        t0 = time.perf_counter()
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), headers=self._headers()) as http:
            while time.perf_counter() - t0 < self.timeout_s * self.timeout_scale:
                try:
                    r = await http.get(self.root_url + "/slots")
                    slots = r.json() if r.status_code == 200 else None
                except (httpx.HTTPError, ValueError):
                    slots = None
                if not isinstance(slots, list) or any(not s.get("is_processing") for s in slots
                                                      if isinstance(s, dict)):
                    break
                await asyncio.sleep(0.25)
        return time.perf_counter() - t0

    def _response_format(self, output: StructuredOutput) -> dict:
        if self.structured_output == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": output.name, "schema": output.schema,
                                                           "strict": True}}
        return {"type": "json_object", "schema": output.grammar_schema or output.schema}

    async def generate(self, system: str, messages: list[Message], config: GenerationConfig, *,
                       output: StructuredOutput | None = None) -> Completion:
        """One chat completion; streamed from a local server (see :meth:`_streamed`). ``latency_s`` runs from
        sending to the answer; ``extra`` holds ``queue_s`` (time waited for the server's slot after a timeout),
        ``max_tokens_sent`` and the fitting facts, ``server_s`` when the server reports its timings (llama.cpp),
        and ``usage_counted`` when the server sent no token counts.

        With ``output``, the request carries a ``json_schema`` response format; a server that rejects it as
        unsupported (kind ``unsupported``) is asked again at once with ``json_object`` + the schema, and every
        later request uses that (``structured_output``, recorded in the run's manifest). ``Completion.data`` is
        the answer parsed as a JSON object (a markdown fence stripped), None when it is not one.

        Raises:
            ModelError: see :func:`map_exception`; kind ``timeout`` when the deadline passed: for a local server
                with no byte of the answer (token or ping) for that long, for a remote one with no answer.
        """
        if output is None:
            return await self._complete(system, messages, config, None)
        while True:
            fmt = self._response_format(output)
            try:
                comp = await self._complete(system, messages, config, fmt)
                break
            except ModelError as e:
                if e.kind != "unsupported" or fmt["type"] != "json_schema":
                    raise
                # llama-cpp-python: 500 "Input should be 'text' or 'json_object'"
                self.structured_output = "json_object"
                self.structured_output_source = "detected: the server rejected json_schema"
        return dataclasses.replace(comp, data=json_object(comp.text))

    async def _complete(self, system: str, messages: list[Message], config: GenerationConfig,
                        response_format: dict | None) -> Completion:
        await self.probe()
        queue_s = 0.0
        if self._after_timeout:
            queue_s = await self._wait_for_idle_slot()
            self._after_timeout = False
        max_tokens, facts = await self.fit_max_tokens(system, messages, config.max_tokens)
        params: dict = {"model": self.spec.model, "messages": [{"role": "system", "content": system}, *messages],
                        "max_tokens": max_tokens, "temperature": config.temperature}
        if config.top_p is not None:
            params["top_p"] = config.top_p
        if config.stop:
            params["stop"] = list(config.stop)
        if config.seed is not None:
            params["seed"] = config.seed
        if response_format is not None:
            params["response_format"] = response_format
        deadline = self.timeout_s * self.timeout_scale
        timeout = httpx.Timeout(deadline, connect=min(10.0, deadline))
        t0 = time.perf_counter()
        try:
            if self.stream:
                try:
                    text, finish, usage, model, more = await self._streamed(params, timeout, system, messages)
                except _EmptyStream:
                    # llama-cpp-python fails a streamed request after its 200 (a prompt longer than its context
                    # raises inside the event generator) and closes an empty stream; asked again unstreamed, the
                    # same request gets the server's own error (400 "maximum context length is N tokens", which
                    # also teaches the context) or its answer. On a new connection: the server drops the one
                    # the stream used, and a pooled reuse fails "Server disconnected without sending a response"
                    async with openai.AsyncOpenAI(base_url=self.base_url, max_retries=0, timeout=self.timeout_s,
                                                  api_key=os.environ.get("OPENAI_API_KEY") or "none") as fresh:
                        text, finish, usage, model, more = await self._plain(params, timeout, fresh)
                    more["stream_fallback"] = "the streamed answer ended empty; asked again without streaming"
            else:
                text, finish, usage, model, more = await self._plain(params, timeout)
        except Exception as exc:  # noqa: BLE001
            raise self._failed(exc, deadline) from None
        latency = time.perf_counter() - t0
        if (finish == "length" and self.is_local and self.server.n_ctx is None
                and 0 < usage.output_tokens < max_tokens):
            # cut before max_tokens: the server lowered the limit to what its context had left (llama-cpp-python)
            self.server.n_ctx = usage.input_tokens + usage.output_tokens
            self.server.n_ctx_source = "cut answer (prompt + answer tokens)"
        extra: dict = {"queue_s": round(queue_s, 4), "max_tokens_sent": max_tokens, **facts, **more}
        return Completion(text=text, usage=usage, stop_reason=finish, latency_s=latency,
                          model=model or self.spec.model, extra=extra)

    def _failed(self, exc: BaseException, deadline: float) -> ModelError:
        if isinstance(exc, httpx.TimeoutException):       # raised while reading a stream, outside the SDK
            exc = openai.APITimeoutError(request=getattr(exc, "request", None) or httpx.Request("POST", "/"))  # type: ignore[arg-type]  # the SDK types it as its httpx2.Request; it only keeps the request for reference
        elif isinstance(exc, httpx.TransportError):
            return ModelError(f"connection failed while reading the answer: {short(exc)}", kind="connection",
                              retryable=True)
        err = map_exception(exc)
        if err.kind == "timeout":
            what = "no byte of the answer" if self.is_local else "no answer"
            err = ModelError(f"request timed out: {what} within {deadline:g} s", kind="timeout", retryable=True)
            if self.is_local:
                self._after_timeout = True
                self.timeout_scale = min(MAX_TIMEOUT_SCALE, self.timeout_scale * 2)
        elif err.kind == "context_length" and self.server.n_ctx is None:
            n = context_from_message(err.message)
            if n:
                # learnt from the server's own words: later requests are fitted
                self.server.n_ctx, self.server.n_ctx_source = n, "context error message"
                err.retryable = True
        return err

    async def _plain(self, params: dict, timeout: httpx.Timeout, client: openai.AsyncOpenAI | None = None):
        # params is built as a plain dict; the server validates it
        resp = await (client or self.client).chat.completions.create(**params, timeout=timeout)  # type: ignore[call-overload]
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
        more = {}
        timings = (resp.model_extra or {}).get("timings")
        if isinstance(timings, dict):
            more["server_s"] = _server_seconds(timings)
        return text, choice.finish_reason, usage, getattr(resp, "model", "") or "", more

    async def _streamed(self, params: dict, timeout: httpx.Timeout, system: str, messages: list[Message]):
        """A local server is asked to stream: it shows it is working (tokens; llama-cpp-python also sends pings
        while it evaluates the prompt), so the deadline bounds silence, not the whole computation, and a request
        that is abandoned anyway is stopped by the server at its next token instead of computed to the end."""
        stream = await self.client.chat.completions.create(**params, stream=True,  # type: ignore[call-overload]  # params is built as a plain dict; the server validates it
                                                            stream_options={"include_usage": True},
                                                            timeout=timeout)
        async with stream:   # closes the connection on any failure, so the server stops computing the answer
            return await self._read_stream(stream, system, messages)

    async def _read_stream(self, stream, system: str, messages: list[Message]):
        parts: list[str] = []
        finish = model = None
        usage = None
        more: dict = {}
        chunks = 0
        async for chunk in stream:
            model = model or getattr(chunk, "model", None)
            extra = chunk.model_extra or {}
            if isinstance(extra.get("error"), dict):       # an error event mid-stream (llama.cpp)
                e = extra["error"]
                from .errors_map import from_status
                raise from_status(int(e.get("code") or 500), str(e.get("message")), env="OPENAI_API_KEY")
            if isinstance(extra.get("timings"), dict):
                more["server_s"] = _server_seconds(extra["timings"])
            if chunk.usage is not None:
                usage = chunk.usage
            for c in chunk.choices or []:
                if c.delta is not None and c.delta.content:
                    parts.append(c.delta.content)
                    chunks += 1
                if c.finish_reason:
                    finish = c.finish_reason
        if finish is None:
            response = getattr(stream, "response", None)
            ctype = str(getattr(response, "headers", {}).get("content-type", "")) if response is not None else ""
            if not chunks and usage is None and model is None and ctype.startswith("text/event-stream"):
                # an event stream with no event (not an HTML page or an error body, which are retried as
                # malformed 200s)
                raise _EmptyStream()
            raise ModelError("the answer stream ended without a finish_reason (cut off)", kind="malformed_response",
                             retryable=True)
        if usage is not None:
            u = Usage(input_tokens=usage.prompt_tokens or 0, output_tokens=usage.completion_tokens or 0)
        else:
            # llama-cpp-python sends no usage when streaming: the prompt counted by its tokenizer, the answer as
            # its chunks (its server streams one token a chunk)
            prompt, exact = await self.count_prompt_tokens(system, messages)
            u = Usage(input_tokens=prompt, output_tokens=chunks)
            more["usage_counted"] = "prompt by the server's tokenizer" if exact else "prompt estimated"
        return "".join(parts), finish, u, model or "", more

    async def aclose(self) -> None:
        await self.client.close()
