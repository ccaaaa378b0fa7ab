"""The run options, defined once: ``harness run`` / ``harness nightly`` flags and the ``pytest evals`` options are
both generated from :class:`RunArgs`.

Each field of :class:`RunArgs` carries its flag, help text, type and default, and the ``[tool.harness]`` key it
overrides (``config_key``) or the :class:`harness.planning.Choices` field it fills. Precedence: pyproject.toml
``[tool.harness]`` < flag / pytest option (:func:`harness.config.load_config` applies the overrides; a value left
unset is None and does not override).

In pytest every option is ``--harness-<flag>`` (a plugin loaded by an entry point into every session must not
take short names other plugins use: pytest-timeout has ``--timeout``); the names ``pytest evals`` has always had
(``--model``, ``--cases``...) are added as aliases by :func:`add_pytest_aliases`, which a project's conftest
calls.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from .graders.registry import NAMES as GRADER_NAMES
CACHE_MODES = ("use", "refresh", "off", "replay-only")
PYTEST_PREFIX = "harness_"    # pytest dest of field f: harness_<f> (option --harness-<flag>)

RUN, NIGHTLY, PYTEST = "run", "nightly", "pytest"
ALL = (RUN, NIGHTLY, PYTEST)


def _opt(flag: str, help: str, *, type: Callable[[str], Any] | None = None, action: str | None = None,
         choices: tuple[str, ...] | None = None, metavar: str | None = None, config_key: str | None = None,
         alias: bool = False, path: bool = False, scopes: tuple[str, ...] = ALL, default: Any = None) -> Any:
    """A :class:`RunArgs` field: ``flag`` is the CLI name without ``--``; ``alias``: ``pytest evals`` also has the
    bare ``--<flag>`` (the names it had before the options were shared); ``path``: a folder relative to the
    working directory (resolved before it overrides the config); ``scopes``: the entry points that offer it."""
    meta = {"flag": flag, "help": help, "type": type, "action": action, "choices": choices, "metavar": metavar,
            "config_key": config_key, "alias": alias, "path": path, "scopes": scopes}
    return field(default=default, metadata=meta)


@dataclass
class RunArgs:
    """What a user chose for a run, from the command line or pytest options; None (False for switches) means
    "from ``[tool.harness]`` or the default". Field names are the argparse dests."""

    model: list[str] | None = _opt(
        "model", "model name (repeatable): anthropic/<id>, openai/<model>@<base-url>, local/smollm2-135m (default: "
        "[tool.harness] anthropic_model with ANTHROPIC_API_KEY set, else the embedded local model)",
        action="append", alias=True)
    prompt: list[str] | None = _opt("prompt", "prompt version: a path or git:REV:PATH (repeatable)",
                                    action="append", alias=True)
    cases: str | None = _opt("cases", "comma-separated case ids, tags or kinds; 'all' for the whole suite",
                             alias=True)
    cases_dir: str | None = _opt("cases-dir", "the suite's folder (default [tool.harness] cases_dir): a team's own "
                                 "cases, kept outside this project", metavar="DIR", config_key="cases_dir",
                                 alias=True, path=True)
    limit: int | None = _opt("limit", "run only the first N of the selected cases", type=int, metavar="N",
                             alias=True)
    epochs: int | None = _opt("epochs", "reviews per case and prompt version × model (default [tool.harness] "
                              "epochs); 3 or more make flips and the regression gate worth reading", type=int,
                              alias=True)
    run_dir: str | None = _opt("run-dir", "run directory (default reports/runs/<timestamp>-<id>/); an existing "
                               "one is resumed", alias=True)
    concurrency: int | None = _opt("concurrency", "model calls in flight at once (default [tool.harness] "
                                   "concurrency; the embedded model always runs one)", type=int,
                                   config_key="concurrency")
    max_retries: int | None = _opt("max-retries", "retries of a failed call (rate limits, overload, 5xx) before "
                                   "the sample is recorded as an error", type=int, config_key="max_retries")
    request_timeout_s: float | None = _opt("timeout", "timeout of one model call", type=float, metavar="SECONDS",
                                           config_key="request_timeout_s")
    server_slots: int | None = _opt("server-slots", "requests an OpenAI-compatible server computes at once "
                                    "(default: asked from llama.cpp's /props, else 1 on loopback, 2 on a private "
                                    "network)", type=int, metavar="N", config_key="server_slots")
    server_context: int | None = _opt("server-context", "an OpenAI-compatible server's context size (default: "
                                      "asked from the server): max_tokens is fitted to what the prompt leaves",
                                      type=int, metavar="TOKENS", config_key="server_context")
    cache_mode: str | None = _opt("cache", "response cache: use (default: reuse identical requests), refresh (ask "
                                  "again, store), off, replay-only (never call a model; a miss is an error)",
                                  choices=CACHE_MODES, config_key="cache_mode", alias=True)
    cache_dir: str | None = _opt("cache-dir", "response cache folder; wins over $HARNESS_CACHE_DIR, which wins over "
                                 "[tool.harness] cache_dir (default ~/.cache/harness)", metavar="DIR",
                                 config_key="cache_dir", path=True)
    max_cost: float | None = _opt("max-cost", "stop starting samples once this budget would be exceeded (spent "
                                  "plus the estimate of every sample under way)", type=float, metavar="USD",
                                  config_key="max_cost", alias=True)
    temperature: float | None = _opt("temperature", "sampling temperature (default [tool.harness.generation])",
                                     type=float)
    max_tokens: int | None = _opt("max-tokens", "longest review in tokens (default [tool.harness.generation])",
                                  type=int)
    batch: bool = _opt("batch", "send through Anthropic's Message Batches API", action="store_true", default=False)
    graders: list[str] | None = _opt("grader", "who grades the reviews (repeatable; default deterministic): the "
                                     "rubric grader, offline, or an LLM judge (needs --judge-model)",
                                     action="append", choices=GRADER_NAMES, alias=True)
    judge_model: str | None = _opt("judge-model", "model of the LLM judge, e.g. anthropic/claude-haiku-4-5",
                                   alias=True)
    no_progress: bool = _opt("no-progress", "no progress bar (terminal) or progress lines (logs) while the samples "
                             "run", action="store_true", alias=True, default=False)
    grade_truncated: bool | None = _opt("grade-truncated", "grade replies cut at max_tokens (flagged in the "
                                        "reports) instead of leaving them ungraded", action="store_const",
                                        config_key="grade_truncated", alias=True)
    baseline: str | None = _opt("baseline", "baseline run directory or id to gate the new run against; several "
                                "comma-separated (a,b,c) are pooled", alias=True, scopes=(NIGHTLY, PYTEST))

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> "RunArgs":
        """The options of a parsed ``harness run`` / ``harness nightly`` command line (missing dests: default)."""
        return cls(**{f.name: getattr(ns, f.name, f.default) for f in fields(cls)})  # type: ignore[arg-type]  # the values are this dataclass's own fields' defaults

    @classmethod
    def from_pytest(cls, getoption: Callable[[str], Any]) -> "RunArgs":
        """The options of a pytest session: ``getoption`` is ``pytest.Config.getoption``."""
        return cls(**{f.name: getoption(PYTEST_PREFIX + f.name) for f in fields(cls)})

    def overrides(self) -> dict[str, Any]:
        """``{[tool.harness] key: value}`` for :func:`harness.config.load_config` (None: not given). A folder
        given as an option is relative to the working directory, not to the project root: it is resolved here."""
        out: dict[str, Any] = {}
        for f in fields(self):
            key = f.metadata["config_key"]
            if key is None:
                continue
            value = getattr(self, f.name)
            if f.metadata["path"] and value:
                value = str(Path(value).resolve())
            out[key] = value
        return out

    def choices(self, *, resume: str | None = None, dry_run: bool = False):
        """The :class:`harness.planning.Choices` of these options; ``resume``: ``harness run --resume RUN_DIR``
        (it is the run directory, and the run must exist)."""
        from .planning import Choices
        return Choices(models=self.model, prompts=self.prompt, cases=self.cases, epochs=self.epochs,
                       run_dir=resume or self.run_dir, resume=bool(resume), batch=self.batch, graders=self.graders,
                       judge_model=self.judge_model, temperature=self.temperature, max_tokens=self.max_tokens,
                       progress=not self.no_progress, limit=self.limit, dry_run=dry_run, cases_dir=self.cases_dir)


def _kwargs(f, dest: str) -> dict[str, Any]:
    m = f.metadata
    kw: dict[str, Any] = {"dest": dest, "help": m["help"], "default": f.default}
    if m["action"] == "store_const":
        kw.update(action="store_const", const=True)
    elif m["action"]:
        kw["action"] = m["action"]
    for k in ("type", "choices", "metavar"):
        if m[k] is not None:
            kw[k] = list(m[k]) if k == "choices" else m[k]
    return kw


def _fields(scope: str):
    return [f for f in fields(RunArgs) if scope in f.metadata["scopes"]]


def add_cli_options(parser: argparse.ArgumentParser, command: str) -> None:
    """Add the run options of ``command`` (``run`` or ``nightly``) to its argparse sub-parser: ``--<flag>``."""
    for f in _fields(command):
        parser.add_argument(f"--{f.metadata['flag']}", **_kwargs(f, f.name))


def add_pytest_options(group) -> None:
    """Add every run option to a pytest option group (``parser.getgroup("harness")``) as ``--harness-<flag>``."""
    for f in _fields(PYTEST):
        group.addoption(f"--harness-{f.metadata['flag']}", **_kwargs(f, PYTEST_PREFIX + f.name))


def add_pytest_aliases(group) -> None:
    """Add the short names ``pytest evals`` has always had (``--model``, ``--cases``, ``--epochs``...) as aliases of
    the ``--harness-*`` options. Called from a project's conftest (``pytest_addoption``), not by the plugin
    itself: another plugin may own one of these names."""
    for f in _fields(PYTEST):
        if f.metadata["alias"]:
            group.addoption(f"--{f.metadata['flag']}", **_kwargs(f, PYTEST_PREFIX + f.name))
