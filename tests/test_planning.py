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


def test_explicit_choices(cfg, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
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


@pytest.mark.parametrize("choices, field", [
    (Choices(models=["anthropic/claude-haiku-4-5"]), "--model"),        # no ANTHROPIC_API_KEY
    (Choices(epochs=0), "--epochs"),
    (Choices(max_tokens=-5), "--max-tokens"),
    (Choices(temperature=-1.0), "--temperature"),
    (Choices(graders=["judge"]), "--grader"),                          # judge without a judge model
])
def test_invalid_values_fail_before_anything_runs(cfg, choices, field):
    with pytest.raises(ConfigError) as ei:
        build_options(cfg, choices)
    assert field in str(ei.value)


@pytest.mark.parametrize("selector", ["", ",,", " , "])
def test_empty_case_selection_is_an_error(cfg, selector):
    with pytest.raises(CaseError, match="names no case"):
        build_options(cfg, Choices(cases=selector))


def test_resume_needs_an_existing_run(cfg, tmp_path):
    from harness.errors import RecordError
    with pytest.raises(RecordError, match="nothing to resume"):
        build_options(cfg, Choices(run_dir=str(tmp_path / "nope"), resume=True))


def test_resume_keeps_the_run_settings_and_refuses_conflicts(cfg, tmp_path):
    from harness.runner import open_run
    opts, _ = build_options(cfg, Choices(run_dir=str(tmp_path / "run"), max_tokens=32, cases="case-0"))
    _, _, _, lock = open_run(cfg, opts)
    lock.__exit__(None, None, None)
    again, _ = build_options(cfg, Choices(run_dir=str(tmp_path / "run"), resume=True))
    assert [c.id for c in again.cases] == ["case-0"] and again.generation.max_tokens == 32
    for bad in (Choices(cases="case-1"), Choices(max_tokens=64), Choices(epochs=3),
                Choices(prompts=["prompts/backend-reliability-engineer/v2.md"])):
        bad.run_dir, bad.resume = str(tmp_path / "run"), True
        with pytest.raises(ConfigError, match="started with other settings"):
            build_options(cfg, bad)


def test_resume_keeps_the_graders_and_judge_model(cfg, tmp_path):
    """A run started with the judge is resumed with it: `harness run --resume DIR` alone grades the remaining samples
    with the run's graders and judge model (before, it fell back to the config's deterministic grader)."""
    from harness.records import RunDir
    from harness.runner import open_run
    judge = "openai/judge@http://127.0.0.1:9/v1"
    opts, _ = build_options(cfg, Choices(run_dir=str(tmp_path / "run"), cases="case-0",
                                         graders=["deterministic", "judge"], judge_model=judge))
    _, _, _, lock = open_run(cfg, opts)
    lock.__exit__(None, None, None)
    m = RunDir.open(tmp_path / "run").manifest
    assert m.graders == ["deterministic", "judge"] and m.judge_model == judge
    again, _ = build_options(cfg, Choices(run_dir=str(tmp_path / "run"), resume=True))
    assert again.graders == ["deterministic", "judge"] and again.judge_model == judge
    for bad in (Choices(graders=["deterministic"]), Choices(judge_model="openai/other@http://127.0.0.1:9/v1")):
        bad.run_dir, bad.resume = str(tmp_path / "run"), True
        with pytest.raises(ConfigError, match="started with other settings") as ei:
            build_options(cfg, bad)
        assert "--grader" in str(ei.value) or "--judge-model" in str(ei.value)
    # a run without a judge records none
    plain, _ = build_options(cfg, Choices(run_dir=str(tmp_path / "plain"), cases="case-0"))
    _, _, _, lock = open_run(cfg, plain)
    lock.__exit__(None, None, None)
    assert RunDir.open(tmp_path / "plain").manifest.judge_model is None


def test_cases_dir_points_the_harness_at_a_suite_outside_the_project(tmp_path, monkeypatch, capsys):
    """`--cases-dir DIR` (relative to the working directory) on run, validate and suite; a missing folder is a
    named exit-2 error before anything runs."""
    import argparse

    from harness.cli import main
    from harness.commands import config_from_args
    own = tmp_path / "team-suite"
    write_case(own, "team-case-one")
    monkeypatch.chdir(tmp_path)
    cfg = config_from_args(argparse.Namespace(root=str(ROOT), cases_dir="team-suite"))
    assert cfg.path(cfg.cases_dir) == own.resolve()
    opts, _ = build_options(cfg, Choices(cases="all", models=["local/smollm2-135m"]))
    assert [c.id for c in opts.cases] == ["team-case-one"]
    assert main(["--root", str(ROOT), "validate", "--cases-dir", "team-suite"]) == 0
    assert "1 case(s)" in capsys.readouterr().out
    assert main(["--root", str(ROOT), "suite", "--cases-dir", "team-suite"]) == 0
    code = main(["--root", str(ROOT), "run", "--cases-dir", "no-such-folder", "--cases", "all",
                 "--model", "local/smollm2-135m", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "no-such-folder" in err


def _project(tmp_path, table: str):
    (tmp_path / "pyproject.toml").write_text("[tool.harness]\n" + table)
    return load_config(tmp_path)


def test_values_from_pyproject_are_blamed_on_pyproject_and_their_key(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    write_case(tmp_path / "cases", "case-0")
    (tmp_path / "p.md").write_text("---\nname: r\ndescription: d\n---\nYou review code.\n")
    base = 'prompts = ["p.md"]\n'
    cfg = _project(tmp_path, base + 'model = "gpt4"\n')
    with pytest.raises(ConfigError) as ei:
        build_options(cfg, Choices())
    msg = str(ei.value)
    assert "pyproject.toml: tool.harness.model: " in msg and "--model" not in msg.split("gpt4")[0]
    # the same value from the flag is blamed on the flag
    with pytest.raises(ConfigError, match="^--model: "):
        build_options(_project(tmp_path, base), Choices(models=["gpt4"]))
    with pytest.raises(ConfigError, match=r"tool\.harness\.local_model: "):
        build_options(_project(tmp_path, base + 'local_model = "local/other"\n'), Choices())
    with pytest.raises(PromptError, match=r"pyproject\.toml: tool\.harness\.prompts: prompt file does not exist"):
        build_options(_project(tmp_path, 'prompts = ["nope.md"]\n'), Choices())
    with pytest.raises(CaseError, match=r"tool\.harness\.cases: 'zzz' matches no case"):
        build_options(_project(tmp_path, base + 'cases = "zzz"\n'), Choices())
    with pytest.raises(CaseError, match="^--cases: 'zzz'"):
        build_options(_project(tmp_path, base), Choices(cases="zzz"))
    with pytest.raises(ConfigError, match=r"tool\.harness\.graders: the judge grader needs a model"):
        build_options(_project(tmp_path, base + 'graders = ["judge"]\n'), Choices())


def test_cases_that_fail_validation_are_refused_with_the_validators_message(tmp_path, capsys):
    import shutil

    from harness.cli import main
    suite = tmp_path / "suite"
    shutil.copytree(ROOT / "cases" / "api" / "invoices-drf-smoke", suite / "invoices-drf-smoke")
    y = suite / "invoices-drf-smoke" / "case.yaml"
    text = y.read_text(encoding="utf-8")
    assert "lines: [26, 30]" in text
    y.write_text(text.replace("lines: [26, 30]", "lines: [120, 150]", 1), encoding="utf-8")
    cfg = load_config(ROOT, {"cases_dir": str(suite)})
    with pytest.raises(CaseError) as ei:
        build_options(cfg, Choices(cases="all"))
    assert "fail `harness validate`" in str(ei.value) and "location-lines" in str(ei.value)
    run_dir = tmp_path / "run"
    code = main(["--root", str(ROOT), "run", "--cases-dir", str(suite), "--cases", "all", "--run-dir", str(run_dir),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and not run_dir.exists()
    assert "lines [120, 150] run past the end of views.py" in err and "invoices-drf-smoke" in err


def test_outside_a_project_a_missing_default_does_not_blame_a_pyproject_that_does_not_exist(tmp_path, monkeypatch,
                                                                                             capsys):
    """Fresh-user report: outside a project `harness run` said `/x/empty/pyproject.toml: tool.harness.prompts:
    prompt file does not exist`, naming a file that does not exist."""
    from harness.cli import main
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    assert main(["run", "--cases", "smoke", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "pyproject.toml:" not in err and "tool.harness.prompts" not in err
    assert "no pyproject.toml with a [tool.harness] table was found" in err and "--prompt" in err
    assert main(["run", "--cases", "smoke", "--dry-run", "--prompt", str(ROOT / "prompts" /
                                                                           "backend-reliability-engineer/v1.md")]) == 2
    err = capsys.readouterr().err
    assert "cases folder does not exist" in err and "--cases-dir" in err and "pyproject.toml:" not in err
    # inside a project the key that holds the value is still named
    (empty / "pyproject.toml").write_text('[tool.harness]\ncases_dir = "nowhere"\n')
    assert main(["run", "--cases", "smoke", "--dry-run", "--prompt", str(ROOT / "prompts" /
                                                                           "backend-reliability-engineer/v1.md")]) == 2
    assert "pyproject.toml: tool.harness.cases_dir: cases folder does not exist" in capsys.readouterr().err


def test_the_same_prompt_file_given_twice_says_so(cfg):
    """Fresh-user report: the same prompt file passed twice said "share the label; rename one file"."""
    v1 = "prompts/backend-reliability-engineer/v1.md"
    for twice in ([v1, v1], [v1, "./" + v1], [v1, str(ROOT / v1)]):
        with pytest.raises(ConfigError, match=r"^--prompt: the same prompt file is given twice: .* one file"):
            build_options(cfg, Choices(prompts=twice, cases="all"))


def test_one_invalid_case_does_not_block_a_run_of_other_cases_selected_by_id(tmp_path):
    """Fresh-user report: one schema-invalid case anywhere in --cases-dir (a `serverity` typo) stopped a run of
    other, valid cases, and hid other errors such as an unknown --cases id. Now it stops only a run that selects
    it; otherwise it is left out with a warning naming its file."""
    suite = tmp_path / "team"
    write_case(suite, "good-case")
    bad = write_case(suite, "typo-case")
    y = bad / "case.yaml"
    y.write_text(y.read_text().replace("severity: critical", "serverity: critical"))
    cfg = load_config(ROOT, {"cases_dir": str(suite)})
    opts, notices = build_options(cfg, Choices(cases="good-case", models=["local/smollm2-135m"]))
    assert [c.id for c in opts.cases] == ["good-case"]
    warned = [n for n in notices if "warning" in n]
    assert len(warned) == 1 and str(y) in warned[0] and "serverity" in warned[0]
    for selects_it in ("typo-case", "all", "good-case,typo-case", "python"):    # by id, all, a list, a tag
        with pytest.raises(CaseError, match="serverity") as ei:
            build_options(cfg, Choices(cases=selects_it, models=["local/smollm2-135m"]))
        assert str(y) in str(ei.value)
    with pytest.raises(CaseError, match="'nope' matches no case id"):        # no longer hidden
        build_options(cfg, Choices(cases="nope", models=["local/smollm2-135m"]))


def test_a_judge_model_without_the_judge_is_refused(cfg, tmp_path):
    """`--judge-model M` with only the deterministic grader was silently ignored (run.json: judge_model null) while
    the user believed the judge had graded (a fresh user's report, 2026-12-08): it is bad configuration, exit 2."""
    with pytest.raises(ConfigError, match="add --grader judge") as ei:
        build_options(cfg, Choices(run_dir=str(tmp_path / "run"), cases="case-0",
                                   judge_model="anthropic/claude-haiku-4-5"))
    assert ei.value.field == "--judge-model"
    opts, _ = build_options(cfg, Choices(run_dir=str(tmp_path / "run"), cases="case-0",
                                         graders=["deterministic", "judge"], judge_model="anthropic/claude-haiku-4-5"))
    assert opts.judge_model == "anthropic/claude-haiku-4-5"


def test_every_selected_case_that_does_not_load_is_named(cfg, tmp_path):
    """Two broken cases selected: the error named only the first (a fresh user's report, 2026-12-08)."""
    for name in ("bad-a", "bad-b"):
        d = tmp_path / "cases" / name
        d.mkdir()
        (d / "case.yaml").write_text(f"id: {name}\ntitle: [unclosed\n", encoding="utf-8")
    with pytest.raises(CaseError) as ei:
        build_options(cfg, Choices(cases="all"))
    text = str(ei.value)
    assert "bad-a" in text and "bad-b" in text and "1 more selected case(s) that do not load" in text
    opts, notices = build_options(cfg, Choices(cases="case-0"))      # not selected: left out with a warning each
    assert [c.id for c in opts.cases] == ["case-0"]
