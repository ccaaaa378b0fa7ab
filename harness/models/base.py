"""The model interface every provider implements, and the value types that cross it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError, ModelError


class GenerationConfig(BaseModel):
    """Sampling settings sent with every request and recorded with every sample.

    ``max_tokens`` is in tokens; ``seed`` is honoured by providers that support it (OpenAI-compatible, local).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(2048, gt=0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop: tuple[str, ...] | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Usage:
    """Token counts of one completion. Cache fields are Anthropic prompt-caching counts (0 elsewhere)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def as_dict(self) -> dict:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cache_creation_input_tokens": self.cache_creation_input_tokens,
                "cache_read_input_tokens": self.cache_read_input_tokens}


@dataclass(frozen=True)
class Completion:
    """One model answer: ``text``, ``usage``, ``stop_reason`` (provider's word), ``latency_s`` (seconds, wall).

    ``data`` is the JSON object of a structured-output request (:class:`StructuredOutput`), None when none was
    asked or the model gave none (then ``text`` holds what it said instead). It is never cached with the answer:
    only the agent's free-text answers go to the response cache."""

    text: str
    usage: Usage
    stop_reason: str | None
    latency_s: float
    model: str = ""
    extra: dict = field(default_factory=dict)
    data: dict | None = None


@dataclass(frozen=True)
class StructuredOutput:
    """Ask a model for one JSON object matching ``schema`` (a JSON schema without ``$defs``) instead of free text.

    Anthropic answers through a forced tool call named ``name``; OpenAI-compatible servers through the
    ``json_schema`` response format, or ``json_object`` with the schema where the server rejects ``json_schema``
    (llama-cpp-python). The embedded model cannot follow a schema (ModelError, kind ``unsupported``)."""

    name: str
    schema: dict
    description: str = ""
    # a narrower schema (every reply valid under it is valid under ``schema``) for servers that compile the schema
    # into a sampling grammar (llama.cpp's json_object + schema): the judge's, narrowed to one case's ids
    grammar_schema: dict | None = None


@dataclass(frozen=True)
class BatchItem:
    """One result of a message batch: the answer of request ``custom_id``, or why it has none.

    Exactly one of ``completion`` and ``error`` is set. ``completion.latency_s`` is 0: a batch has no per-request
    latency (the batch path records the time it waited)."""

    custom_id: str
    completion: Completion | None = None
    error: ModelError | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model name.

    Forms: ``anthropic/<model-id>``, ``openai/<model>@<base-url>``, ``local/smollm2-135m``.
    ``base_url`` is None for Anthropic unless ``ANTHROPIC_BASE_URL`` is set at call time.
    """

    provider: str
    model: str
    base_url: str | None = None

    @property
    def name(self) -> str:
        if self.provider == "openai" and self.base_url:
            return f"openai/{self.model}@{self.base_url}"
        return f"{self.provider}/{self.model}"

    @classmethod
    def parse(cls, text: str) -> "ModelSpec":
        """Parse a model name.

        Raises:
            ConfigError: unknown provider or a malformed name.
        """
        text = text.strip()
        m = re.match(r"^(anthropic|openai|local)/(.+)$", text)
        if not m:
            raise ConfigError(f"expected anthropic/<model-id>, openai/<model>@<base-url> or local/smollm2-135m, "
                              f"got {text!r}", field="--model")
        provider, rest = m.groups()
        if provider == "openai":
            if "@" not in rest:
                raise ConfigError(f"expected openai/<model>@<base-url>, got {text!r}", field="--model")
            model, base = rest.split("@", 1)
            if not model or not re.match(r"^https?://", base):
                raise ConfigError(f"expected openai/<model>@http(s)://host:port/v1, got {text!r}", field="--model")
            return cls("openai", model, base.rstrip("/"))
        if provider == "local" and rest != "smollm2-135m":
            raise ConfigError(f"the only embedded model is local/smollm2-135m, got {text!r}", field="--model")
        return cls(provider, rest)


Message = dict  # {"role": "user"|"assistant", "content": str}


@runtime_checkable
class Model(Protocol):
    """A chat model. Implementations raise :class:`harness.errors.ModelError` (with ``retryable`` set) on failure
    and never retry on their own: callers retry through :mod:`harness.retry` so they can count retries and adapt
    concurrency.

    ``base_url`` is the server answering (None: the provider's default); it is part of the response cache key.
    ``generate(..., output=StructuredOutput(...))`` asks for a JSON object (``Completion.data``) instead of text.
    """

    spec: ModelSpec
    base_url: str | None

    async def generate(self, system: str, messages: list[Message], config: GenerationConfig, *,
                       output: StructuredOutput | None = None) -> Completion:
        ...

    async def aclose(self) -> None:
        ...


@runtime_checkable
class BatchModel(Model, Protocol):
    """A model that also takes requests in batches (Anthropic's Message Batches API: half price, answered within
    24 hours). Every method raises a classified ModelError on failure (retryable or not) and never retries.

    ``batch_request`` builds one request's parameters (what :meth:`generate` would send); ``batch_submit`` sends
    ``[(custom_id, params), ...]`` and returns the batch id; ``batch_ended`` polls it; ``batch_results``
    downloads every result (a download cut short returns fewer items: the caller checks and retries)."""

    def batch_request(self, system: str, messages: list[Message], config: GenerationConfig) -> dict:
        ...

    async def batch_submit(self, requests: list[tuple[str, dict]]) -> str:
        ...

    async def batch_ended(self, batch_id: str) -> bool:
        ...

    async def batch_results(self, batch_id: str) -> list[BatchItem]:
        ...
