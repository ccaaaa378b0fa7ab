"""Build a model client from its name."""

from __future__ import annotations

from .base import Model, ModelSpec


def create_model(name: str | ModelSpec, *, timeout_s: float = 120.0, server_slots: int | None = None,
                 server_context: int | None = None) -> Model:
    """``anthropic/<id>`` → AnthropicModel, ``openai/<m>@<url>`` → OpenAICompatModel, ``local/smollm2-135m`` →
    LocalModel. ``server_slots``/``server_context`` are the configured limits of an OpenAI-compatible server.

    Raises:
        ConfigError: malformed name. ModelError: missing key or embedded model not installed.
    """
    spec = name if isinstance(name, ModelSpec) else ModelSpec.parse(name)
    if spec.provider == "anthropic":
        from .anthropic_model import AnthropicModel
        return AnthropicModel(spec, timeout_s=timeout_s)
    if spec.provider == "openai":
        from .openai_model import OpenAICompatModel
        return OpenAICompatModel(spec, timeout_s=timeout_s, server_slots=server_slots,
                                 server_context=server_context)
    from .local_model import LocalModel
    return LocalModel(spec)
