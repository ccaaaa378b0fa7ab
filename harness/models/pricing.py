"""What a model call costs in USD, from the ``[tool.harness.prices]`` table (USD per million tokens)."""

from __future__ import annotations

from typing import Protocol

from .base import ModelSpec


class Price(Protocol):
    """USD per million tokens of one model (``[tool.harness.prices]``; config.Price)."""
    input: float
    output: float
    cache_write: float
    cache_read: float


class PriceTable(Protocol):
    """What pricing reads of the configuration (config.HarnessConfig): the price of a model id, or None. A
    protocol, so that the models layer does not import the configuration layer above it."""

    def price_for(self, model_id: str) -> Price | None: ...


def cost_usd(cfg: PriceTable, model: ModelSpec, usage: dict, *, batch: bool = False) -> float | None:
    """Dollar cost of one call from the ``[tool.harness.prices]`` table (USD per million tokens; ``usage`` holds
    token counts by the Messages API's names), halved for Message Batches (Anthropic's published batch discount).
    0.0 for the embedded model; None when the model has no price (an OpenAI-compatible server, an unlisted id)."""
    if model.provider != "anthropic":
        return 0.0 if model.provider == "local" else None
    price = cfg.price_for(model.model)
    if price is None:
        return None
    c = (usage.get("input_tokens", 0) * price.input + usage.get("output_tokens", 0) * price.output
         + usage.get("cache_creation_input_tokens", 0) * price.cache_write
         + usage.get("cache_read_input_tokens", 0) * price.cache_read) / 1e6
    return c / 2 if batch else c


def estimate_cost(cfg: PriceTable, model: ModelSpec, system: str, message: str, max_tokens: int) -> float:
    """Upper-bound estimate (USD) of one sample's cost before it runs: input at ~3 characters per token (Japanese
    text is denser than English's ~4), uncached, plus ``max_tokens`` of output. 0.0 when the model has no price."""
    price = cfg.price_for(model.model) if model.provider == "anthropic" else None
    if price is None:
        return 0.0
    return ((len(system) + len(message)) / 3 * price.input + max_tokens * price.output) / 1e6
