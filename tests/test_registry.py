"""The grader registry (harness.graders.registry) is the one source of grader names and instances: the CLI's
choices, calibrate's factory, the runner's dispatch and the calibration fingerprint read it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness.cases import load_case
from harness.cli import _build
from harness.config import HarnessConfig, load_config
from harness.errors import ConfigError, HarnessError
from harness.graders import registry
from harness.graders.base import AsyncGrader, Grader, SampleGrade
from harness.graders.calibrate import _make_grader
from harness.graders.record import grader_fingerprint

from .conftest import ROOT


def _grader_choices(parser: argparse.ArgumentParser) -> dict[str, tuple]:
    """{subcommand: choices of its --grader} over every subcommand that has one."""
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for a in sub._actions:
                    if "--grader" in a.option_strings:
                        out[name] = tuple(a.choices)
    return out


def test_the_cli_offers_the_registered_graders_everywhere():
    choices = _grader_choices(_build())
    assert set(choices) >= {"run", "grade", "calibrate", "report", "compare"}
    assert all(c == registry.NAMES for c in choices.values()), choices
    assert registry.NAMES == ("deterministic", "judge")


def test_the_pytest_option_offers_the_registered_graders():
    from harness import pytest_plugin
    seen = {}

    class Group:
        def addoption(self, *names, **kw):
            seen[names[0]] = kw

    class Parser:
        def getgroup(self, *a, **k):
            return Group()

        def addini(self, *a, **k):
            pass

    pytest_plugin.pytest_addoption(Parser())
    assert tuple(seen["--harness-grader"]["choices"]) == registry.NAMES


def test_created_graders_follow_the_protocols(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-registry")
    det = registry.create_grader("deterministic")
    judge = registry.create_grader("judge", judge_model="anthropic/claude-haiku-4-5")
    assert isinstance(det, Grader) and not registry.is_async(det) and det.name == "deterministic"
    assert isinstance(judge, AsyncGrader) and registry.is_async(judge) and judge.name == "judge"


def test_unknown_grader_and_judge_without_model_are_config_errors():
    with pytest.raises(ConfigError, match="unknown grader 'rubrik'; expected deterministic or judge") as ei:
        registry.create_graders(["deterministic", "rubrik"])
    assert ei.value.field == "--grader"
    with pytest.raises(ConfigError, match="the judge grader needs a model"):
        registry.create_grader("judge")
    assert registry.needs_model(["deterministic", "judge"]) and not registry.needs_model(["deterministic"])


def test_the_config_default_and_the_semantic_switch_reach_the_grader():
    cfg = load_config(ROOT, {"semantic_grading": False})
    assert all(n in registry.NAMES for n in HarnessConfig.model_fields["graders"].default_factory())
    g = registry.create_grader("deterministic", cfg=cfg)
    assert g.semantic is False


def test_a_registered_grader_is_used_by_create_graders_calibrate_and_the_fingerprint(monkeypatch, case_dir):
    """One registration is enough: the factory, calibrate's grader and the fingerprint pick it up."""

    class Silent:
        name = "silent"

        def grade(self, case, review):
            return SampleGrade(grader="silent", findings=[], traps=[])

    info = registry.GraderInfo("silent", "finds nothing", False, ("judge.py",), lambda cfg, jm: Silent())
    monkeypatch.setitem(registry.GRADERS, "silent", info)
    assert isinstance(registry.create_graders(["silent"])[0], Silent)
    assert isinstance(_make_grader("silent"), Silent)
    # its fingerprint covers its registered sources: a different source list, a different fingerprint
    fp = grader_fingerprint("silent")
    monkeypatch.setitem(registry.GRADERS, "silent", registry.GraderInfo("silent", "", False, ("lexicon.py",),
                                                                       info.factory))
    assert grader_fingerprint("silent") != fp
    case = load_case(case_dir)
    assert registry.create_grader("silent").grade(case, "anything").findings == []


def test_every_registered_source_file_exists():
    here = Path(registry.__file__).parent
    for g in registry.GRADERS.values():
        assert g.sources and all((here / rel).is_file() for rel in g.sources), g.name


def test_calibrate_names_a_missing_grader_module(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "harness.graders.judge", None)
    with pytest.raises(HarnessError, match="the judge grader is not available"):
        _make_grader("judge", "anthropic/x")
