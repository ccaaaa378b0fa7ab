"""Turn configuration plus CLI/pytest choices into RunOptions: which prompts, models, cases and epochs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .cases import Case, load_suite, select_cases
from .config import HarnessConfig
from .models.base import GenerationConfig, ModelSpec
from .prompts import load_prompt
from .records import RunDir
from .runner import RunOptions

EMBEDDED_NOTICE = ("harness: no ANTHROPIC_API_KEY: running on the embedded local model {model} — scores show the "
                   "harness working, not the prompt's quality")


@dataclass
class Choices:
    """User choices; None means "from config / default"."""

    models: list[str] | None = None
    prompts: list[str] | None = None
    cases: str | None = None
    epochs: int | None = None
    run_dir: str | None = None
    resume: bool = False
    batch: bool = False
    graders: list[str] | None = None
    judge_model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    progress: bool = True


def build_options(cfg: HarnessConfig, ch: Choices) -> tuple[RunOptions, list[str]]:
    """Resolve choices into RunOptions plus notices to print.

    The case selection defaults to ``[tool.harness] local_default_cases`` (``smoke``) when every model is the
    embedded one, since it processes ~100 prompt tokens/s; ``--cases all`` runs the whole suite.
    Resuming an existing run dir without explicit choices reuses its manifest's prompts, models, cases, epochs.

    Raises:
        HarnessError subclasses for unknown cases, prompts or models.
    """
    notices: list[str] = []
    manifest = None
    if ch.run_dir and RunDir.exists(ch.run_dir):
        manifest = RunDir.open(ch.run_dir).manifest
    models = ch.models or ([m.name for m in manifest.models] if manifest else None) or [cfg.default_model()]
    for m in models:
        ModelSpec.parse(m)
    prompt_specs = ch.prompts or ([p.spec for p in manifest.prompts] if manifest else None) or cfg.prompts
    prompts = [load_prompt(p, root=cfg.root) for p in prompt_specs]
    labels = [p.label for p in prompts]
    if len(set(labels)) != len(labels):
        from .errors import ConfigError
        raise ConfigError(f"two prompt versions share the label {labels}; rename one file", field="--prompt")
    suite = load_suite(cfg.path(cfg.cases_dir), max_file_bytes=cfg.max_file_bytes)
    all_local = all(ModelSpec.parse(m).provider == "local" for m in models)
    selector = ch.cases or cfg.cases
    if selector is None and manifest is not None:
        ids = set(manifest.cases)
        cases: list[Case] = [c for c in suite if c.id in ids]
    else:
        if selector is None and all_local:
            selector = cfg.local_default_cases
            notices.append(f"harness: embedded model: running cases selected by {selector!r} (about 20–40 s each on "
                           "2 cores); use --cases all for the whole suite")
        cases = select_cases(suite, selector)
    if all_local:
        notices.insert(0, EMBEDDED_NOTICE.format(model=models[0]))
    epochs = ch.epochs if ch.epochs is not None else (manifest.epochs if manifest else None) or cfg.epochs
    if epochs < 1:
        from .errors import ConfigError
        raise ConfigError(f"expected a whole number of epochs >= 1, got {epochs}", field="--epochs")
    gen = None
    if ch.temperature is not None or ch.max_tokens is not None:
        base = cfg.local_generation if all_local else cfg.generation
        upd = {k: v for k, v in (("temperature", ch.temperature), ("max_tokens", ch.max_tokens)) if v is not None}
        gen = GenerationConfig(**{**base.model_dump(), **upd})
    opts = RunOptions(cases=cases, prompts=prompts, models=models, epochs=epochs,
                      run_dir=Path(ch.run_dir) if ch.run_dir else None,
                      resume=ch.resume or manifest is not None,
                      batch=ch.batch or bool(manifest and manifest.config.get("batch")),
                      graders=ch.graders or cfg.graders, judge_model=ch.judge_model or cfg.judge_model,
                      progress=ch.progress, generation=gen)
    return opts, notices
