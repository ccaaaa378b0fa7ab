"""Turn configuration plus CLI/pytest choices into RunOptions: which prompts, models, cases and epochs."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from .cases import BrokenCase, Case, load_suite_lenient, select_cases
from .config import HarnessConfig
from .graders.registry import needs_model
from .models.base import GenerationConfig, ModelSpec
from .prompts import PromptVersion, load_prompt
from .records import RunDir
from .runner import RunOptions

if TYPE_CHECKING:
    from .records import RunManifest

EMBEDDED_NOTICE = ("harness: no ANTHROPIC_API_KEY: running on the embedded local model {model} — scores show the "
                   "harness working, not the prompt's quality")


def dedupe_prompts(prompts: list) -> tuple[list, dict[str, list[str]]]:
    """Prompt versions with identical contents (the same fingerprint) under several names (``git:main:v1.md``
    and ``v1.md``) would be the same samples: keep the first of each, and return ``{kept label: [other labels]}``
    so that the run and its reports say so instead of silently showing one variant."""
    kept: dict[str, PromptVersion] = {}
    aliases: dict[str, list[str]] = {}
    for p in prompts:
        first = kept.setdefault(p.fingerprint, p)
        if first is not p:
            aliases.setdefault(first.label, []).append(p.label)
    return list(kept.values()), aliases


def check_cases(cases: list[Case], max_file_bytes: int) -> None:
    """Refuse to run cases that fail ``harness validate`` (:func:`harness.validate.case_errors`): a case whose
    finding points past the end of its file would be graded against nothing.

    Raises:
        CaseError: naming every error (the validator's messages, up to 10) and how to proceed.
    """
    from .errors import CaseError
    from .validate import case_errors
    problems = [p for c in cases for p in case_errors(c.folder, max_file_bytes=max_file_bytes)]
    if problems:
        shown = "\n  ".join(str(p) for p in problems[:10])
        more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
        bad = sorted({p.case for p in problems})
        raise CaseError(f"{len(bad)} selected case(s) fail `harness validate` ({', '.join(bad)}); fix them, or leave "
                        f"them out with --cases:\n  {shown}{more}", field="--cases")


@contextmanager
def _blame(cfg: HarnessConfig, key: str | None):
    """Errors about a value that came from ``[tool.harness] key`` (not from a flag) name pyproject.toml and the
    key, not the flag the user never passed. ``key`` None: the value came from a flag; errors pass unchanged."""
    from .config import has_harness_table
    from .errors import HarnessError
    try:
        yield
    except HarnessError as e:
        if key is None:
            raise
        where = f" ({e.file})" if e.file and not str(e.file).endswith("pyproject.toml") else ""
        if not has_harness_table(cfg.root):
            # outside a project the value is a built-in default: blaming a pyproject.toml that does not exist
            # (or has no [tool.harness]) would send the user looking for a file that is not there
            raise HarnessError(f"{e.message}{where}: that is the default {key}, since no pyproject.toml with a "
                               f"[tool.harness] table was found in {cfg.root} or above; run inside a harness "
                               f"project (or pass --root DIR), or choose it with {_FLAG_OF.get(key, '--' + key)}"
                               ) from None
        try:
            err = type(e)(e.message + where, file=cfg.root / "pyproject.toml", field=f"tool.harness.{key}")
        except TypeError:     # an error type with other arguments
            err = HarnessError(e.message + where, file=cfg.root / "pyproject.toml", field=f"tool.harness.{key}")
        raise err from None


# the flag that chooses what a [tool.harness] key sets, for the advice given outside a project
_FLAG_OF = {"prompts": "--prompt", "cases_dir": "--cases-dir", "model": "--model", "anthropic_model": "--model",
            "local_model": "--model", "cases": "--cases", "local_default_cases": "--cases"}


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
    kind: str = "adhoc"           # "nightly" for harness nightly (run.json kind; the dashboard reads those)
    dry_run: bool = False         # plan only: no API key needed, nothing is sent
    cases_dir: str | None = None  # --cases-dir as given: a resumed run otherwise reads its run.json's cases_dir
    # the case ids a --baseline ran: without --cases, only these are run (what the gate can pair), in suite order
    baseline_cases: list[str] | None = None


def _baseline_selection(suite: list[Case], ids: list[str], notices: list[str]) -> list[Case]:
    """The cases of the suite a baseline ran (a candidate's other cases could not be paired: paid for, never
    compared), with a notice saying so and how to run others. Raises CaseError: none of them is in the suite."""
    from .errors import CaseError
    wanted = set(ids)
    cases = [c for c in suite if c.id in wanted]
    gone = sorted(wanted - {c.id for c in cases})
    if not cases:
        raise CaseError(f"none of the baseline's {len(wanted)} cases is in the suite any more "
                        f"({', '.join(gone[:10])}); choose cases with --cases", field="--baseline")
    if len(cases) < len(suite) or gone:     # a baseline of the whole suite changes nothing worth a line
        notices.append(f"harness: --baseline: running the baseline's {len(cases)} case(s) only, "
                       f"{len(suite) - len(cases)} other case(s) of the suite left out (--cases all, or --cases IDS, "
                       "runs others; cases the baseline lacks are not compared)"
                       + (f"; {len(gone)} of its cases are gone from the suite: {', '.join(gone[:10])}"
                          if gone else ""))
    return cases


def build_options(cfg: HarnessConfig, ch: Choices) -> tuple[RunOptions, list[str]]:
    """Resolve choices into RunOptions plus notices to print.

    The case selection defaults to ``[tool.harness] local_default_cases`` (``smoke``) when every model is the
    embedded one, since it processes ~100 prompt tokens/s; ``--cases all`` runs the whole suite.
    Resuming an existing run dir without explicit choices reuses its manifest's prompts, models, cases, epochs,
    graders and judge model.

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
    model_key = None if ch.models or manifest else (
        "model" if cfg.model else "anthropic_model" if models == [cfg.anthropic_model] else "local_model")
    with _blame(cfg, model_key):
        for m in models:
            ModelSpec.parse(m)
    prompt_specs = ch.prompts or ([p.spec for p in manifest.prompts] if manifest else None) or cfg.prompts
    with _blame(cfg, None if ch.prompts or manifest else "prompts"):
        prompts = [load_prompt(p, root=cfg.root) for p in prompt_specs]
    _check_prompt_twice(prompt_specs, cfg, None if ch.prompts or manifest else "prompts")
    labels = [p.label for p in prompts]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"two prompt versions share the label {labels}; rename one file", field="--prompt")
    prompts, aliases = dedupe_prompts(prompts)
    for kept, others in aliases.items():
        notices.append(f"harness: prompt versions {', '.join([kept, *others])} have identical contents: run once, "
                       f"as {kept} (reports say so; a difference between them would be zero by construction)")
    with _blame(cfg, None if ch.cases_dir else "cases_dir"):
        suite, broken = load_suite_lenient(cfg.path(cfg.cases_dir), max_file_bytes=cfg.max_file_bytes)
    all_local = all(ModelSpec.parse(m).provider == "local" for m in models)
    selector = ch.cases if ch.cases is not None else cfg.cases
    if selector is None and all_local and manifest is None:
        selector = cfg.local_default_cases
    notices.extend(_broken_cases(broken, selector, manifest))
    if selector is None and manifest is not None:
        ids = set(manifest.cases)
        cases: list[Case] = [c for c in suite if c.id in ids]
    elif ch.cases is None and ch.baseline_cases is not None:
        cases = _baseline_selection(suite, ch.baseline_cases, notices)
    else:
        case_key = None if ch.cases is not None else "cases"
        if ch.cases is None and cfg.cases is None and all_local:
            case_key = "local_default_cases"
            notices.append(f"harness: embedded model: running cases selected by {selector!r} (about 20–40 s each on "
                           "2 cores); use --cases all for the whole suite")
        with _blame(cfg, case_key):
            cases = select_cases(suite, selector)
    if ch.limit is not None:
        if ch.limit < 1:
            raise ConfigError(f"expected a whole number of cases >= 1, got {ch.limit}", field="--limit")
        if ch.limit < len(cases):
            notices.append(f"harness: --limit {ch.limit}: running the first {ch.limit} of {len(cases)} selected "
                           "cases")
            cases = cases[:ch.limit]
    check_cases(cases, cfg.max_file_bytes)
    if all_local:
        notices.insert(0, EMBEDDED_NOTICE.format(model=models[0]))
    epochs = ch.epochs if ch.epochs is not None else (manifest.epochs if manifest else None) or cfg.epochs
    if epochs < 1:
        raise ConfigError(f"expected a whole number of epochs >= 1, got {epochs}", field="--epochs")
    # a resumed run is graded as it was started: its graders and judge model, unless chosen again (and then they
    # must match, see _check_resume)
    graders = ch.graders or (list(manifest.graders) if manifest and manifest.graders else None) or cfg.graders
    judge_model = ch.judge_model or (manifest.judge_model if manifest else None) or cfg.judge_model
    if ch.judge_model and not needs_model(graders):
        # a judge model given on the command line with no judge to run was silently ignored: the user believed
        # the judge graded the run
        raise ConfigError(f"--judge-model {ch.judge_model} is given but the judge is not among the graders "
                          f"({', '.join(graders)}): add --grader judge (and --grader deterministic to keep it)",
                          field="--judge-model")
    if needs_model(graders) and not judge_model:
        if ch.graders:
            raise ConfigError("the judge grader needs a model: pass --judge-model or set [tool.harness] judge_model",
                              field="--grader")
        raise ConfigError("the judge grader needs a model: set judge_model too, or pass --judge-model",
                          file=cfg.root / "pyproject.toml", field="tool.harness.graders")
    for m in models:
        if ModelSpec.parse(m).provider == "anthropic" and not os.environ.get("ANTHROPIC_API_KEY") and not ch.dry_run:
            with _blame(cfg, model_key if model_key == "model" else None):
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
                      graders=graders, judge_model=judge_model,
                      progress=ch.progress, generation=gen, kind=ch.kind, prompt_aliases=aliases)
    return opts, notices


