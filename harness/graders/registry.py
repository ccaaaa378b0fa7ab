"""The graders the harness knows, by name: the one list the CLI's and the pytest plugin's ``--grader`` choices,
``harness calibrate``, the runner and the reports read.

* ``deterministic`` -- the offline rubric grader (:class:`harness.graders.rubric.DeterministicGrader`): lexical
  stage plus the semantic stage when ``[tool.harness] semantic_grading`` is on; synchronous (:class:`Grader`).
* ``judge`` -- the LLM judge (:class:`harness.graders.judge.JudgeGrader`): needs a judge model; asynchronous
  (:class:`AsyncGrader`), its calls priced and retried like the agent's.

Grader modules are imported when a grader is created, so reading the names costs nothing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import ConfigError

if TYPE_CHECKING:   # the CLI reads NAMES for its --grader choices: importing this module stays cheap
    from ..config import HarnessConfig
    from .base import AsyncGrader, Grader


@dataclass(frozen=True)
class GraderInfo:
    """One registered grader.

    Attributes:
        name: what ``--grader`` and the records' ``grades`` call it.
        summary: one line for help texts.
        needs_model: True when it calls a model (``--judge-model`` / ``[tool.harness] judge_model`` required).
        sources: files under ``harness/graders/`` whose contents decide its verdicts (the calibration record's
            grader fingerprint, :mod:`harness.graders.record`).
        factory: ``(cfg, judge_model) -> grader``; ``cfg`` may be None (defaults).
    """

    name: str
    summary: str
    needs_model: bool
    sources: tuple[str, ...]
    factory: Callable[["HarnessConfig | None", "str | None"], "Grader | AsyncGrader"]


def _load(module: str, attr: str, name: str):
    try:
        return getattr(importlib.import_module(f"harness.graders.{module}"), attr)
    except (ImportError, AttributeError):
        raise ConfigError(f"the {name} grader is not available (harness.graders.{module}.{attr} is missing); use "
                          f"--grader {DEFAULT_GRADER}", field="--grader") from None


def _package_files(package: str) -> tuple[str, ...]:
    # every module of a grader package, so that a module added to it is in the grader's fingerprint too
    return tuple(sorted(f"{package}/{p.name}" for p in (Path(__file__).parent / package).glob("*.py")))


def _deterministic(cfg: "HarnessConfig | None", _judge_model: str | None):
    on = cfg.semantic_grading if cfg is not None else True
    return _load("rubric", "DeterministicGrader", "deterministic")(semantic=on, warn_off=not on)


def _judge(cfg: "HarnessConfig | None", judge_model: str | None):
    model = judge_model or (cfg.judge_model if cfg is not None else None)
    if not model:
        raise ConfigError("the judge grader needs a model: pass --judge-model or set [tool.harness] judge_model",
                          field="judge_model")
    return _load("judge", "JudgeGrader", "judge")(model, cfg=cfg)


GRADERS: dict[str, GraderInfo] = {g.name: g for g in (
    GraderInfo("deterministic", "offline rubric grader (keywords and places, then sentence embeddings)", False,
               (*_package_files("rubric"), "semantic.py", "lexicon.py", "textnorm.py", "items.py"), _deterministic),
    GraderInfo("judge", "LLM judge applying every finding's and trap's rubric (needs --judge-model)", True,
               ("judge.py", "templates/judge_system.md.j2", "templates/judge_user.md.j2"), _judge),
)}
NAMES: tuple[str, ...] = tuple(GRADERS)
DEFAULT_GRADER = "deterministic"   # every run grades with it; the reports read its verdicts first
MODEL_GRADER = "judge"             # the grader whose verdicts are compared with the default's (grader agreement)


def info(name: str) -> GraderInfo:
    """The registration of ``name``.

    Raises:
        ConfigError: an unknown name (field ``--grader``), listing the known ones.
    """
    try:
        return GRADERS[name]
    except KeyError:
        raise ConfigError(f"unknown grader {name!r}; expected {' or '.join(NAMES)}", field="--grader") from None


def needs_model(names: list[str] | tuple[str, ...]) -> bool:
    """True when one of ``names`` calls a model (unknown names are ignored here; :func:`info` rejects them)."""
    return any(GRADERS[n].needs_model for n in names if n in GRADERS)


def create_grader(name: str, *, cfg: "HarnessConfig | None" = None, judge_model: str | None = None):
    """A grader instance: a :class:`~harness.graders.base.Grader` or an :class:`~harness.graders.base.AsyncGrader`.

    Raises:
        ConfigError: unknown name, a grader whose module is missing, or the judge without a judge model.
    """
    return info(name).factory(cfg, judge_model)


def create_graders(names: list[str], *, cfg: "HarnessConfig | None" = None, judge_model: str | None = None) -> list:
    """Grader instances for ``names``, in order (see :func:`create_grader`)."""
    return [create_grader(n, cfg=cfg, judge_model=judge_model) for n in names]


def is_async(grader: object) -> bool:
    """True when ``grader`` grades with ``await grader.agrade(case, review)`` (it calls a model)."""
    from .base import AsyncGrader
    return isinstance(grader, AsyncGrader)
