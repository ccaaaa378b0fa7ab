"""Build a model client from its name."""

from __future__ import annotations

from .base import Model, ModelSpec


def create_model(name: str | ModelSpec, *, timeout_s: float = 120.0) -> Model:
    """``anthropic/<id>`` → AnthropicModel, ``openai/<m>@<url>`` → OpenAICompatModel, ``local/smollm2-135m`` →
    LocalModel.

    Raises:
        ConfigError: malformed name. ModelError: missing key or embedded model not installed.
    """
    spec = name if isinstance(name, ModelSpec) else ModelSpec.parse(name)
    if spec.provider == "anthropic":
        from .anthropic_model import AnthropicModel
        return AnthropicModel(spec, timeout_s=timeout_s)
    if spec.provider == "openai":
        from .openai_model import OpenAICompatModel
        return OpenAICompatModel(spec, timeout_s=timeout_s)
    from .local_model import LocalModel
    return LocalModel(spec)
