"""What the first run says (harness/guidance.py), harness run --dry-run, --limit, --version, and help texts."""

from __future__ import annotations

import argparse

import pytest

from harness.cli import _build, main
from harness.config import load_config
from harness.errors import ConfigError
from harness.guidance import next_steps, other_prompt, plan, plan_lines
from harness.request import render_request
from harness.models.base import ModelSpec
from harness.planning import Choices, build_options
from harness.models.pricing import estimate_cost

from .conftest import ROOT


@pytest.fixture
def cfg():
    return load_config(ROOT)


def test_first_run_on_the_embedded_model_says_failures_are_expected_and_what_next(cfg, tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    opts, _ = build_options(cfg, Choices(progress=False))
    html = tmp_path / "reports" / "r" / "report.html"
    lines = next_steps(cfg, opts, tmp_path / "runs" / "r", [tmp_path / "report.md", html], failed=3)
    text = "\n".join(lines)
    assert "embedded" in text and "expected" in text and "say nothing about the prompt" in text
    assert f"{html}#samples" in text or "report.html#samples" in text
    assert "export ANTHROPIC_API_KEY" in text and cfg.anthropic_model in text
    assert "--prompt prompts/backend-reliability-engineer/v2.md --baseline" in text


def test_on_claude_failures_point_at_the_sample_view_and_no_claude_hint(cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    opts, _ = build_options(cfg, Choices(models=["anthropic/claude-sonnet-4-6"], progress=False))
    lines = next_steps(cfg, opts, tmp_path / "r", [], failed=2, errored=1, command="harness run")
    text = "\n".join(lines)
    assert "2 case(s) failed" in text and "1 case(s) errored" in text and "never counted as a miss" in text
    assert "Run on Claude" not in text and "embedded" not in text
    assert "harness compare" in text


def test_the_suggested_second_run_is_sampled_as_this_one(cfg, tmp_path, monkeypatch):
    """After `harness run --epochs 3 --temperature 0.7` the suggested v2 run was plain `harness run --prompt v2.md`:
    followed, the comparison paired nothing at temperature 0 against 0.7 (a fresh user's report, 2026-12-08)."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    opts, _ = build_options(cfg, Choices(models=["anthropic/claude-sonnet-4-6"], epochs=3, temperature=0.7,
                                         progress=False))
    for command, want in (("harness run", "harness run --prompt prompts/backend-reliability-engineer/v2.md "
                                          "--epochs 3 --temperature 0.7`"),
                          ("pytest evals", "pytest evals --prompt prompts/backend-reliability-engineer/v2.md "
                                           "--epochs 3 --harness-temperature 0.7 --baseline")):
        text = "\n".join(next_steps(cfg, opts, tmp_path / "r", [], command=command))
        assert want in text, text
    plain, _ = build_options(cfg, Choices(models=["anthropic/claude-sonnet-4-6"], progress=False))
    text = "\n".join(next_steps(cfg, plain, tmp_path / "r", [], command="harness run"))
    assert "--epochs" not in text and "--temperature" not in text


def test_a_two_prompt_run_says_how_to_get_its_verdict(cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    v1, v2 = "prompts/backend-reliability-engineer/v1.md", "prompts/backend-reliability-engineer/v2.md"
    opts, _ = build_options(cfg, Choices(models=["anthropic/claude-sonnet-4-6"], prompts=[v1, v2], progress=False))
    run = tmp_path / "runs" / "ab"
    for command in ("harness run", "pytest evals"):
        text = "\n".join(next_steps(cfg, opts, run, [], command=command))
        assert f"A verdict on v2 against v1 (paired by case and epoch): `harness compare {run}`" in text
        assert "--baseline" not in text


def test_other_prompt_finds_a_sibling_version(tmp_path):
    (tmp_path / "p").mkdir()
    for n in ("v1.md", "v2.md", "v3.md"):
        (tmp_path / "p" / n).write_text("x")
    assert other_prompt("p/v1.md", tmp_path) == "p/v2.md"
    assert other_prompt("p/v3.md", tmp_path) == "p/v2.md"
    assert other_prompt("git:main:p/v1.md", tmp_path) is None
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "only.md").write_text("x")
    assert other_prompt("q/only.md", tmp_path) is None


def test_plan_estimates_the_cost_the_budget_uses(cfg, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    opts, _ = build_options(cfg, Choices(models=["anthropic/claude-sonnet-4-6", "local/smollm2-135m"],
                                         cases="smoke", epochs=2, dry_run=True, progress=False))
    p = plan(cfg, opts)
    spec = ModelSpec.parse("anthropic/claude-sonnet-4-6")
    want = 2 * sum(estimate_cost(cfg, spec, opts.prompts[0].body, render_request(c), cfg.generation.max_tokens)
                   for c in opts.cases)
    assert p.samples == 2 * 2 * len(opts.cases) and p.per_model["local/smollm2-135m"] == 2 * len(opts.cases)
    assert p.cost_usd["anthropic/claude-sonnet-4-6"] == pytest.approx(want) and want > 0
    assert p.cost_usd["local/smollm2-135m"] is None
    text = "\n".join(plan_lines(p, cfg))
    assert f"at most ${want:.4f}" in text and "runs locally, no cost" in text and "nothing was sent" in text


def test_dry_run_prints_the_plan_sends_nothing_and_writes_no_run(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    run_dir = tmp_path / "run"
    code = main(["--root", str(ROOT), "run", "--dry-run", "--model", "anthropic/claude-haiku-4-5", "--cases", "all",
                 "--limit", "4", "--epochs", "3", "--run-dir", str(run_dir), "--max-cost", "0.5"])
    out = capsys.readouterr()
    assert code == 0 and not run_dir.exists()
    assert "cases (4):" in out.out and "samples: 12 (12 on anthropic/claude-haiku-4-5)" in out.out
    assert "estimated cost on anthropic/claude-haiku-4-5: at most $" in out.out and "--max-cost $0.50" in out.out
    assert "ANTHROPIC_API_KEY is not set" in out.out
    from harness.cases import load_suite
    n = len(load_suite(ROOT / "cases"))
    assert f"--limit 4: running the first 4 of {n} selected cases" in out.err


def test_limit_takes_the_first_cases_and_rejects_nonsense(cfg, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    full, _ = build_options(cfg, Choices(cases="all", progress=False))
    some, notes = build_options(cfg, Choices(cases="all", limit=3, progress=False))
    assert [c.id for c in some.cases] == [c.id for c in full.cases[:3]] and any("--limit 3" in n for n in notes)
    with pytest.raises(ConfigError, match="--limit"):
        build_options(cfg, Choices(cases="all", limit=0, progress=False))


def test_version(capsys):
    from harness import __version__
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"harness {__version__}"


def test_every_option_of_every_command_has_help_text():
    missing = []

    def walk(p: argparse.ArgumentParser, name: str) -> None:
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for n, sp in a.choices.items():
                    walk(sp, f"{name} {n}")
            elif not isinstance(a, argparse._HelpAction) and not a.help:
                missing.append(f"{name} {'/'.join(a.option_strings) or a.dest}")
    walk(_build(), "harness")
    assert missing == []


def test_every_pytest_option_has_help_text():
    from harness.options import add_pytest_aliases
    from harness.pytest_plugin import pytest_addoption

    class Group:
        def __init__(self):
            self.opts = []

        def addoption(self, *names, **kw):
            self.opts.append((names, kw))

    class Parser:
        def __init__(self):
            self.group = Group()

        def getgroup(self, *a, **kw):
            return self.group

    p = Parser()
    pytest_addoption(p)
    add_pytest_aliases(p.group)
    names = [n[0] for n, _ in p.group.opts]
    assert {"--limit", "--no-progress", "--epochs", "--grader", "--judge-model", "--cache", "--max-cost"} <= set(names)
    assert {"--harness-limit", "--harness-timeout", "--harness-concurrency", "--harness-root"} <= set(names)
    assert [n for n, kw in p.group.opts if not kw.get("help")] == []
