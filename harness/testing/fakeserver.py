"""A loopback fake of Anthropic's Messages API (plus an OpenAI-compatible chat endpoint) for tests and benchmarks.

The fake speaks real HTTP on ``127.0.0.1`` so the real ``anthropic`` and ``openai`` SDKs are exercised end to
end, and it can inject faults (rate limits, overload, 5xx, timeouts, dropped connections, truncated or
malformed bodies) in a scripted or seeded-random way. It runs an aiohttp server on its own event loop in a
background thread, so synchronous tests and code running other event loops can both use it::

    with FakeServer(latency_s=0.2, faults=FaultPlan(rate=0.3, kinds=["429", "529"])) as server:
        client = anthropic.Anthropic(base_url=server.base_url, api_key="sk-ant-fake", max_retries=0)
        ...
        assert server.completed == 10

Endpoints:

* ``POST /v1/messages`` (JSON or server-sent events when ``"stream": true``), ``POST /v1/messages/count_tokens``;
* ``/v1/messages/batches`` (create, list, retrieve, results, cancel, delete), optionally persisted to
  ``state_dir`` so a new server resumes the batches of an old one;
* ``POST /v1/chat/completions`` (OpenAI shape, JSON or SSE), ``GET /v1/models`` (a list both SDKs parse) and
  ``GET /v1/models/{id}``. Model ids in ``missing_models`` (retired or mistyped) get 404 ``not_found_error`` from
  every endpoint and are not listed; ids in ``deprecated_models`` are listed and retrievable but every request
  naming them gets 400 ``invalid_request_error`` (messages, count_tokens, chat completions).

The server never writes the API key it receives to a log, to stdout or to ``state_dir``; it keeps the headers
it received in memory only (``received``), and their ``repr`` masks credentials.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import os
import random
import re
import socket
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

try:
    from aiohttp import web
except ModuleNotFoundError as e:  # an optional dependency: say which extra brings it
    raise ModuleNotFoundError(f"{__name__} needs aiohttp: pip install 'harness[testing]' "
                              "(from a checkout: pip install -e '.[testing]')", name=e.name) from e

__all__ = [
    "FAULT_KINDS",
    "FakeServer",
    "FaultPlan",
    "ReceivedRequest",
    "Reply",
    "ScriptedResponder",
    "default_responder",
    "estimate_tokens",
    "fingerprint",
    "schema_instance",
]

log = logging.getLogger(__name__)

FAULT_KINDS: tuple[str, ...] = (
    "429",  # rate_limit_error with a retry-after header (value: FakeServer(retry_after=...))
    "429-no-retry-after",  # rate_limit_error without any retry-after header
    "529",  # overloaded_error
    "500",  # api_error
    "502",  # api_error (bad gateway)
    "503",  # api_error (service unavailable)
    "400",  # invalid_request_error
    "401",  # authentication_error
    "404",  # not_found_error
    "timeout",  # sleep ``timeout_fault_s`` (longer than the client's timeout), then answer normally
    "drop",  # close the connection without sending any response
    "truncated",  # 200 whose JSON body is cut in half (Content-Length of the cut body); SSE: stream ends early
    "malformed",  # 200 whose body is not JSON (SSE: an event whose data is not JSON)
    "stream-error",  # SSE: an ``error`` event (overloaded_error) mid-stream; non-streaming request: a 529
    "stream-drop",  # the connection is aborted mid-body (SSE: after a few events; JSON: after half the body)
    "error-200",  # 200 whose JSON body is an error ({"type": "error", "error": {"type": "overloaded_error"}})
    "sse-error-200",  # 200 text/event-stream whose first event is an overloaded error (streaming or not)
    "html-200",  # 200 text/html page from a "proxy" (the SDK hands back a str)
    "drip",  # 200 whose body is sent one byte every ``drip_interval_s``: never a read timeout, never done
)
"""Every fault kind the server can inject (``faults_injected`` counts each separately)."""

_STATUS_FAULTS: dict[str, tuple[int, str, str]] = {
    "429": (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit (fake)"),
    "429-no-retry-after": (429, "rate_limit_error", "Number of requests has exceeded your rate limit (fake)"),
    "529": (529, "overloaded_error", "Overloaded"),
    "500": (500, "api_error", "Internal server error"),
    "502": (502, "api_error", "Bad gateway"),
    "503": (503, "api_error", "Service unavailable"),
    "400": (400, "invalid_request_error", "Injected invalid request"),
    "401": (401, "authentication_error", "invalid x-api-key"),
    "404": (404, "not_found_error", "Not found"),
}

_OPENAI_ERROR_TYPES = {
    400: "invalid_request_error", 401: "invalid_api_key", 404: "not_found_error", 429: "rate_limit_exceeded",
    500: "server_error", 502: "server_error", 503: "server_error", 529: "server_error",
}

_CREDENTIAL_HEADERS = ("x-api-key", "authorization", "proxy-authorization", "api-key")


# --------------------------------------------------------------------------------------------------------------
# Small pure helpers


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _wire(obj: Any) -> bytes:
    """The JSON bytes sent: UTF-8, or ASCII escapes when the text holds a lone surrogate (which UTF-8 cannot
    carry, and which a real API then sends as a ``\\udXXX`` escape that the client decodes back into one)."""
    text = _canonical(obj)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def fingerprint(body: Mapping[str, Any]) -> str:
    """The request fingerprint: sha256 (hex) of the canonical JSON of the body's ``model``, ``system`` and ``messages``.

    Tests compute the same value on their side to look up ``FakeServer.requests_by_key``. Sampling parameters,
    ``stream`` and ``metadata`` are deliberately not part of it, so a retried or re-streamed sample has the same key.
    """
    key = {"model": body.get("model"), "system": body.get("system"), "messages": body.get("messages")}
    return hashlib.sha256(_canonical(key).encode("utf-8")).hexdigest()


def flatten_text(obj: Any) -> str:
    """The text an estimate of tokens is based on: strings as they are, blocks by their text or JSON."""
    if obj is None:
        return ""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, (list, tuple)):
        return "".join(flatten_text(x) for x in obj)
    if isinstance(obj, dict):
        if isinstance(obj.get("text"), str):
            return obj["text"]
        if "content" in obj:
            return flatten_text(obj["content"])
        if "input" in obj:
            return _canonical(obj["input"])
        return _canonical({k: v for k, v in obj.items() if k != "cache_control"})
    return str(obj)


def estimate_tokens(obj: Any) -> int:
    """A deterministic token estimate: ``len(text) // 4`` (at least 1 for non-empty text, 0 for nothing)."""
    text = flatten_text(obj)
    return max(1, len(text) // 4) if text else 0


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat().replace("+00:00", "Z")


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def schema_instance(schema: Any, hint: str = "fake", _root: Any = None, _depth: int = 0) -> Any:
    """A minimal value that validates against a JSON schema (objects get every property filled in).

    Used by the default responder to answer forced tool calls and OpenAI ``json_schema`` response formats.
    Understands ``$ref`` (local), ``enum``, ``const``, ``default``, ``anyOf``/``oneOf``/``allOf``, ``minItems``,
    ``minimum`` and the basic types; strings become ``hint``.
    """
    root = schema if _root is None else _root
    if not isinstance(schema, dict) or _depth > 20:
        return None
    if "$ref" in schema and isinstance(schema["$ref"], str) and schema["$ref"].startswith("#/"):
        target: Any = root
        for part in schema["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return schema_instance(target, hint, root, _depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = [s for s in schema[key] if not (isinstance(s, dict) and s.get("type") == "null")]
            return schema_instance((options or schema[key])[0], hint, root, _depth + 1)
    if schema.get("allOf"):
        merged: dict = {}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged.update(part)
        return schema_instance(merged, hint, root, _depth + 1)
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "null")
    if typ is None:
        typ = "object" if "properties" in schema else "string"
    if typ == "object":
        props = schema.get("properties") or {}
        return {name: schema_instance(sub, hint, root, _depth + 1) for name, sub in props.items()}
    if typ == "array":
        n = int(schema.get("minItems", 0) or 0)
        return [schema_instance(schema.get("items", {}), hint, root, _depth + 1) for _ in range(n)]
    if typ == "string":
        n = int(schema.get("minLength", 0) or 0)
        return hint if len(hint) >= n else hint + "x" * (n - len(hint))
    if typ == "integer":
        return int(schema.get("minimum", 0))
    if typ == "number":
        return float(schema.get("minimum", 0))
    if typ == "boolean":
        return False
    return None


_FILE_RE = re.compile(
    r"(?<![\w/.-])((?:[\w.-]+/)*[\w-][\w.-]*\.(?:py|pyi|js|jsx|ts|tsx|go|rs|java|kt|c|h|cc|cpp|hpp|cs|rb|php|"
    r"swift|scala|sh|sql|md|txt|yaml|yml|json|toml|ini|cfg|html|css|diff|patch))\b"
)


def _request_text(body: Mapping[str, Any]) -> str:
    return flatten_text(body.get("system")) + "\n" + flatten_text(body.get("messages"))


def _forced_tool(body: Mapping[str, Any]) -> dict | None:
    """The tool a request forces (``tool_choice`` ``tool``/``any``; OpenAI ``function``/``required``), if any."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if not tools or not isinstance(choice, dict):
        if choice == "required" and tools:  # OpenAI string form
            return tools[0]
        return None
    ctype = choice.get("type")
    if ctype == "tool":
        return next((t for t in tools if t.get("name") == choice.get("name")), None)
    if ctype == "function" and isinstance(choice.get("function"), dict):  # OpenAI
        name = choice["function"].get("name")
        return next((t for t in tools if (t.get("function") or {}).get("name") == name), None)
    if ctype == "any":
        return tools[0]
    return None


def _tool_name(tool: Mapping[str, Any]) -> str:
    return tool.get("name") or (tool.get("function") or {}).get("name") or "tool"


def _tool_schema(tool: Mapping[str, Any]) -> dict:
    return tool.get("input_schema") or (tool.get("function") or {}).get("parameters") or {}


def default_responder(body: Mapping[str, Any]) -> str | dict:
    """The default answer: a short deterministic review of the first file named in the request.

    A request that forces a tool gets a minimal instance of that tool's input schema; an OpenAI request with a
    ``json_schema`` response format gets a minimal instance of that schema (both as a dict).
    """
    text = _request_text(body)
    m = _FILE_RE.search(text)
    name = m.group(1) if m else "the submitted code"
    digest = fingerprint(body)[:8]
    review = f"Review of {name}: no blocking defects found; consider adding tests. (fake review {digest})"
    tool = _forced_tool(body)
    if tool is not None:
        return schema_instance(_tool_schema(tool), hint=review) or {}
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return schema_instance((fmt.get("json_schema") or {}).get("schema") or {}, hint=review) or {}
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return {"review": review}
    return review


# --------------------------------------------------------------------------------------------------------------
# Public value types


@dataclass
class Reply:
    """A full answer from a responder.

    Give one of ``text`` (a single text block), ``content`` (a complete Messages-API content list, e.g. text and
    tool_use blocks; missing tool_use ids are filled in) or ``tool_input`` (one tool_use block; ``tool_name``
    defaults to the forced tool, else the first tool). ``stop_reason`` defaults to ``"tool_use"`` when there is a
    tool_use block, ``"max_tokens"`` when the text had to be cut to ``max_tokens``, else ``"end_turn"``.
    ``output_tokens`` overrides the estimate; ``delay_s`` adds latency to this one answer.
    """

    text: str | None = None
    content: list[dict] | None = None
    tool_input: dict | None = None
    tool_name: str | None = None
    stop_reason: str | None = None
    output_tokens: int | None = None
    delay_s: float = 0.0


Responder = Callable[[dict], Any]


class ScriptedResponder:
    """A responder that plays scripted replies: ``replies`` in order (one per call), and/or per fingerprint.

    ``by_fingerprint`` maps a request fingerprint to a reply or to a list of replies consumed in order for that
    request. Each reply is a ``str``, ``dict``, ``list`` (content), :class:`Reply` or a callable ``(body) -> reply``.
    When the script has nothing for a call, ``fallback`` (default: :func:`default_responder`) answers.
    """

    def __init__(self, replies: Iterable[Any] = (), *, by_fingerprint: Mapping[str, Any] | None = None,
                 fallback: Responder | None = None):
        self._lock = threading.Lock()
        self._queue: deque = deque(replies)
        self._by_fp: dict[str, deque] = {}
        for fp, value in (by_fingerprint or {}).items():
            self._by_fp[fp] = deque(value) if isinstance(value, (list, tuple)) else deque([value])
            if not isinstance(value, (list, tuple)):
                self._by_fp[fp].append(_Sticky)
        self._fallback = fallback or default_responder

    @property
    def remaining(self) -> int:
        """How many in-order replies have not been used yet."""
        with self._lock:
            return len(self._queue)

    def __call__(self, body: dict) -> Any:
        fp = fingerprint(body)
        with self._lock:
            reply: Any = _Missing
            queue = self._by_fp.get(fp)
            if queue:
                reply = queue.popleft()
                if queue and queue[0] is _Sticky:  # a single reply for a fingerprint answers every call
                    queue.appendleft(reply)
            if reply is _Missing and self._queue:
                reply = self._queue.popleft()
        if reply is _Missing:
            return self._fallback(body)
        return reply(body) if callable(reply) else reply


class _Missing:  # sentinel
    pass


class _Sticky:  # sentinel: the reply before it is reused forever
    pass


@dataclass
class FaultPlan:
    """Random fault injection: each model-call request is faulted with probability ``rate``.

    The draw is seeded by ``(seed, fingerprint, attempt)``, so which attempt of which request is faulted does not
    depend on the order concurrent requests arrive in. ``kinds`` are drawn uniformly (see :data:`FAULT_KINDS`).
    With ``first_n`` set, only the first ``first_n`` attempts of each distinct request (by fingerprint) may be
    faulted, so every request eventually succeeds: ``FaultPlan.first_attempts(1, ["429"])`` faults each request
    exactly once. ``seed=None`` uses the server's seed.
    """

    rate: float = 0.3
    kinds: Sequence[str] = ("429", "529", "500")
    seed: int | None = None
    first_n: int | None = None

    def __post_init__(self) -> None:
        self.kinds = tuple(self.kinds)
        unknown = [k for k in self.kinds if k not in FAULT_KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"unknown fault kinds {unknown}; expected some of {FAULT_KINDS}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {self.rate}")

    @classmethod
    def first_attempts(cls, n: int, kinds: Sequence[str] = ("429",), seed: int | None = None) -> "FaultPlan":
        """A plan that faults exactly the first ``n`` attempts of every distinct request."""
        return cls(rate=1.0, kinds=kinds, seed=seed, first_n=n)

    def choose(self, key: str, attempt: int, default_seed: int = 0) -> str | None:
        """The fault kind for attempt ``attempt`` (0-based) of the request with fingerprint ``key``, or None."""
        if self.first_n is not None and attempt >= self.first_n:
            return None
        seed = default_seed if self.seed is None else self.seed
        rnd = random.Random(f"{seed}:{key}:{attempt}")
        if rnd.random() < self.rate:
            return rnd.choice(list(self.kinds))
        return None


FaultSpec = Sequence[str | None] | FaultPlan | Callable[[dict, int], str | None] | None


@dataclass
class ReceivedRequest:
    """One HTTP request the server received.

    ``headers`` has lower-cased names (credentials included, for tests to check; ``repr`` masks them), ``body`` the
    parsed JSON (None if it was not JSON), ``raw`` the bytes. For model calls, ``fingerprint``, ``attempt`` (how
    many earlier requests had that fingerprint) and ``seq`` (index among model calls) are set, and ``fault`` names
    the injected fault kind, if any. ``status`` is the HTTP status answered (None for a dropped connection).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    time: float
    fingerprint: str | None = None
    attempt: int | None = None
    seq: int | None = None
    fault: str | None = None
    status: int | None = None

    @property
    def api_key(self) -> str | None:
        """The credential sent: ``x-api-key``, else the token of ``Authorization: Bearer``.

        (The anthropic SDK 2.x sends its ``api_key`` as ``Authorization: Bearer``; older ones used ``x-api-key``.)
        """
        key = self.headers.get("x-api-key")
        auth = self.headers.get("authorization", "")
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        return key or None

    def __repr__(self) -> str:
        headers = {k: ("<redacted>" if k in _CREDENTIAL_HEADERS else v) for k, v in self.headers.items()}
        return (f"ReceivedRequest(method={self.method!r}, path={self.path!r}, headers={headers!r}, "
                f"fingerprint={self.fingerprint!r}, attempt={self.attempt!r}, seq={self.seq!r}, "
                f"fault={self.fault!r}, status={self.status!r}, body_bytes={len(self.raw)})")


@dataclass
class _Answer:
    """A built Messages-API message plus the bookkeeping needed to send it."""

    message: dict
    delay_s: float = 0.0
    register_cache: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------------
# The server


class FakeServer:
    """A fake Anthropic Messages API (and OpenAI chat completions) server on 127.0.0.1, in a background thread.

    Args:
        responder: decides answers: a callable ``(body) -> str | dict | list | Reply`` (may be async), a list of
            replies played in order, or a dict ``{fingerprint: reply or [replies]}`` (see
            :class:`ScriptedResponder`; unscripted calls fall back to :func:`default_responder`). A ``str`` is the
            text; a ``list`` is a full content list; a ``dict`` is the tool input when the request has ``tools``
            (else it is sent as JSON text, e.g. for OpenAI ``json_schema`` response formats). Faults that replace
            the answer (status codes, "drop", "error-200", "sse-error-200", "html-200") do not call the responder;
            "timeout", "truncated", "malformed", "stream-error", "stream-drop" and "drip" do (the answer was
            produced, then lost), consuming a scripted reply.
        faults: fault injection for model calls (``/v1/messages``, ``/v1/chat/completions``): a list (the i-th
            model call gets ``faults[i]``, None/missing = no fault; every request to those endpoints takes a
            place, but one rejected with 401/400 before the fault step gets no fault), a :class:`FaultPlan`, or a
            callable ``(body, attempt) -> kind | None`` where ``attempt`` counts earlier requests with the same
            fingerprint. Kinds: :data:`FAULT_KINDS`.
        latency_s: fixed delay before every model-call answer (``asyncio.sleep``; concurrent requests overlap).
        seed: seed for :class:`FaultPlan` draws that give none.
        require_key: ``None``/``True``: some API key must be sent (else 401 authentication_error); a string:
            exactly that key; ``False``: no check. Messages endpoints accept ``x-api-key`` or
            ``Authorization: Bearer`` (the anthropic SDK 2.x sends the latter); the OpenAI endpoint the latter.
        retry_after: value of the ``retry-after`` header of a "429" fault (seconds, as a string or number).
        retry_after_ms: if set, "429", "529" and 5xx faults also send ``retry-after-ms`` (the SDKs prefer it to
            ``retry-after`` and to their own backoff of 0.5 s and up, so SDK-retry tests run fast).
        timeout_fault_s: how long a "timeout" fault sleeps before answering (make it exceed the client timeout).
        drip_interval_s: seconds between two bytes of a "drip" fault's body (keep it under the client's read
            timeout: only a total deadline ends such a request).
        stream_chunk_chars: characters per ``text_delta`` event when streaming.
        stream_delay_s: delay between streamed delta events.
        batch_polls_before_end: how many retrieves of a batch still report ``in_progress`` before it ends.
        batch_seconds: if set, a batch ends this many seconds after creation instead (polls are then ignored).
        batch_item_errors: which batch items come back ``errored``: a collection of custom_ids, a
            :class:`FaultPlan` (its rate, seeded by custom_id), or a callable ``(custom_id, params) -> bool``.
        batch_faults: HTTP faults for the batch endpoints, in the same forms as ``faults``.
        state_dir: if set, batches are stored there as JSON (never any header) and loaded by a new server.
        cache_min_tokens: prompts whose cached prefix is shorter than this are not cached (the real API's minimum
            is 1024+ tokens; default 0 caches any prefix).
        cache_ttl_s: lifetime of a cache entry since its last use.
        models: model ids listed by ``GET /v1/models`` (any model id is accepted by the endpoints).
        missing_models: ids answered with 404 not_found_error everywhere (a retired or mistyped model).
        deprecated_models: ids answered with 400 invalid_request_error by the request endpoints.
        host, port: where to listen (port 0: an ephemeral port, fixed at first start and reused by restarts).
        shutdown_timeout_s: how long ``stop()`` lets in-flight handlers finish before cancelling them.
    """

    def __init__(
        self,
        responder: Responder | Sequence[Any] | Mapping[str, Any] | None = None,
        *,
        faults: FaultSpec = None,
        latency_s: float = 0.0,
        seed: int = 0,
        require_key: str | bool | None = None,
        retry_after: float | str = 0,
        retry_after_ms: float | None = None,
        timeout_fault_s: float = 5.0,
        drip_interval_s: float = 0.2,
        stream_chunk_chars: int = 16,
        stream_delay_s: float = 0.0,
        batch_polls_before_end: int = 1,
        batch_seconds: float | None = None,
        batch_item_errors: Any = None,
        batch_faults: FaultSpec = None,
        state_dir: str | os.PathLike | None = None,
        cache_min_tokens: int = 0,
        cache_ttl_s: float = 300.0,
        models: Sequence[str] = ("claude-fake-1", "fake-chat-1"),
        missing_models: Sequence[str] = (),
        deprecated_models: Sequence[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        shutdown_timeout_s: float = 0.5,
    ):
        if isinstance(responder, Mapping):
            responder = ScriptedResponder(by_fingerprint=responder)
        elif isinstance(responder, (list, tuple)):
            responder = ScriptedResponder(responder)
        self.responder: Responder = responder or default_responder  # type: ignore[assignment]  # a Mapping or a list was wrapped in a ScriptedResponder just above
        for spec in (faults, batch_faults):
            if isinstance(spec, (list, tuple)):
                bad = [k for k in spec if k is not None and k not in FAULT_KINDS]
                if bad:
                    raise ValueError(f"unknown fault kinds {bad}; expected some of {FAULT_KINDS}")
        self.faults = faults
        self.batch_faults = batch_faults
        self.latency_s = float(latency_s)
        self.seed = seed
        self.require_key = require_key
        self.retry_after = retry_after
        self.retry_after_ms = retry_after_ms
        self.timeout_fault_s = float(timeout_fault_s)
        self.drip_interval_s = float(drip_interval_s)
        self.stream_chunk_chars = max(1, int(stream_chunk_chars))
        self.stream_delay_s = float(stream_delay_s)
        self.batch_polls_before_end = int(batch_polls_before_end)
        self.batch_seconds = batch_seconds
        self.batch_item_errors = batch_item_errors
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.cache_min_tokens = int(cache_min_tokens)
        self.cache_ttl_s = float(cache_ttl_s)
        self.models = list(models)
        self.missing_models = set(missing_models)
        self.deprecated_models = set(deprecated_models)
        self.host = host
        self.port = int(port)
        self.shutdown_timeout_s = float(shutdown_timeout_s)

        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._batches: dict[str, dict] = {}
        self._cache: dict[str, float] = {}  # prefix key -> last use (monotonic)
        self.reset()
        self._load_batches()

    # -- lifecycle -----------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash, no ``/v1``): pass as the Anthropic SDK's ``base_url``."""
        if not self.running:
            raise RuntimeError("FakeServer is not running; call start() or use it as a context manager")
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """``base_url + "/v1"``: the OpenAI SDK's ``base_url``."""
        return self.base_url + "/v1"

    @property
    def running(self) -> bool:
        """Whether the server thread is up and serving."""
        return self._thread is not None and self._thread.is_alive() and self._runner is not None

    def start(self) -> "FakeServer":
        """Start serving in a background thread (no-op if running); returns self once the port is bound."""
        if self.running:
            return self
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._thread_main, args=(ready, errors), name="FakeServer",
                                        daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("FakeServer did not start within 30 s")
        if errors:
            self._thread.join(5)
            self._thread = None
            raise errors[0]
        return self

    def stop(self) -> None:
        """Stop serving: in-flight handlers get ``shutdown_timeout_s`` to finish. State and counters are kept, so
        ``start()`` again resumes on the same port."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._runner is not None and loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop)
            try:
                fut.result(self.shutdown_timeout_s + 10)
            except Exception:  # pragma: no cover - best effort
                log.debug("FakeServer cleanup failed", exc_info=True)
        self._runner = None
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None
        self._loop = None

    def restart(self) -> "FakeServer":
        """``stop()`` then ``start()`` on the same port (in-memory state and counters survive)."""
        self.stop()
        return self.start()

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> "FakeServer":
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def _thread_main(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._astart())
        except BaseException as exc:  # report to start()
            errors.append(exc)
            ready.set()
            loop.close()
            self._loop = None
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _astart(self) -> None:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        r = app.router
        r.add_post("/v1/messages", self._h_messages)
        r.add_post("/v1/messages/count_tokens", self._h_count_tokens)
        r.add_post("/v1/messages/batches", self._h_batch_create)
        r.add_get("/v1/messages/batches", self._h_batch_list)
        r.add_get("/v1/messages/batches/{id}", self._h_batch_get)
        r.add_delete("/v1/messages/batches/{id}", self._h_batch_delete)
        r.add_get("/v1/messages/batches/{id}/results", self._h_batch_results)
        r.add_post("/v1/messages/batches/{id}/cancel", self._h_batch_cancel)
        r.add_post("/v1/chat/completions", self._h_chat)
        r.add_get("/v1/models", self._h_models)
        r.add_get("/v1/models/{id}", self._h_model)
        r.add_route("*", "/{tail:.*}", self._h_not_found)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                               shutdown_timeout=self.shutdown_timeout_s)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            await runner.cleanup()
            raise
        site = web.SockSite(runner, sock, backlog=512)
        await site.start()
        self.port = sock.getsockname()[1]
        self._runner = runner

    # -- counters ------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Clear counters, the request log, attempt counts and the prompt cache (batches are kept)."""
        with self._lock:
            self._requests = 0
            self._completed = 0
            self._requests_by_key: Counter = Counter()
            self._completed_by_key: Counter = Counter()
            self._attempts: Counter = Counter()
            self._faults: Counter = Counter()
            self._by_path: Counter = Counter()
            self._batch_items: Counter = Counter()
            self._usage: Counter = Counter()
            self._responder_errors = 0
            self._received: list[ReceivedRequest] = []
            self._seq = 0
            self._batch_seq = 0
            self._cache.clear()
            self._max_inflight = 0
            self._inflight = 0

    @property
    def requests(self) -> int:
        """Model-call HTTP requests received (``POST /v1/messages`` and ``POST /v1/chat/completions``)."""
        with self._lock:
            return self._requests

    @property
    def requests_by_key(self) -> dict[str, int]:
        """Requests per :func:`fingerprint`: model-call HTTP requests plus batch items."""
        with self._lock:
            return dict(self._requests_by_key)

    @property
    def completed(self) -> int:
        """Well-formed 200 answers to model calls (a truncated/malformed 200 or a dropped stream does not count)."""
        with self._lock:
            return self._completed

    @property
    def completed_by_key(self) -> dict[str, int]:
        """Completed answers per fingerprint (model calls and succeeded batch items)."""
        with self._lock:
            return dict(self._completed_by_key)

    @property
    def faults_injected(self) -> Counter:
        """Injected faults by kind (a ``Counter`` copy: a kind never injected reads 0)."""
        with self._lock:
            return Counter(self._faults)

    @property
    def requests_by_path(self) -> Counter:
        """Every HTTP request by ``"METHOD /path"`` (batch ids replaced by ``{id}``)."""
        with self._lock:
            return Counter(self._by_path)

    @property
    def batch_items(self) -> Counter:
        """Processed batch items by result type (``succeeded``, ``errored``, ``canceled``)."""
        with self._lock:
            return Counter(self._batch_items)

    @property
    def usage_totals(self) -> dict[str, int]:
        """Summed usage of completed Messages answers: input/output/cache_creation_input/cache_read_input tokens."""
        with self._lock:
            keys = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
            return {k: self._usage.get(k, 0) for k in keys}

    @property
    def responder_errors(self) -> int:
        """Calls whose responder raised (answered as a 500 api_error)."""
        with self._lock:
            return self._responder_errors

    @property
    def max_inflight(self) -> int:
        """The most model-call requests that were being handled at the same time."""
        with self._lock:
            return self._max_inflight

    @property
    def received(self) -> list[ReceivedRequest]:
        """A copy of the log of every request received, in arrival order."""
        with self._lock:
            return list(self._received)

    def bodies(self, path: str = "/v1/messages") -> list[Any]:
        """The parsed bodies received on ``path``, in arrival order."""
        return [r.body for r in self.received if r.path == path]

    # -- request plumbing ------------------------------------------------------------------------------------

    def _record(self, request: web.Request, raw: bytes, body: Any, *, model_call: bool,
                key: str | None = None) -> ReceivedRequest:
        path = request.path
        route = re.sub(r"/msgbatch_\w+", "/{id}", path)
        rec = ReceivedRequest(
            method=request.method, path=path, headers={k.lower(): v for k, v in request.headers.items()},
            body=body, raw=raw, time=time.time(), fingerprint=key,
        )
        with self._lock:
            self._by_path[f"{request.method} {route}"] += 1
            if model_call:
                self._requests += 1
                rec.seq = self._seq
                self._seq += 1
                if key is not None:
                    self._requests_by_key[key] += 1
            elif key is not None:  # a batch endpoint: its own sequence for scripted batch_faults
                rec.seq = self._batch_seq
                self._batch_seq += 1
            if key is not None:
                rec.attempt = self._attempts[key]
                self._attempts[key] += 1
            self._received.append(rec)
        return rec

    def _decide_fault(self, spec: FaultSpec, rec: ReceivedRequest) -> str | None:
        if spec is None:
            return None
        attempt = rec.attempt or 0
        if isinstance(spec, FaultPlan):
            kind = spec.choose(rec.fingerprint or "", attempt, self.seed)
        elif callable(spec):
            kind = spec(rec.body if isinstance(rec.body, dict) else {}, attempt)
        else:
            index = rec.seq if rec.seq is not None else -1
            kind = spec[index] if 0 <= index < len(spec) else None
        if kind is not None and kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if kind is not None:
            rec.fault = kind
            with self._lock:
                self._faults[kind] += 1
            log.debug("fake server: injecting %s on %s %s (request %s)", kind, rec.method, rec.path, rec.seq)
        return kind

    def _check_key(self, request: web.Request, *, openai: bool) -> str | None:
        """None if the credentials are acceptable, else the error message (which never contains the key)."""
        if self.require_key is False:
            return None
        key = None
        auth = request.headers.get("authorization", "")
        if not openai:
            key = request.headers.get("x-api-key")
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        if not key:
            return ("You didn't provide an API key." if openai else "x-api-key header is required")
        if isinstance(self.require_key, str) and key != self.require_key:
            return "Incorrect API key provided." if openai else "invalid x-api-key"
        return None

    @staticmethod
    def _request_id() -> str:
        return _new_id("req_fake")

    def _error(self, status: int, etype: str, message: str, *, openai: bool = False,
               headers: Mapping[str, str] | None = None) -> web.Response:
        rid = self._request_id()
        if openai:
            payload: dict = {"error": {"message": message, "type": _OPENAI_ERROR_TYPES.get(status, etype),
                                       "param": None, "code": None}}
        else:
            payload = {"type": "error", "error": {"type": etype, "message": message}, "request_id": rid}
        hdrs = {"request-id": rid, "x-request-id": rid, **(headers or {})}
        return web.Response(status=status, body=_canonical(payload).encode(), content_type="application/json",
                            headers=hdrs)

    def _status_fault(self, kind: str, *, openai: bool) -> web.Response:
        if kind == "stream-error":  # a non-streaming request gets the overloaded status instead
            kind = "529"
        status, etype, message = _STATUS_FAULTS[kind]
        headers: dict[str, str] = {}
        if self.retry_after_ms is not None and kind != "429-no-retry-after" and (status == 429 or status >= 500):
            headers["retry-after-ms"] = str(self.retry_after_ms)
        if kind == "429":
            headers["retry-after"] = str(self.retry_after)
            try:
                reset = _iso(_now() + timedelta(seconds=float(self.retry_after)))
            except ValueError:  # an HTTP-date retry-after
                reset = _iso(_now())
            headers.update({"anthropic-ratelimit-requests-limit": "50",
                            "anthropic-ratelimit-requests-remaining": "0",
                            "anthropic-ratelimit-requests-reset": reset or ""})
        return self._error(status, etype, message, openai=openai, headers=headers)

    async def _pre_fault(self, request: web.Request, rec: ReceivedRequest, kind: str | None, *, openai: bool,
                         stream: bool) -> web.StreamResponse | None:
        """Answer a fault that replaces the answer; None when the answer should still be produced."""
        if kind is None:
            return None
        if kind in _STATUS_FAULTS or (kind == "stream-error" and not stream):
            resp = self._status_fault(kind, openai=openai)
            rec.status = resp.status
            return resp
        if kind in ("error-200", "sse-error-200", "html-200"):
            rid = self._request_id()
            resp = await self._bad_200(request, rec, kind, {"request-id": rid, "x-request-id": rid}, b"")  # type: ignore[assignment]  # every kind in this branch gets a response
            rec.status = 200
            return resp
        if kind == "drop":
            await self._abort(request)
            return web.Response(status=499)  # never sent: the transport is gone
        if kind == "timeout":
            await asyncio.sleep(self.timeout_fault_s)
        return None

    @staticmethod
    async def _abort(request: web.Request) -> None:
        transport = request.transport
        if transport is not None:
            transport.abort()
        await asyncio.sleep(0)

    async def _read(self, request: web.Request) -> tuple[bytes, Any]:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = None
        return raw, body

    def _enter(self) -> None:
        with self._lock:
            self._inflight += 1
            self._max_inflight = max(self._max_inflight, self._inflight)

    def _leave(self) -> None:
        with self._lock:
            self._inflight -= 1

    async def _call_responder(self, body: dict) -> Any:
        result = self.responder(body)
        if inspect.isawaitable(result):
            result = await result
        return result

    # -- Messages API ---------------------------------------------------------------------------------------

    @staticmethod
    def _validate_messages_body(body: Any) -> str | None:
        if not isinstance(body, dict):
            return "The request body is not valid JSON (expected an object)."
        if not isinstance(body.get("model"), str) or not body.get("model"):
            return "model: Field required"
        mt = body.get("max_tokens")
        if isinstance(mt, bool) or not isinstance(mt, int):
            return "max_tokens: Field required"
        if mt < 1:
            return "max_tokens: must be greater than or equal to 1"
        msgs = body.get("messages")
        if not isinstance(msgs, list):
            return "messages: Field required"
        if not msgs:
            return "messages: at least one message is required"
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
                return f"messages.{i}.role: Input should be 'user' or 'assistant'"
            if not isinstance(m.get("content"), (str, list)):
                return f"messages.{i}.content: Field required"
        system = body.get("system")
        if system is not None and not isinstance(system, (str, list)):
            return "system: Input should be a valid string or list of text blocks"
        return None

    def _segments(self, body: dict) -> list[tuple[int, bool, str]]:
        """The prompt in cache order (tools, system, messages) as (tokens, has breakpoint, canonical text)."""
        segs: list[tuple[int, bool, str]] = []

        def add(obj: Any) -> None:
            cc = isinstance(obj, dict) and isinstance(obj.get("cache_control"), dict) and \
                obj["cache_control"].get("type") == "ephemeral"
            strip = {k: v for k, v in obj.items() if k != "cache_control"} if isinstance(obj, dict) else obj
            segs.append((estimate_tokens(obj), bool(cc), _canonical(strip)))

        for tool in body.get("tools") or []:
            add(tool)
        system = body.get("system")
        if isinstance(system, list):
            for block in system:
                add(block)
        elif system:
            add(system)
        for msg in body.get("messages") or []:
            content = msg.get("content")
            if isinstance(content, list):
                for block in content:
                    add(block)
            else:
                add(content)
        return segs

    def _cache_usage(self, body: dict) -> tuple[int, int, int, list[str]]:
        """(input_tokens, cache_creation, cache_read, prefix keys to register) for a request."""
        segs = self._segments(body)
        total = sum(s[0] for s in segs)
        breakpoints = [i for i, s in enumerate(segs) if s[1]]
        if not breakpoints:
            return total, 0, 0, []
        model = str(body.get("model"))
        now = time.monotonic()
        prefixes: list[tuple[int, str]] = []  # (tokens, key) for each breakpoint prefix
        h = hashlib.sha256(model.encode())
        tokens = 0
        for i, seg in enumerate(segs[: breakpoints[-1] + 1]):
            h.update(b"\x00" + seg[2].encode())
            tokens += seg[0]
            if seg[1] and tokens >= self.cache_min_tokens:
                prefixes.append((tokens, h.hexdigest()))
        if not prefixes:
            return total, 0, 0, []
        read = 0
        with self._lock:
            for n, key in prefixes:
                used = self._cache.get(key)
                if used is not None and now - used <= self.cache_ttl_s:
                    read = max(read, n)
        creation = prefixes[-1][0] - read
        return total - read - creation, creation, read, [k for _, k in prefixes]

    def _register_cache(self, keys: list[str]) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._cache[k] = now

    def _build_content(self, result: Any, body: dict) -> tuple[list[dict], str | None, int | None, float]:
        """Responder result -> (content, stop_reason or None, output token override, extra delay)."""
        forced = _forced_tool(body)
        if isinstance(result, Reply):
            reply = result
        elif isinstance(result, str):
            reply = Reply(text=result)
        elif isinstance(result, list):
            reply = Reply(content=result)
        elif isinstance(result, dict):
            if forced is not None or body.get("tools"):
                reply = Reply(tool_input=result)
            else:
                reply = Reply(text=_canonical(result))
        elif result is None:
            reply = Reply(text="")
        else:
            raise TypeError(f"responder returned {type(result).__name__}; expected str, dict, list or Reply")
        stop = reply.stop_reason
        if reply.content is not None:
            content = []
            for block in reply.content:
                block = dict(block)
                if block.get("type") == "tool_use":
                    block.setdefault("id", _new_id("toolu_fake"))
                    block.setdefault("input", {})
                content.append(block)
            if stop is None and any(b.get("type") == "tool_use" for b in content):
                stop = "tool_use"
        elif reply.tool_input is not None:
            tools = body.get("tools") or []
            name = reply.tool_name or (_tool_name(forced) if forced else (_tool_name(tools[0]) if tools else "tool"))
            content = [{"type": "tool_use", "id": _new_id("toolu_fake"), "name": name, "input": reply.tool_input}]
            stop = stop or "tool_use"
        else:
            text = reply.text or ""
            max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
            if isinstance(max_tokens, int) and max_tokens > 0 and estimate_tokens(text) > max_tokens:
                text = text[: max_tokens * 4]
                stop = stop or "max_tokens"
            content = [{"type": "text", "text": text}]
        return content, stop, reply.output_tokens, reply.delay_s

    async def _make_answer(self, body: dict) -> _Answer:
        result = await self._call_responder(body)
        content, stop, out_override, delay = self._build_content(result, body)
        input_tokens, creation, read, keys = self._cache_usage(body)
        output_tokens = out_override if out_override is not None else max(1, estimate_tokens(content))
        message = {
            "id": _new_id("msg_fake"),
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": stop or "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": creation,
                "cache_read_input_tokens": read,
            },
        }
        return _Answer(message=message, delay_s=delay, register_cache=keys)

    def _count_completed(self, key: str | None, usage: Mapping[str, int] | None) -> None:
        with self._lock:
            self._completed += 1
            if key is not None:
                self._completed_by_key[key] += 1
            if usage:
                for k, v in usage.items():
                    if isinstance(v, int):
                        self._usage[k] += v

    async def _h_messages(self, request: web.Request) -> web.StreamResponse:
        raw, body = await self._read(request)
        key = fingerprint(body) if isinstance(body, dict) else hashlib.sha256(raw).hexdigest()
        rec = self._record(request, raw, body, model_call=True, key=key)
        self._enter()
        try:
            resp = await self._messages(request, rec, body)
            if rec.status is None and resp.status != 499:
                rec.status = resp.status
            return resp
        finally:
            self._leave()

    async def _messages(self, request: web.Request, rec: ReceivedRequest, body: Any) -> web.StreamResponse:
        problem = self._check_key(request, openai=False)
        if problem:
            return self._error(401, "authentication_error", problem)
        problem = self._validate_messages_body(body)
        if problem:
            return self._error(400, "invalid_request_error", problem)
        bad = self._model_problem(body.get("model"), openai=False)
        if bad is not None:
            return bad
        stream = bool(body.get("stream"))
        kind = self._decide_fault(self.faults, rec)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        early = await self._pre_fault(request, rec, kind, openai=False, stream=stream)
        if early is not None:
            return early
        try:
            answer = await self._make_answer(body)
        except Exception as exc:
            with self._lock:
                self._responder_errors += 1
            log.warning("fake server: responder failed: %s: %s", type(exc).__name__, exc)
            return self._error(500, "api_error", "responder failed (fake server)")
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        self._register_cache(answer.register_cache)
        if stream:
            return await self._stream_message(request, rec, answer.message, kind)
        return await self._send_json(request, rec, answer.message, kind, usage=answer.message["usage"])

    async def _send_json(self, request: web.Request, rec: ReceivedRequest, payload: dict, kind: str | None,
                         *, usage: Mapping[str, int] | None) -> web.StreamResponse:
        data = _wire(payload)
        rid = self._request_id()
        headers = {"request-id": rid, "x-request-id": rid}
        if kind == "drip":
            return await self._bad_200(request, rec, kind, headers, data)  # type: ignore[return-value]  # every kind in this branch gets a response
        if kind == "truncated":
            return web.Response(body=data[: len(data) // 2], content_type="application/json", headers=headers)
        if kind == "malformed":
            text = b"<html><body>upstream proxy error: this is not JSON</body></html>"
            return web.Response(body=text, content_type="application/json", headers=headers)
        if kind == "stream-drop":
            resp = web.StreamResponse(status=200, headers=headers)
            resp.content_type = "application/json"
            resp.content_length = len(data)
            await resp.prepare(request)
            await resp.write(data[: len(data) // 2])
            rec.status = 200
            await self._abort(request)
            return resp
        self._count_completed(rec.fingerprint, usage)
        return web.Response(body=data, content_type="application/json", headers=headers)

    async def _bad_200(self, request: web.Request, rec: ReceivedRequest, kind: str | None, headers: dict,
                       data: bytes) -> web.StreamResponse | None:
        """The 200s that carry no answer: an error body, an error event stream, an HTML page, a dripping body."""
        if kind == "error-200":
            body = _wire({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"},
                          "request_id": headers["request-id"]})
            return web.Response(body=body, content_type="application/json", headers=headers)
        if kind == "sse-error-200":
            body = self._sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
            return web.Response(body=body, headers={**headers, "Content-Type": "text/event-stream; charset=utf-8"})
        if kind == "html-200":
            body = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>"
                    b"<p>The proxy server received an invalid response from an upstream server.</p></body></html>")
            return web.Response(body=body, headers={**headers, "Content-Type": "text/html; charset=utf-8"})
        if kind == "drip":
            resp = web.StreamResponse(status=200, headers=headers)
            resp.content_type = "application/json"
            resp.content_length = len(data)
            await resp.prepare(request)
            rec.status = 200
            try:
                for i in range(len(data)):
                    await resp.write(data[i:i + 1])
                    await asyncio.sleep(self.drip_interval_s)
            except (ConnectionError, RuntimeError):   # the client gave up (its deadline): nothing more to send
                return resp
            return resp
        return None

    @staticmethod
    def _sse(event: str, data: Mapping[str, Any]) -> bytes:
        return f"event: {event}\ndata: ".encode() + _wire(data) + b"\n\n"

    def _message_events(self, message: dict) -> list[tuple[str, dict]]:
        """The server-sent events the Messages API streams for ``message``."""
        usage = message["usage"]
        start = dict(message, content=[], stop_reason=None, stop_sequence=None,
                     usage=dict(usage, output_tokens=1))
        events: list[tuple[str, dict]] = [("message_start", {"type": "message_start", "message": start})]
        n = self.stream_chunk_chars
        for index, block in enumerate(message["content"]):
            btype = block.get("type")
            if btype == "text":
                text = block.get("text", "")
                events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                       "content_block": {"type": "text", "text": ""}}))
                if index == 0:
                    events.append(("ping", {"type": "ping"}))
                for i in range(0, len(text), n):
                    events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                           "delta": {"type": "text_delta", "text": text[i:i + n]}}))
            elif btype == "tool_use":
                start_block = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                       "content_block": start_block}))
                js = _canonical(block.get("input", {}))
                for i in range(0, len(js), n):
                    events.append(("content_block_delta", {
                        "type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": js[i:i + n]}}))
            else:  # other blocks (e.g. thinking) are sent whole
                events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                       "content_block": block}))
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events.append(("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message.get("stop_sequence")},
            "usage": dict(usage),
        }))
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    async def _stream_message(self, request: web.Request, rec: ReceivedRequest, message: dict,
                              kind: str | None) -> web.StreamResponse:
        rid = self._request_id()
        resp = web.StreamResponse(status=200, headers={
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
            "request-id": rid, "x-request-id": rid})
        await resp.prepare(request)
        rec.status = 200
        if kind == "malformed":
            await resp.write(b"event: message_start\ndata: {this is not JSON\n\n")
            await resp.write_eof()
            return resp
        if kind == "sse-error-200":
            await resp.write(self._sse("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                          "message": "Overloaded"}}))
            await resp.write_eof()
            return resp
        events = self._message_events(message)
        cut = max(1, len(events) // 2)
        for i, (name, data) in enumerate(events):
            if i == cut and kind == "truncated":
                await resp.write_eof()
                return resp
            if i == cut and kind == "stream-error":
                await resp.write(self._sse("error", {"type": "error", "error": {
                    "type": "overloaded_error", "message": "Overloaded"}}))
                await resp.write_eof()
                return resp
            if i == cut and kind == "stream-drop":
                await self._abort(request)
                return resp
            if name == "message_stop":  # count before the client can see the end of the stream
                self._count_completed(rec.fingerprint, message["usage"])
            await resp.write(self._sse(name, data))
            if self.stream_delay_s and name == "content_block_delta":
                await asyncio.sleep(self.stream_delay_s)
        await resp.write_eof()
        return resp

    async def _h_count_tokens(self, request: web.Request) -> web.StreamResponse:
        raw, body = await self._read(request)
        self._record(request, raw, body, model_call=False)
        problem = self._check_key(request, openai=False)
        if problem:
            return self._error(401, "authentication_error", problem)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self._error(400, "invalid_request_error", "messages: Field required")
        bad = self._model_problem(body.get("model"), openai=False)
        if bad is not None:
            return bad
        total = sum(s[0] for s in self._segments(body))
        return web.json_response({"input_tokens": total})

    # -- Message Batches API --------------------------------------------------------------------------------

    def _batch_path(self, batch_id: str) -> Path | None:
        if self.state_dir is None:
            return None
        return self.state_dir / "batches" / f"{batch_id}.json"

    def _save_batch(self, batch: dict) -> None:
        path = self._batch_path(batch["id"])
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps(batch, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)

    def _load_batches(self) -> None:
        if self.state_dir is None:
            return
        folder = self.state_dir / "batches"
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.json")):
            try:
                batch = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                log.warning("fake server: skipping unreadable batch file %s", path.name)
                continue
            self._batches[batch["id"]] = batch

    def _batch_view(self, batch: dict) -> dict:
        n = len(batch["requests"])
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if batch["processing_status"] == "ended":
            for item in batch["results"] or []:
                counts[item["result"]["type"]] += 1
        else:
            counts["processing"] = n
        ended = batch["processing_status"] == "ended"
        return {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": batch["processing_status"],
            "request_counts": counts,
            "created_at": batch["created_at"],
            "expires_at": batch["expires_at"],
            "ended_at": batch.get("ended_at"),
            "cancel_initiated_at": batch.get("cancel_initiated_at"),
            "archived_at": None,
            "results_url": f"{self.base_url}/v1/messages/batches/{batch['id']}/results" if ended else None,
        }

    def _batch_item_errors(self, custom_id: str, params: dict) -> bool:
        spec = self.batch_item_errors
        if spec is None:
            return False
        if isinstance(spec, FaultPlan):
            return spec.choose(custom_id, 0, self.seed) is not None
        if callable(spec):
            return bool(spec(custom_id, params))
        return custom_id in spec

    async def _finish_batch(self, batch: dict) -> None:
        results = []
        canceled = batch["processing_status"] == "canceling"
        for item in batch["requests"]:
            custom_id, params = item["custom_id"], item["params"]
            if canceled:
                result: dict = {"type": "canceled"}
            else:
                problem = self._validate_messages_body(params)
                key = fingerprint(params) if isinstance(params, dict) else None
                if key is not None:
                    with self._lock:
                        self._requests_by_key[key] += 1
                if problem:
                    result = {"type": "errored", "error": {"type": "error", "error": {
                        "type": "invalid_request_error", "message": problem}}}
                elif self._batch_item_errors(custom_id, params):
                    result = {"type": "errored", "error": {"type": "error", "error": {
                        "type": "api_error", "message": "Injected batch item error (fake server)"}}}
                else:
                    try:
                        answer = await self._make_answer(dict(params))
                    except Exception as exc:
                        with self._lock:
                            self._responder_errors += 1
                        log.warning("fake server: responder failed: %s: %s", type(exc).__name__, exc)
                        result = {"type": "errored", "error": {"type": "error", "error": {
                            "type": "api_error", "message": "responder failed (fake server)"}}}
                    else:
                        self._register_cache(answer.register_cache)
                        result = {"type": "succeeded", "message": answer.message}
                        with self._lock:
                            self._completed_by_key[key] += 1
            with self._lock:
                self._batch_items[result["type"]] += 1
            results.append({"custom_id": custom_id, "result": result})
        batch["results"] = results
        batch["processing_status"] = "ended"
        batch["ended_at"] = _iso(_now())

    async def _batch_http(self, request: web.Request) -> tuple[Any, web.StreamResponse | None, str | None,
                                                                  ReceivedRequest]:
        """Common start of the batch endpoints: record, authenticate, inject ``batch_faults``."""
        raw, body = await self._read(request)
        key = f"{request.method} {request.path}"
        rec = self._record(request, raw, body, model_call=False, key=key)
        problem = self._check_key(request, openai=False)
        if problem:
            return body, self._error(401, "authentication_error", problem), None, rec
        kind = self._decide_fault(self.batch_faults, rec)
        early = await self._pre_fault(request, rec, kind, openai=False, stream=False)
        return body, early, kind, rec

    def _get_batch(self, request: web.Request) -> dict | None:
        return self._batches.get(request.match_info["id"])

    async def _h_batch_create(self, request: web.Request) -> web.StreamResponse:
        body, early, kind, rec = await self._batch_http(request)
        if early is not None:
            return early
        reqs = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(reqs, list) or not reqs:
            return self._error(400, "invalid_request_error", "requests: Field required (a non-empty list)")
        seen: set[str] = set()
        for i, item in enumerate(reqs):
            if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str) \
                    or not isinstance(item.get("params"), dict):
                return self._error(400, "invalid_request_error", f"requests.{i}: custom_id and params are required")
            if item["custom_id"] in seen:
                return self._error(400, "invalid_request_error", f"requests.{i}.custom_id: duplicate custom_id")
            seen.add(item["custom_id"])
        created = _now()
        batch = {
            "id": _new_id("msgbatch_fake"),
            "created_at": _iso(created),
            "created_unix": time.time(),
            "expires_at": _iso(created + timedelta(hours=24)),
            "processing_status": "in_progress",
            "polls": 0,
            "requests": [{"custom_id": r["custom_id"], "params": r["params"]} for r in reqs],
            "results": None,
            "ended_at": None,
            "cancel_initiated_at": None,
        }
        with self._lock:
            self._batches[batch["id"]] = batch  # type: ignore[index]  # a batch id is a str
        self._save_batch(batch)
        return await self._send_json(request, rec, self._batch_view(batch), kind, usage=None)

    async def _h_batch_get(self, request: web.Request) -> web.StreamResponse:
        _, early, kind, rec = await self._batch_http(request)
        if early is not None:
            return early
        batch = self._get_batch(request)
        if batch is None:
            return self._error(404, "not_found_error", "message batch not found")
        if batch["processing_status"] != "ended":
            batch["polls"] += 1
            if batch["processing_status"] == "canceling":
                due = True
            elif self.batch_seconds is not None:
                due = time.time() - batch["created_unix"] >= self.batch_seconds
            else:
                due = batch["polls"] > self.batch_polls_before_end
            if due:
                await self._finish_batch(batch)
            self._save_batch(batch)
        return await self._send_json(request, rec, self._batch_view(batch), kind, usage=None)

    async def _h_batch_list(self, request: web.Request) -> web.StreamResponse:
        _, early, kind, rec = await self._batch_http(request)
        if early is not None:
            return early
        items = sorted(self._batches.values(), key=lambda b: (b["created_at"], b["id"]), reverse=True)
        limit = int(request.query.get("limit", "20") or 20)
        after, before = request.query.get("after_id"), request.query.get("before_id")
        ids = [b["id"] for b in items]
        if after and after in ids:
            items = items[ids.index(after) + 1:]
        elif before and before in ids:
            items = items[: ids.index(before)][-limit:]
        page, has_more = items[:limit], len(items) > limit
        payload = {"data": [self._batch_view(b) for b in page], "has_more": has_more,
                   "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None}
        return await self._send_json(request, rec, payload, kind, usage=None)

    async def _h_batch_results(self, request: web.Request) -> web.StreamResponse:
        _, early, kind, rec = await self._batch_http(request)
        if early is not None:
            return early
        batch = self._get_batch(request)
        if batch is None:
            return self._error(404, "not_found_error", "message batch not found")
        if batch["processing_status"] != "ended":
            return self._error(400, "invalid_request_error", "results are not available until the batch ends")
        data = "".join(_canonical(item) + "\n" for item in batch["results"]).encode()
        if kind == "truncated":
            data = data[: len(data) // 2]
        elif kind == "malformed":
            data = b"this is not JSONL\n"
        return web.Response(body=data, content_type="application/binary",
                            headers={"request-id": self._request_id()})

    async def _h_batch_cancel(self, request: web.Request) -> web.StreamResponse:
        _, early, kind, rec = await self._batch_http(request)
        if early is not None:
            return early
        batch = self._get_batch(request)
        if batch is None:
            return self._error(404, "not_found_error", "message batch not found")
        if batch["processing_status"] == "in_progress":
            batch["processing_status"] = "canceling"
            batch["cancel_initiated_at"] = _iso(_now())
            self._save_batch(batch)
        return await self._send_json(request, rec, self._batch_view(batch), kind, usage=None)

    async def _h_batch_delete(self, request: web.Request) -> web.StreamResponse:
        _, early, kind, rec = await self._batch_http(request)
        if early is not None:
            return early
        batch = self._get_batch(request)
        if batch is None:
            return self._error(404, "not_found_error", "message batch not found")
        if batch["processing_status"] != "ended":
            return self._error(400, "invalid_request_error", "a batch can be deleted only once it has ended")
        with self._lock:
            self._batches.pop(batch["id"], None)
        path = self._batch_path(batch["id"])
        if path is not None and path.exists():
            path.unlink()
        return await self._send_json(request, rec, {"id": batch["id"], "type": "message_batch_deleted"}, kind,
                                     usage=None)

    # -- OpenAI-compatible -----------------------------------------------------------------------------------

    async def _h_chat(self, request: web.Request) -> web.StreamResponse:
        raw, body = await self._read(request)
        key = fingerprint(body) if isinstance(body, dict) else hashlib.sha256(raw).hexdigest()
        rec = self._record(request, raw, body, model_call=True, key=key)
        self._enter()
        try:
            resp = await self._chat(request, rec, body)
            if rec.status is None and resp.status != 499:
                rec.status = resp.status
            return resp
        finally:
            self._leave()

    async def _chat(self, request: web.Request, rec: ReceivedRequest, body: Any) -> web.StreamResponse:
        problem = self._check_key(request, openai=True)
        if problem:
            return self._error(401, "authentication_error", problem, openai=True)
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return self._error(400, "invalid_request_error", "you must provide a model parameter", openai=True)
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return self._error(400, "invalid_request_error", "messages: a non-empty list is required", openai=True)
        bad = self._model_problem(body.get("model"), openai=True)
        if bad is not None:
            return bad
        stream = bool(body.get("stream"))
        kind = self._decide_fault(self.faults, rec)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        early = await self._pre_fault(request, rec, kind, openai=True, stream=stream)
        if early is not None:
            return early
        try:
            result = await self._call_responder(body)
            content, stop, out_override, delay = self._build_content(result, body)
        except Exception as exc:
            with self._lock:
                self._responder_errors += 1
            log.warning("fake server: responder failed: %s: %s", type(exc).__name__, exc)
            return self._error(500, "server_error", "responder failed (fake server)", openai=True)
        if delay:
            await asyncio.sleep(delay)
        text = "".join(b.get("text", "") for b in content if b.get("type") == "text")
        tool_calls = [{"id": b["id"].replace("toolu_", "call_"), "type": "function",
                       "function": {"name": b["name"], "arguments": _canonical(b.get("input", {}))}}
                      for b in content if b.get("type") == "tool_use"]
        finish = {"max_tokens": "length", "tool_use": "tool_calls"}.get(stop or "", "stop")
        prompt_tokens = estimate_tokens(body.get("messages")) + estimate_tokens(body.get("tools"))
        completion_tokens = out_override if out_override is not None else max(1, estimate_tokens(content))
        message: dict = {"role": "assistant", "content": text if not tool_calls else (text or None),
                         "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        completion = {
            "id": _new_id("chatcmpl-fake"), "object": "chat.completion", "created": int(time.time()),
            "model": body["model"], "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": usage,
        }
        if stream:
            return await self._stream_chat(request, rec, completion, kind, body)
        return await self._send_json(request, rec, completion, kind,
                                     usage={"input_tokens": prompt_tokens, "output_tokens": completion_tokens})

    async def _stream_chat(self, request: web.Request, rec: ReceivedRequest, completion: dict, kind: str | None,
                           body: dict) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream; charset=utf-8",
                                                       "Cache-Control": "no-cache"})
        await resp.prepare(request)
        rec.status = 200
        if kind == "malformed":
            await resp.write(b"data: {this is not JSON\n\n")
            await resp.write_eof()
            return resp
        base = {k: completion[k] for k in ("id", "created", "model", "system_fingerprint")}
        base["object"] = "chat.completion.chunk"
        msg = completion["choices"][0]["message"]
        chunks = [dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                       "finish_reason": None, "logprobs": None}])]
        text = msg.get("content") or ""
        n = self.stream_chunk_chars
        for i in range(0, len(text), n):
            chunks.append(dict(base, choices=[{"index": 0, "delta": {"content": text[i:i + n]},
                                               "finish_reason": None, "logprobs": None}]))
        for j, call in enumerate(msg.get("tool_calls") or []):
            chunks.append(dict(base, choices=[{"index": 0, "delta": {"tool_calls": [dict(call, index=j)]},
                                               "finish_reason": None, "logprobs": None}]))
        chunks.append(dict(base, choices=[{"index": 0, "delta": {},
                                           "finish_reason": completion["choices"][0]["finish_reason"],
                                           "logprobs": None}]))
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append(dict(base, choices=[], usage=completion["usage"]))
        cut = max(1, len(chunks) // 2)
        for i, chunk in enumerate(chunks):
            if i == cut and kind == "truncated":
                await resp.write_eof()
                return resp
            if i == cut and kind in ("stream-error", "stream-drop"):
                await self._abort(request)
                return resp
            await resp.write(f"data: {_canonical(chunk)}\n\n".encode())
            if self.stream_delay_s:
                await asyncio.sleep(self.stream_delay_s)
        u = completion["usage"]  # count before the client can see the end of the stream
        self._count_completed(rec.fingerprint, {"input_tokens": u["prompt_tokens"],
                                                "output_tokens": u["completion_tokens"]})
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    # -- models & fallbacks --------------------------------------------------------------------------------

    def _model_obj(self, model_id: str) -> dict:
        # One object both SDKs parse: Anthropic's ModelInfo fields plus OpenAI's Model fields.
        return {"id": model_id, "type": "model", "display_name": model_id, "created_at": "2025-01-01T00:00:00Z",
                "object": "model", "created": 1735689600, "owned_by": "fake"}

    def _model_problem(self, model_id: Any, *, openai: bool, retrieve: bool = False) -> web.Response | None:
        """The error a request naming ``model_id`` gets (None when the model is usable): 404 for a missing
        model; 400 for a deprecated one, except when it is only retrieved (it still exists)."""
        if model_id in self.missing_models:
            return self._error(404, "not_found_error", f"model: {model_id}", openai=openai)
        if model_id in self.deprecated_models and not retrieve:
            return self._error(400, "invalid_request_error",
                               f"model {model_id} is deprecated and no longer accepts requests; use a newer model",
                               openai=openai)
        return None

    async def _h_models(self, request: web.Request) -> web.StreamResponse:
        self._record(request, b"", None, model_call=False)
        data = [self._model_obj(m) for m in self.models if m not in self.missing_models]
        return web.json_response({"object": "list", "data": data, "has_more": False,
                                  "first_id": self.models[0] if self.models else None,
                                  "last_id": self.models[-1] if self.models else None})

    async def _h_model(self, request: web.Request) -> web.StreamResponse:
        self._record(request, b"", None, model_call=False)
        bad = self._model_problem(request.match_info["id"], openai=False, retrieve=True)
        return bad if bad is not None else web.json_response(self._model_obj(request.match_info["id"]))

    async def _h_not_found(self, request: web.Request) -> web.StreamResponse:
        raw, body = await self._read(request)
        self._record(request, raw, body, model_call=False)
        return self._error(404, "not_found_error", f"no route for {request.method} {request.path} (fake server)",
                           openai=request.path.startswith("/v1/chat"))
