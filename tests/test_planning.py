"""Choosing prompts, models, cases and epochs from config and user choices."""

import pytest

from harness.config import load_config
from harness.errors import CaseError, ConfigError, PromptError
from harness.planning import EMBEDDED_NOTICE, Choices, build_options

from .conftest import ROOT, write_case


@pytest.fixture
def cfg(tmp_path):
    for i, tags in enumerate((["smoke"], ["big"], ["big"])):
        d = write_case(tmp_path / "cases", f"case-{i}")
        y = (d / "case.yaml").read_text().replace("tags: [python, smoke]", f"tags: {tags}")
        (d / "case.yaml").write_text(y)
    return load_config(ROOT, {"cases_dir": str(tmp_path / "cases")})


def test_embedded_default_runs_smoke_cases_and_says_so(cfg):
    opts, notices = build_options(cfg, Choices())
    assert opts.models == ["local/smollm2-135m"] and [c.id for c in opts.cases] == ["case-0"]
    assert notices[0] == EMBEDDED_NOTICE.format(model="local/smollm2-135m")
    assert "scores show the harness working, not the prompt's quality" in notices[0]
    opts, _ = build_options(cfg, Choices(cases="all"))
    assert len(opts.cases) == 3


def test_api_key_selects_claude_and_whole_suite(cfg, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    opts, notices = build_options(cfg, Choices())
    assert opts.models == [cfg.anthropic_model] and len(opts.cases) == 3 and notices == []


def test_explicit_choices(cfg):
    opts, _ = build_options(cfg, Choices(models=["anthropic/claude-haiku-4-5"], epochs=4, cases="big",
                                         prompts=["prompts/backend-reliability-engineer/v1.md",
                                                  "prompts/backend-reliability-engineer/v2.md"],
                                         temperature=0.5))
    assert opts.epochs == 4 and [p.label for p in opts.prompts] == ["v1", "v2"] and len(opts.cases) == 2
    assert opts.generation.temperature == 0.5 and opts.generation.max_tokens == cfg.generation.max_tokens


@pytest.mark.parametrize("choices, err", [
    (Choices(models=["gpt4"]), ConfigError),
    (Choices(models=["openai/llama3"]), ConfigError),
    (Choices(prompts=["nope.md"]), PromptError),
    (Choices(cases="no-such-case"), CaseError),
])
def test_bad_choices_are_named_errors(cfg, choices, err):
    with pytest.raises(err):
        build_options(cfg, choices)
