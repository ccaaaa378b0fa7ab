"""What a finished run tells its user: a few lines on what the result means and what to do next, printed after
``pytest evals`` and ``harness run``; and the plan of a run before it starts (``harness run --dry-run``).

The lines depend on the run: on the embedded model, failures are expected and say nothing about the prompt; the
sample view in the HTML report is where to read what the model wrote; how to run on Claude when the run was not on
it; how to compare this prompt version with another one against this run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .config import HarnessConfig
from .models.base import ModelSpec
from .config import generation_for
from .models.pricing import estimate_cost
from .runner import RunOptions, plan_samples
from .request import render_request


def _rel(p: Path | str, root: Path) -> str:
    """``p`` relative to the working directory when it is under it (shorter commands to copy), else as is."""
    full, here = Path(p).resolve(), Path.cwd().resolve()
    return str(full.relative_to(here)) if full.is_relative_to(here) else str(p)


def other_prompt(spec: str, root: Path) -> str | None:
    """Another prompt version beside ``spec`` (same folder, ``.md``): the next one by name, else the previous;
    None when there is none or ``spec`` is not a file path (``git:REV:PATH``)."""
    if spec.startswith("git:"):
        return None
    p = Path(spec) if Path(spec).is_absolute() else root / spec
    if not p.parent.is_dir():
        return None
    sibs = sorted(x for x in p.parent.glob("*.md") if x.is_file())
    if p not in sibs or len(sibs) < 2:
        return None
    i = sibs.index(p)
    other = sibs[i + 1] if i + 1 < len(sibs) else sibs[i - 1]
    try:
        return str(other.relative_to(root))
    except ValueError:
        return str(other)


def cases_dir_flag(cfg: HarnessConfig) -> str:
    """`` --cases-dir DIR`` when the run's suite is not the project's own (``[tool.harness] cases_dir`` in
    pyproject.toml), so that a suggested command runs the same cases; else ``""``."""
    from .config import load_config
    from .errors import HarnessError
    used = cfg.path(cfg.cases_dir).resolve()
    try:
        own = load_config(cfg.root)
    except HarnessError:
        own = None
    if own is not None and own.path(own.cases_dir).resolve() == used:
        return ""
    import shlex
    return f" --cases-dir {shlex.quote(_rel(used, cfg.root))}"


def sampling_flags(cfg: HarnessConfig, opts: RunOptions, *, pytest: bool = False) -> str:
    """`` --epochs N --temperature T --max-tokens M`` for what the run chose differently from the configuration,
    so that a suggested second run is sampled as this one was (a comparison of runs sampled differently mixes the
    prompt's effect with the sampling's); ``""`` when it chose nothing. ``pytest``: as ``pytest evals`` spells
    them (``--harness-temperature``: the bare names are the CLI's)."""
    pre = "--harness-" if pytest else "--"
    out = ""
    if opts.epochs != cfg.epochs:
        out += f" --epochs {opts.epochs}"
    if opts.generation is not None and opts.models:
        from .config import generation_for
        base = generation_for(cfg, ModelSpec.parse(opts.models[0]), None)
        if opts.generation.temperature != base.temperature:
            out += f" {pre}temperature {opts.generation.temperature:g}"
        if opts.generation.max_tokens != base.max_tokens:
            out += f" {pre}max-tokens {opts.generation.max_tokens}"
    return out


def next_steps(cfg: HarnessConfig, opts: RunOptions, run_dir: Path, reports: Iterable[Path], *, failed: int = 0,
               errored: int = 0, command: str = "pytest evals") -> list[str]:
    """The "what this means / what next" lines after a run (plain text, no trailing newlines).

    Args:
        cfg, opts: the run's settings and plan.
        run_dir: the run directory.
        reports: the report files written (the HTML one is pointed at for the sample view).
        failed, errored: cases that failed / errored (pytest), for the wording.
        command: how the user ran it (``pytest evals`` or ``harness run``), for the commands suggested.
    """
    lines: list[str] = []
    providers = {ModelSpec.parse(m).provider for m in opts.models}
    suite = cases_dir_flag(cfg)     # every command below runs the run's own suite
    same = sampling_flags(cfg, opts, pytest=command.startswith("pytest"))  # ... sampled as this run was
    html = next((p for p in reports if str(p).endswith(".html")), None)
    if providers == {"local"}:
        lines.append(f"The reviews were written by the embedded {', '.join(opts.models)} model (135M parameters): "
                     f"{'failures are expected' if failed or errored else 'poor scores are expected'} and say "
                     "nothing about the prompt. The run shows the harness working end to end.")
    elif failed:
        lines.append(f"{failed} case(s) failed: recall below {cfg.min_recall:g} or a critical finding missed. "
                     "The sample view shows, for each, what the model wrote and why each finding was missed.")
    if errored:
        lines.append(f"{errored} case(s) errored: no sample of them could be graded (see the errors above); "
                     "an error is never counted as a miss.")
    if html is not None:
        lines.append(f"Read every review and why each finding was credited or missed: {_rel(html, cfg.root)}#samples")
    if "anthropic" not in providers:
        lines.append(f"Run on Claude: export ANTHROPIC_API_KEY=... then `{command}{suite}` (uses "
                     f"{cfg.anthropic_model}; --model anthropic/<id> for another).")
    spec = opts.prompts[0].spec if opts.prompts else ""
    other = other_prompt(spec, cfg.root) if spec else None
    run = _rel(run_dir, cfg.root)
    if len(opts.prompts) * len(opts.models) == 2:
        # two prompt versions (or models) in one run: the report shows them side by side, the verdict is compare's
        first, second = ((opts.prompts[0].label, opts.prompts[1].label) if len(opts.prompts) == 2
                         else tuple(opts.models))
        lines.append(f"A verdict on {second} against {first} (paired by case and epoch): `harness compare {run}` "
                     f"({first} is the baseline, the first one the run was given).")
    elif other:
        if command.startswith("pytest"):
            lines.append(f"Compare with another prompt version: `pytest evals --prompt {other}{suite}{same} --baseline "
                         f"{run}` (same cases and model; prints the verdict and writes a side-by-side comparison).")
        else:
            lines.append(f"Compare with another prompt version: `harness run --prompt {other}{suite}{same}`, then "
                         f"`harness compare {run} <the new run>`.")
    return lines


@dataclass
class Plan:
    """What a run would do: ``samples`` to send (after resume), per-model counts and estimated cost (USD, an
    upper bound: input at ~3 characters a token uncached, plus max_tokens of output; None for a model without a
    price, e.g. local or OpenAI-compatible)."""

    cases: list[str]
    prompts: list[str]
    models: list[str]
    epochs: int
    samples: int
    per_model: dict[str, int]
    cost_usd: dict[str, float | None]

    @property
    def total_cost(self) -> float | None:
        known = [c for c in self.cost_usd.values() if c is not None]
        return sum(known) if known else None


def plan(cfg: HarnessConfig, opts: RunOptions) -> Plan:
    """The plan of a run: every sample :func:`harness.runner.plan_samples` makes, and its estimated cost
    (:func:`harness.models.pricing.estimate_cost`, the estimate ``--max-cost`` uses). Sends nothing."""
    samples = plan_samples(opts.cases, opts.prompts, opts.models, opts.epochs)
    per_model: dict[str, int] = {}
    cost: dict[str, float | None] = {}
    for s in samples:
        spec = ModelSpec.parse(s.model)
        per_model[s.model] = per_model.get(s.model, 0) + 1
        priced = spec.provider == "anthropic" and cfg.price_for(spec.model) is not None
        if not priced:
            cost[s.model] = None
            continue
        gen = generation_for(cfg, spec, opts.generation)
        cost[s.model] = (cost.get(s.model) or 0.0) + estimate_cost(cfg, spec, s.prompt.body, render_request(s.case),
                                                                   gen.max_tokens)
    return Plan(cases=[c.id for c in opts.cases], prompts=[f"{p.label} ({p.spec})" for p in opts.prompts],
                models=list(opts.models), epochs=opts.epochs, samples=len(samples), per_model=per_model,
                cost_usd=cost)


def plan_lines(p: Plan, cfg: HarnessConfig) -> list[str]:
    """The plan as printed by ``harness run --dry-run``."""
    shown = ", ".join(p.cases[:12]) + (f", … ({len(p.cases) - 12} more)" if len(p.cases) > 12 else "")
    out = [f"cases ({len(p.cases)}): {shown}",
           f"prompt versions ({len(p.prompts)}): {', '.join(p.prompts)}",
           f"models ({len(p.models)}): {', '.join(p.models)}",
           f"epochs: {p.epochs}",
           f"samples: {p.samples} ({' + '.join(f'{n} on {m}' for m, n in p.per_model.items())})"]
    for m, c in p.cost_usd.items():
        if c is None:
            local = ModelSpec.parse(m).provider == "local"
            why = "runs locally, no cost" if local else "no price in [tool.harness.prices]"
            out.append(f"estimated cost on {m}: n/a ({why})")
        else:
            out.append(f"estimated cost on {m}: at most ${c:.4f} (input at ~3 characters a token, uncached, "
                       f"plus max_tokens of output; prompt caching and shorter reviews make it less)")
    total = p.total_cost
    if total is not None and len(p.cost_usd) > 1:
        out.append(f"estimated total: at most ${total:.4f}")
    if cfg.max_cost is not None:
        out.append(f"--max-cost ${cfg.max_cost:.2f}: the run stops starting samples before it would be exceeded")
    out.append("dry run: nothing was sent and no run directory was written")
    return out
