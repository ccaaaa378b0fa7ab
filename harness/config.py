"""``[tool.harness]`` settings from pyproject.toml, with CLI flags and pytest options layered on top."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from .errors import ConfigError
from .models.base import GenerationConfig, ModelSpec


class Price(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input: float
    output: float
    cache_write: float = 0.0
    cache_read: float = 0.0


class HarnessConfig(BaseModel):
    """All settings. Paths are relative to ``root`` (the folder holding pyproject.toml).

    Thresholds (``min_recall``, ``max_critical_missed``) are the per-case pass criteria of ``pytest evals``;
    ``severity_weights`` default to critical 4, high 3, medium 2, low 1 (issue #6).
    """

    model_config = ConfigDict(extra="forbid")

    root: Path = Path(".")
    cases_dir: str = "cases"
    prompts: list[str] = Field(default_factory=lambda: ["prompts/backend-reliability-engineer/v1.md"])
    runs_root: str = "reports/runs"
    baseline_run: str | None = None   # pinned baseline run directory (or run id under runs_root): dashboard, nightly
    reports_dir: str = "reports"
    anthropic_model: str = "anthropic/claude-sonnet-4-6"
    local_model: str = "local/smollm2-135m"
    local_default_cases: str = "smoke"
    model: str | None = None
    cases: str | None = None
    epochs: int = Field(1, ge=1)
    concurrency: int = Field(8, ge=1)
    # samples answered but not yet graded and recorded, beyond twice the concurrency (harness/admission.py): with a
    # record that cannot be written, at most 2 x concurrency + this many samples are sent after the last record
    # written; None: the concurrency
    max_ungraded: int | None = Field(None, ge=0)
    max_retries: int = Field(6, ge=0)
    request_timeout_s: float = Field(120.0, gt=0)
    # an OpenAI-compatible server's slots (requests it computes at once) and context (tokens); None: ask the
    # server (llama.cpp's /props, /slots), else 1 slot for a loopback URL, 2 on a private network
    server_slots: int | None = Field(None, ge=1)
    server_context: int | None = Field(None, ge=1)
    retry_backoff_base_s: float = Field(0.5, ge=0)
    retry_backoff_max_s: float = Field(30.0, ge=0)
    cache_mode: Literal["use", "refresh", "off", "replay-only"] = "use"
    cache_dir: str | None = None
    reducer: Literal["mean", "pass@k", "majority"] = "mean"
    min_recall: float = Field(0.5, ge=0, le=1)
    max_critical_missed: int = Field(0, ge=0)
    max_file_bytes: int = Field(200_000, gt=0)
    max_cost: float | None = Field(None, gt=0)
    # grade replies cut at max_tokens (outcome "truncated", flagged in the reports) instead of leaving them
    # ungraded; unset: only the embedded model's, whose short max_tokens (local_generation) is our own choice
    grade_truncated: bool | None = None
    generation: GenerationConfig = GenerationConfig()
    local_generation: GenerationConfig = GenerationConfig(max_tokens=160)
    severity_weights: dict[str, float] = Field(
        default_factory=lambda: {"critical": 4.0, "high": 3.0, "medium": 2.0, "low": 1.0})
    prices: dict[str, Price] = Field(default_factory=dict)
    judge_model: str | None = None
    judge_cache_dir: str | None = None
    judge_templates_dir: str | None = None
    # the judge's max_tokens per finding and trap of a case (harness/graders/judge.py judge_max_tokens: 64 + this
    # x items); a reply cut there is a judge error
    judge_tokens_per_item: int = Field(160, ge=16)
    graders: list[str] = Field(default_factory=lambda: ["deterministic"])
    # the deterministic grader's semantic stage (sentence embeddings, ~1 s of one core per thorough review);
    # off, grading is ~500x faster and misses findings said in other words (reports say so)
    semantic_grading: bool = True
    # the project's labelled reviews (harness calibrate) and where their last measured agreement is recorded
    labelled_dir: str = "labelled"
    calibration_record: str = "labelled/calibration.json"
    # True when cache_dir came from --cache-dir (a flag beats HARNESS_CACHE_DIR; pyproject.toml does not)
    _cache_dir_from_flag: bool = PrivateAttr(default=False)

    def path(self, rel: str | Path) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.root / p

    def resolved_cache_dir(self) -> Path:
        """The response cache's folder: ``--cache-dir`` (or the pytest option), else ``HARNESS_CACHE_DIR``, else
        ``[tool.harness] cache_dir``, else ``${XDG_CACHE_HOME:-~/.cache}/harness``. A flag beats the environment,
        the environment beats pyproject.toml (the usual order: the more specific to this invocation wins)."""
        if self.cache_dir and self._cache_dir_from_flag:
            return self.path(self.cache_dir)
        env = os.environ.get("HARNESS_CACHE_DIR")
        if env:
            return Path(env)
        if self.cache_dir:
            return self.path(self.cache_dir)
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(xdg) / "harness"

    def default_model(self) -> str:
        """``model`` if set; else Anthropic when ``ANTHROPIC_API_KEY`` is set; else the embedded local model."""
        if self.model:
            return self.model
        return self.anthropic_model if os.environ.get("ANTHROPIC_API_KEY") else self.local_model

    def price_for(self, model_id: str) -> Price | None:
        """Price entry for a model id: exact key first, then the longest key that prefixes the id."""
        if model_id in self.prices:
            return self.prices[model_id]
        keys = sorted((k for k in self.prices if model_id.startswith(k)), key=len, reverse=True)
        return self.prices[keys[0]] if keys else None


def has_harness_table(root: str | Path) -> bool:
    """Whether ``root``/pyproject.toml exists and has a ``[tool.harness]`` table (a malformed file: False)."""
    pp = Path(root) / "pyproject.toml"
    try:
        return "harness" in tomllib.loads(pp.read_text(encoding="utf-8")).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False


def find_root(start: str | Path = ".") -> Path:
    """The nearest folder at or above ``start`` whose pyproject.toml has a ``[tool.harness]`` table, else ``start``."""
    start = Path(start).resolve()
    for d in (start, *start.parents):
        pp = d / "pyproject.toml"
        if pp.is_file():
            try:
                if "harness" in tomllib.loads(pp.read_text(encoding="utf-8")).get("tool", {}):
                    return d
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                continue
    return start


def load_config(root: str | Path | None = None, overrides: dict[str, Any] | None = None) -> HarnessConfig:
    """Read ``[tool.harness]`` from ``root``/pyproject.toml and apply ``overrides`` (None values are ignored).

    Raises:
        ConfigError: malformed TOML, unknown keys or wrong types, naming pyproject.toml and the key.
    """
    root = find_root(root or ".") if root is None or not (Path(root) / "pyproject.toml").is_file() else Path(root)
    data: dict[str, Any] = {}
    pp = Path(root) / "pyproject.toml"
    if pp.is_file():
        try:
            data = dict(tomllib.loads(pp.read_text(encoding="utf-8")).get("tool", {}).get("harness", {}))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"malformed TOML: {e}", file=pp) from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"expected UTF-8 text, found an invalid byte at offset {e.start}", file=pp) from None
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    for k in given:
        data[k] = given[k]
    data["root"] = Path(root).resolve()
    try:
        cfg = HarnessConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(x) for x in err["loc"]]
        field = ".".join(loc)
        if loc and loc[0] in given:
            # a CLI flag or pytest option: name the flag, not pyproject.toml
            raise ConfigError(f"{err['msg']} (got {err.get('input')!r})",
                              field="--" + FLAGS.get(loc[0], loc[0].replace("_", "-"))) from None
        if err["type"] == "extra_forbidden":
            raise ConfigError(unknown_key_message(loc, data), file=pp, field=f"tool.harness.{field}") from None
        raise ConfigError(f"{err['msg']} (got {err.get('input')!r})", file=pp, field=f"tool.harness.{field}") from None
    cfg._cache_dir_from_flag = "cache_dir" in given
    return cfg


# the flag of an override key when it differs from the key ("request_timeout_s" comes from --timeout)
FLAGS = {"request_timeout_s": "timeout", "cache_mode": "cache"}


def unknown_key_message(loc: list[str], data: dict[str, Any]) -> str:
    """The message for an unknown ``[tool.harness]`` key: the closest known keys (difflib, cutoff 0.6) as a
    did-you-mean, else the list of keys. ``loc`` is the key's path (``["epoch"]``, ``["generation", "max_token"]``)."""
    import difflib
    model: Any = HarnessConfig
    for part in loc[:-1]:
        ann = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        sub = getattr(ann, "annotation", None)
        model = sub if isinstance(sub, type) and issubclass(sub, BaseModel) else None
        if model is None:
            break
    known = [k for k in (model.model_fields if model is not None else {}) if k != "root"]
    close = difflib.get_close_matches(loc[-1], known, n=3, cutoff=0.6)
    if close:
        return f"unknown key {loc[-1]!r}; did you mean {' or '.join(repr(c) for c in close)}?"
    return f"unknown key {loc[-1]!r}; expected one of: {', '.join(sorted(known))}"


def generation_for(cfg: HarnessConfig, model: ModelSpec, override: GenerationConfig | None) -> GenerationConfig:
    """The sampling settings of a request to ``model``: ``override`` (``--temperature``/``--max-tokens`` given),
    else ``[tool.harness.local_generation]`` for the embedded model, else ``[tool.harness.generation]``."""
    if override is not None:
        return override
    return cfg.local_generation if model.provider == "local" else cfg.generation

