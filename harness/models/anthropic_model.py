"""``anthropic/<model-id>``: Claude through the official SDK's async client.

The system prompt is sent as one text block with ``cache_control: ephemeral`` so the shared agent prompt is
cached across cases; cache write/read tokens are recorded. The SDK's own retries are off (``max_retries=0``):
the runner retries, so that it can count every retry and lower concurrency on 429/529.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import anthropic

from ..errors import ModelError
from .base import BatchItem, Completion, GenerationConfig, Message, ModelSpec, StructuredOutput, Usage
from .errors_map import classify_text_body, from_error_body, map_sdk_exception


def system_blocks(system: str, cache: bool = True) -> list[dict]:
    """The ``system`` parameter: one text block, marked for prompt caching when ``cache``."""
    block: dict = {"type": "text", "text": system}
    if cache:
        block["cache_control"] = {"type": "ephemeral"}
    return [block]


def request_params(spec: ModelSpec, system: str, messages: list[Message], config: GenerationConfig,
                   cache_system: bool = True) -> dict:
    """Messages API parameters for one request (also used for Message Batches items)."""
    params: dict = {"model": spec.model, "max_tokens": config.max_tokens, "system": system_blocks(system, cache_system),
                    "messages": messages, "temperature": config.temperature}
    if config.top_p is not None:
        params["top_p"] = config.top_p
    if config.stop:
        params["stop_sequences"] = list(config.stop)
    return params


def completion_from_message(msg, latency_s: float) -> Completion:
    """Turn an SDK Message (or its dict form) into a Completion.

    Text blocks are joined as paragraphs (a blank line between them: an item boundary stays a boundary). Other
    blocks are not review text, but they are not dropped silently: ``extra["blocks"]`` lists every block's type in
    order and ``extra["tool_use"]`` the name and input of each tool_use block.
    """
    if isinstance(msg, dict):
        content = [b if isinstance(b, dict) else {} for b in (msg.get("content") or [])]
        u = msg.get("usage") or {}
        get = u.get
        stop, model = msg.get("stop_reason"), msg.get("model", "")
    else:
        content = [{"type": getattr(b, "type", ""), "text": getattr(b, "text", ""),
                    "name": getattr(b, "name", None), "input": getattr(b, "input", None)} for b in msg.content]
        u = msg.usage
        get = lambda k, d=0: getattr(u, k, d)  # noqa: E731
        stop, model = msg.stop_reason, msg.model
    text = "\n\n".join(b.get("text") or "" for b in content if b.get("type") == "text")
    extra: dict = {}
    types = [str(b.get("type", "")) for b in content]
    if any(t != "text" for t in types):
        extra["blocks"] = types
        uses = [{"name": b.get("name"), "input": b.get("input")} for b in content if b.get("type") == "tool_use"]
        if uses:
            extra["tool_use"] = uses
    usage = Usage(input_tokens=get("input_tokens", 0) or 0, output_tokens=get("output_tokens", 0) or 0,
                  cache_creation_input_tokens=get("cache_creation_input_tokens", 0) or 0,
                  cache_read_input_tokens=get("cache_read_input_tokens", 0) or 0)
    return Completion(text=text, usage=usage, stop_reason=stop, latency_s=latency_s, model=model, extra=extra)


def checked_message(msg):
    """``msg`` if it is a usable Messages-API message, else the classified ModelError raised.

    The SDK hands back a ``str`` when a 200's body is not JSON (an HTML page from a proxy, an event stream to a
    non-streaming request) and a half-built Message when it is JSON of another shape (an error body): both are
    retryable faults of the transport, never a review.

    Raises:
        ModelError: ``overloaded``/``server``/... for an error body or event, ``malformed_response`` otherwise.
    """
    if isinstance(msg, (str, bytes)):
        raise classify_text_body(msg.decode("utf-8", "replace") if isinstance(msg, bytes) else msg)
    d = msg if isinstance(msg, dict) else {**getattr(msg, "__dict__", {}), **(getattr(msg, "model_extra", None) or {})}
    mtype = d.get("type")
    if mtype == "error":
        raise from_error_body(d.get("error"), where="a 200 response body")
    if mtype != "message" or not isinstance(d.get("content"), list) or d.get("usage") is None:
        raise ModelError(f"malformed response: a 200 whose body is not a complete message (type {mtype!r}, keys "
                         f"{sorted(d)[:8]})", kind="malformed_response", retryable=True)
    return msg


def _tool_input(comp: Completion, name: str) -> dict | None:
    """The input of the first call of tool ``name`` in ``comp`` (a JSON object), None when there is none."""
    for use in comp.extra.get("tool_use", []):
        if use.get("name") != name:
            continue
        data = use.get("input")
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError:
                return None
        return data if isinstance(data, dict) else None
    return None


def map_exception(exc: BaseException) -> ModelError:
    """Classify an anthropic SDK exception (or a transport/parse failure) as a ModelError."""
    return map_sdk_exception(exc, anthropic, env="ANTHROPIC_API_KEY")


class AnthropicModel:
    """Claude via ``anthropic.AsyncAnthropic``. ``ANTHROPIC_BASE_URL`` redirects it (the tests' fake server).

    Raises (from generate): ModelError; never retries by itself.
    """

    def __init__(self, spec: ModelSpec, *, timeout_s: float = 120.0, api_key: str | None = None,
                 cache_system: bool = True):
        self.spec = spec
        self.cache_system = cache_system
        key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise ModelError("ANTHROPIC_API_KEY is not set: export it, or choose --model local/smollm2-135m",
                             kind="auth")
        self.base_url = os.environ.get("ANTHROPIC_BASE_URL") or None
        self.client = anthropic.AsyncAnthropic(api_key=key, base_url=self.base_url, max_retries=0,
                                               timeout=timeout_s)

    async def generate(self, system: str, messages: list[Message], config: GenerationConfig, *,
                       output: StructuredOutput | None = None) -> Completion:
        """One Messages API request. With ``output``, the model is made to call the tool ``output.name`` (forced
        tool use) and ``Completion.data`` is that call's input (None when the answer holds no such call).

        Raises:
            ModelError: classified by :func:`map_exception` (a malformed 200 included, as a retryable fault).
        """
        params = request_params(self.spec, system, messages, config, self.cache_system)
        if output is not None:
            params["tools"] = [{"name": output.name, "description": output.description or output.name,
                                "input_schema": output.schema}]
            params["tool_choice"] = {"type": "tool", "name": output.name}
        # Sampling parameters travel in the JSON body: anthropic SDK 2.x no longer accepts them as keyword
        # arguments of messages.create (TypeError), while every SDK version merges ``extra_body``.
        extra = {k: params.pop(k) for k in ("temperature", "top_p") if k in params}
        t0 = time.perf_counter()
        try:
            msg = await self.client.messages.create(**params, extra_body=extra or None)
            # inside the try: a body that is not a message is a classified, retryable fault, not a traceback
            comp = completion_from_message(checked_message(msg), time.perf_counter() - t0)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a classified ModelError
            raise map_exception(exc) from None
        if output is None:
            return comp
        return dataclasses.replace(comp, data=_tool_input(comp, output.name))

    def batch_request(self, system: str, messages: list[Message], config: GenerationConfig) -> dict:
        """The Messages API parameters :meth:`generate` would send, as one Message Batches item's ``params``."""
        return request_params(self.spec, system, messages, config, self.cache_system)

    async def batch_submit(self, requests: list[tuple[str, dict]]) -> str:
        """Create a message batch of ``[(custom_id, params), ...]``; returns its id.

        Raises:
            ModelError: classified (:func:`map_exception`).
        """
        try:
            batch = await self.client.messages.batches.create(
                requests=[{"custom_id": cid, "params": params} for cid, params in requests])  # type: ignore[typeddict-item]  # params is built as a plain dict; the SDK validates it
            return batch.id
        except Exception as exc:  # noqa: BLE001
            raise map_exception(exc) from None

    async def batch_ended(self, batch_id: str) -> bool:
        """Whether the batch's processing has ended (its results can be downloaded).

        Raises:
            ModelError: classified (:func:`map_exception`).
        """
        try:
            b = await self.client.messages.batches.retrieve(batch_id)
        except Exception as exc:  # noqa: BLE001
            raise map_exception(exc) from None
        return b.processing_status == "ended"

    async def batch_results(self, batch_id: str) -> list[BatchItem]:
        """Every result of an ended batch, in the order the server sends them. A succeeded item whose message
        is malformed becomes that item's error, never the whole download's.

        Raises:
            ModelError: the download failed (classified; malformed JSONL is ``malformed_response``, retryable).
        """
        try:
            raw = [item async for item in await self.client.messages.batches.results(batch_id)]
        except Exception as exc:  # noqa: BLE001
            raise map_exception(exc) from None
        items = []
        for item in raw:
            r = item.result
            if r.type == "succeeded":
                try:
                    items.append(BatchItem(item.custom_id, completion=completion_from_message(
                        checked_message(r.message), 0.0)))
                except Exception as exc:  # noqa: BLE001 - a malformed item is this sample's error
                    items.append(BatchItem(item.custom_id, error=exc if isinstance(exc, ModelError)
                                           else map_exception(exc)))
            else:
                detail = getattr(getattr(r, "error", None), "error", None)
                msg = getattr(detail, "message", None) or r.type
                items.append(BatchItem(item.custom_id, error=ModelError(f"batch item {r.type}: {msg}",
                                                                        kind=f"batch_{r.type}")))
        return items

    async def aclose(self) -> None:
        await self.client.close()
