"""The model interface every provider implements, and the value types that cross it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError


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
    """One model answer: ``text``, ``usage``, ``stop_reason`` (provider's word), ``latency_s`` (seconds, wall)."""

    text: str
    usage: Usage
    stop_reason: str | None
    latency_s: float
    model: str = ""
    extra: dict = field(default_factory=dict)


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
    and never retry on their own: the runner owns retries so it can count them and adapt concurrency."""

    spec: ModelSpec

    async def generate(self, system: str, messages: list[Message], config: GenerationConfig) -> Completion:
        ...

    async def aclose(self) -> None:
        ...