def _broken_cases(broken: list[BrokenCase], selector: str | None, manifest: "RunManifest | None") -> list[str]:
    """A case folder that does not load stops the run only when the run selects it: by ``all`` (or no selector),
    by its folder name, id, a tag or kind its case.yaml still states, or as a case of the resumed run. Otherwise
    it is left out with a warning naming its file. Returns the warnings; raises its CaseError when selected."""
    if not broken:
        return []
    if selector is None and manifest is not None:
        wanted: set[str] | None = set(manifest.cases)
    elif selector is None or selector.strip() == "all":
        wanted = None
    else:
        wanted = {t.strip() for t in selector.split(",") if t.strip()}
    hit = [b for b in broken if wanted is None or b.names & wanted]
    if len(hit) > 1:
        # every selected case that does not load, not only the first: one round of fixes, not one per case
        from .errors import CaseError
        first = hit[0].error
        others = "; ".join(str(b.error) for b in hit[1:])
        raise CaseError(f"{first.message} (and {len(hit) - 1} more selected case(s) that do not load: {others})",
                        file=first.file, field=first.field)
    if hit:
        raise hit[0].error
    return [f"harness: warning: a case that does not load is left out (not selected): {b.error}; "
            "`harness validate` lists every problem" for b in broken]


def _check_prompt_twice(specs: list[str], cfg: HarnessConfig, key: str | None) -> None:
    """One prompt file named twice (``v1.md`` and ``./v1.md``, or the same ``git:REV:PATH``) is one prompt version,
    not two that happen to share a label: say so. Paths are compared resolved against the project root, as
    :func:`harness.prompts.load_prompt` reads them. Raises ConfigError naming both spellings."""
    from .errors import ConfigError
    seen: dict[str, str] = {}
    for spec in specs:
        s = str(spec)
        ident = s if s.startswith("git:") else str((Path(s) if Path(s).is_absolute() else cfg.root / s).resolve())
        if ident in seen:
            same = f"{seen[ident]!r} and {s!r} are" if seen[ident] != s else f"{s!r} is"
            with _blame(cfg, key):
                raise ConfigError(f"the same prompt file is given twice: {same} one file; name each prompt version "
                                  "once", field="--prompt")
        seen[ident] = s


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
    if ch.graders and manifest.graders and sorted(set(ch.graders)) != sorted(set(manifest.graders)):
        conflicts.append(f"--grader {ch.graders} (run: {manifest.graders})")
    if ch.judge_model and manifest.judge_model and ch.judge_model != manifest.judge_model:
        conflicts.append(f"--judge-model {ch.judge_model} (run: {manifest.judge_model})")
    stored = GenerationConfig(**manifest.models[0].generation) if manifest.models and manifest.models[0].generation \
        else None
    if gen is not None and stored is not None and gen != stored:
        conflicts.append(f"generation {gen.model_dump()} (run: {stored.model_dump()})")
    if conflicts:
        raise ConfigError("this run was started with other settings; resume it without conflicting options, or "
                          "choose a new --run-dir: " + "; ".join(conflicts), field="--resume")
    return stored or gen
