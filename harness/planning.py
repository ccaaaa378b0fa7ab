"""Turn configuration plus CLI/pytest choices into RunOptions: which prompts, models, cases and epochs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from .cases import Case, load_suite, select_cases
from .config import HarnessConfig
from .models.base import GenerationConfig, ModelSpec
from .prompts import load_prompt
from .records import RunDir
from .runner import RunOptions

if TYPE_CHECKING:
    from .records import RunManifest

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
    limit: int | None = None      # run only the first N selected cases
    dry_run: bool = False         # plan only: no API key needed, nothing is sent


def build_options(cfg: HarnessConfig, ch: Choices) -> tuple[RunOptions, list[str]]:
    """Resolve choices into RunOptions plus notices to print.

    The case selection defaults to ``[tool.harness] local_default_cases`` (``smoke``) when every model is the
    embedded one, since it processes ~100 prompt tokens/s; ``--cases all`` runs the whole suite.
    Resuming an existing run dir without explicit choices reuses its manifest's prompts, models, cases, epochs.

    Raises:
        HarnessError subclasses for unknown cases, prompts or models.
    """
    from .errors import ConfigError, RecordError
    notices: list[str] = []
    manifest = None
    if ch.run_dir and RunDir.exists(ch.run_dir):
        manifest = RunDir.open(ch.run_dir).manifest
    elif ch.resume:
        raise RecordError("not a run directory (no run.json): nothing to resume", file=ch.run_dir, field="--resume")
    models = ch.models or ([m.name for m in manifest.models] if manifest else None) or [cfg.default_model()]
    for m in models:
        ModelSpec.parse(m)
    prompt_specs = ch.prompts or ([p.spec for p in manifest.prompts] if manifest else None) or cfg.prompts
    prompts = [load_prompt(p, root=cfg.root) for p in prompt_specs]
    labels = [p.label for p in prompts]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"two prompt versions share the label {labels}; rename one file", field="--prompt")
    suite = load_suite(cfg.path(cfg.cases_dir), max_file_bytes=cfg.max_file_bytes)
    all_local = all(ModelSpec.parse(m).provider == "local" for m in models)
    selector = ch.cases if ch.cases is not None else cfg.cases
    if selector is None and manifest is not None:
        ids = set(manifest.cases)
        cases: list[Case] = [c for c in suite if c.id in ids]
    else:
        if selector is None and all_local:
            selector = cfg.local_default_cases
            notices.append(f"harness: embedded model: running cases selected by {selector!r} (about 20–40 s each on "
                           "2 cores); use --cases all for the whole suite")
        cases = select_cases(suite, selector)
    if ch.limit is not None:
        if ch.limit < 1:
            raise ConfigError(f"expected a whole number of cases >= 1, got {ch.limit}", field="--limit")
        if ch.limit < len(cases):
            notices.append(f"harness: --limit {ch.limit}: running the first {ch.limit} of {len(cases)} selected "
                           "cases")
            cases = cases[:ch.limit]
    if all_local:
        notices.insert(0, EMBEDDED_NOTICE.format(model=models[0]))
    epochs = ch.epochs if ch.epochs is not None else (manifest.epochs if manifest else None) or cfg.epochs
    if epochs < 1:
        raise ConfigError(f"expected a whole number of epochs >= 1, got {epochs}", field="--epochs")
    if "judge" in (ch.graders or cfg.graders) and not (ch.judge_model or cfg.judge_model):
        raise ConfigError("the judge grader needs a model: pass --judge-model or set [tool.harness] judge_model",
                          field="--grader")
    for m in models:
        if ModelSpec.parse(m).provider == "anthropic" and not os.environ.get("ANTHROPIC_API_KEY") and not ch.dry_run:
            raise ConfigError(f"{m} needs ANTHROPIC_API_KEY: export it, or choose --model local/smollm2-135m",
                              field="--model")
    gen = None
    if ch.temperature is not None or ch.max_tokens is not None:
        base = cfg.local_generation if all_local else cfg.generation
        upd = {k: v for k, v in (("temperature", ch.temperature), ("max_tokens", ch.max_tokens)) if v is not None}
        try:
            gen = GenerationConfig(**{**base.model_dump(), **upd})
        except ValidationError as e:
            err = e.errors()[0]
            raise ConfigError(f"{err['msg']} (got {err.get('input')!r})",
                              field="--" + str(err["loc"][0]).replace("_", "-")) from None
    if manifest is not None:
        gen = _check_resume(manifest, ch, prompts, models, cases, epochs, gen)
    opts = RunOptions(cases=cases, prompts=prompts, models=models, epochs=epochs,
                      run_dir=Path(ch.run_dir) if ch.run_dir else None,
                      resume=ch.resume or manifest is not None,
                      batch=ch.batch or bool(manifest and manifest.config.get("batch")),
                      graders=ch.graders or cfg.graders, judge_model=ch.judge_model or cfg.judge_model,
                      progress=ch.progress, generation=gen)
    return opts, notices


def _check_resume(manifest: "RunManifest", ch: Choices, prompts, models: list[str], cases: list[Case], epochs: int,
                  gen: GenerationConfig | None) -> GenerationConfig | None:
    """A resumed run keeps the settings it was started with: every explicit choice must match the manifest
    (else ConfigError, naming each conflict), prompt files must still have the recorded fingerprints, and the
    generation config comes from the manifest. Returns the generation config to use."""
    from .errors import ConfigError
    conflicts = []
    if [m.name for m in manifest.models] != models:
        conflicts.append(f"--model {models} (run: {[m.name for m in manifest.models]})")
    recorded = {p.spec: p.fingerprint for p in manifest.prompts}
    if [p.spec for p in prompts] != list(recorded):
        conflicts.append(f"--prompt {[p.spec for p in prompts]} (run: {list(recorded)})")
    else:
        for p in prompts:
            if recorded[p.spec] != p.fingerprint:
                conflicts.append(f"prompt {p.spec} changed since the run started (fingerprint {p.short_fingerprint}, "
                                 f"run: {recorded[p.spec][:12]})")
    if ch.cases is not None and sorted(c.id for c in cases) != sorted(manifest.cases):
        conflicts.append(f"--cases {ch.cases!r} selects {len(cases)} cases (run: {len(manifest.cases)})")
    if sorted(c.id for c in cases) != sorted(manifest.cases):
        missing = sorted(set(manifest.cases) - {c.id for c in cases})
        if missing:
            conflicts.append(f"cases of the run are gone from the suite: {missing}")
    if epochs != manifest.epochs:
        conflicts.append(f"--epochs {epochs} (run: {manifest.epochs})")
    stored = GenerationConfig(**manifest.models[0].generation) if manifest.models and manifest.models[0].generation \
        else None
    if gen is not None and stored is not None and gen != stored:
        conflicts.append(f"generation {gen.model_dump()} (run: {stored.model_dump()})")
    if conflicts:
        raise ConfigError("this run was started with other settings; resume it without conflicting options, or "
                          "choose a new --run-dir: " + "; ".join(conflicts), field="--resume")
    return stored or gen
