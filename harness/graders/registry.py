"""Create graders by name: ``deterministic`` (offline rubric grader) and ``judge`` (LLM judge)."""

from __future__ import annotations

from ..errors import ConfigError


def create_graders(names: list[str], *, cfg=None, judge_model: str | None = None) -> list:
    """Grader instances for ``names``, in order.

    Raises:
        ConfigError: unknown name, or ``judge`` without a judge model.
    """
    out = []
    for name in names:
        if name == "deterministic":
            from .rubric import DeterministicGrader
            on = cfg.semantic_grading if cfg is not None else True
            out.append(DeterministicGrader(semantic=on, warn_off=not on))
        elif name == "judge":
            model = judge_model or (cfg.judge_model if cfg is not None else None)
            if not model:
                raise ConfigError("the judge grader needs a model: pass --judge-model or set "
                                  "[tool.harness] judge_model", field="judge_model")
            from .judge import JudgeGrader
            out.append(JudgeGrader(model, cfg=cfg))
        else:
            raise ConfigError(f"unknown grader {name!r}; expected deterministic or judge", field="--grader")
    return out
