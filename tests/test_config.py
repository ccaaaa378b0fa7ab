"""[tool.harness] loading, overrides, defaults and named errors."""

import pytest

from harness.config import find_root, load_config
from harness.errors import ConfigError

from .conftest import ROOT


def test_project_config_loads():
    c = load_config(ROOT)
    assert c.root == ROOT and c.severity_weights["critical"] == 4
    assert c.price_for("claude-sonnet-4-5-20250929").input == 3.0


def test_overrides_win_and_none_is_ignored():
    c = load_config(ROOT, {"epochs": 3, "concurrency": None})
    assert c.epochs == 3 and c.concurrency == load_config(ROOT).concurrency


def test_default_model_follows_api_key(monkeypatch):
    c = load_config(ROOT)
    assert c.default_model() == "local/smollm2-135m"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "x")
    assert c.default_model().startswith("anthropic/")


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("HARNESS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert load_config(ROOT).resolved_cache_dir() == tmp_path / "xdg" / "harness"
    assert load_config(ROOT, {"cache_dir": "/c"}).resolved_cache_dir().as_posix() == "/c"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "env"))
    assert load_config(ROOT).resolved_cache_dir() == tmp_path / "env"
    # an override is a flag (--cache-dir): it beats the environment (fresh-user report item 3)
    assert load_config(ROOT, {"cache_dir": "/c"}).resolved_cache_dir().as_posix() == "/c"


def test_bad_values_name_pyproject_and_key(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.harness]\nepochs = 'many'\n")
    with pytest.raises(ConfigError) as ei:
        load_config(tmp_path)
    assert "pyproject.toml" in str(ei.value) and "tool.harness.epochs" in str(ei.value)
    (tmp_path / "pyproject.toml").write_text("[tool.harness]\nepochz = 1\n")
    with pytest.raises(ConfigError, match="epochz"):
        load_config(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.harness\n")
    with pytest.raises(ConfigError, match="malformed TOML"):
        load_config(tmp_path)


def test_find_root_walks_up(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.harness]\n")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert find_root(tmp_path / "a" / "b") == tmp_path


def test_unknown_keys_get_a_did_you_mean_and_name_pyproject(tmp_path):
    pp = tmp_path / "pyproject.toml"
    pp.write_text("[tool.harness]\nepoch = 3\n")
    with pytest.raises(ConfigError) as ei:
        load_config(tmp_path)
    msg = str(ei.value)
    assert msg.startswith(str(pp)) and "tool.harness.epoch" in msg and "did you mean 'epochs'?" in msg
    pp.write_text("[tool.harness.generation]\nmax_token = 3\n")
    with pytest.raises(ConfigError, match=r"tool\.harness\.generation\.max_token: unknown key 'max_token'; did you "
                                          r"mean 'max_tokens'\?"):
        load_config(tmp_path)
    pp.write_text("[tool.harness]\nzzzqqq = 1\n")
    with pytest.raises(ConfigError, match="expected one of: .*epochs"):
        load_config(tmp_path)


def test_a_bad_flag_is_blamed_on_the_flag_not_on_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.harness]\nconcurrency = 4\n")
    with pytest.raises(ConfigError) as ei:
        load_config(tmp_path, {"concurrency": 0})
    assert str(ei.value).startswith("--concurrency: ") and "pyproject" not in str(ei.value)
    with pytest.raises(ConfigError, match="^--timeout: "):
        load_config(tmp_path, {"request_timeout_s": -1})
    (tmp_path / "pyproject.toml").write_text("[tool.harness]\nconcurrency = 0\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml: tool\.harness\.concurrency: "):
        load_config(tmp_path)


def test_the_cache_dir_flag_beats_the_environment_which_beats_pyproject(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[tool.harness]\ncache_dir = \"from-pyproject\"\n")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "from-env"))
    assert load_config(tmp_path).resolved_cache_dir() == tmp_path / "from-env"
    flagged = load_config(tmp_path, {"cache_dir": str(tmp_path / "from-flag")})
    assert flagged.resolved_cache_dir() == tmp_path / "from-flag"
    # the pipeline copies the config (nightly's cache mode, a resumed run's): the flag must survive the copy
    assert flagged.model_copy(update={"cache_mode": "refresh"}).resolved_cache_dir() == tmp_path / "from-flag"
    monkeypatch.delenv("HARNESS_CACHE_DIR")
    assert load_config(tmp_path).resolved_cache_dir() == tmp_path / "from-pyproject"


def test_harness_run_writes_its_cache_where_cache_dir_says_despite_harness_cache_dir(tmp_path, monkeypatch):
    """Fresh-user report item 3: `--cache-dir` was ignored whenever HARNESS_CACHE_DIR was set (the conftest sets
    it for every test), so the flag's folder was never created and the env cache answered instead."""
    from harness.cli import main
    from harness.testing.fakeserver import FakeServer

    from .crash_child import MODEL, review_responder, write_project
    project = write_project(tmp_path / "proj", 2)
    env_cache, flag_cache = tmp_path / "cache", tmp_path / "flag-cache"
    with FakeServer(review_responder) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-cachedir-1111")
        args = ["--root", str(project), "run", "--model", MODEL, "--cases", "all", "--no-progress"]
        assert main([*args, "--run-dir", str(tmp_path / "r1"), "--cache-dir", str(flag_cache)]) == 0
        sent = srv.bodies()
        assert len(sent) == 2
        assert any(flag_cache.rglob("*.json")), "the flag's folder holds the answers"
        assert not env_cache.exists() or not any(env_cache.rglob("*.json"))
        # a second run with the flag is served from the flag's folder: nothing sent
        assert main([*args, "--run-dir", str(tmp_path / "r2"), "--cache-dir", str(flag_cache)]) == 0
        assert len(srv.bodies()) == 2


def test_max_cost_must_be_above_zero(tmp_path):
    """Fresh-user report: `--max-cost -1` was accepted, then the run recorded 0 samples and exited 3."""
    (tmp_path / "pyproject.toml").write_text("[tool.harness]\n")
    for bad in (-1.0, 0.0):
        with pytest.raises(ConfigError, match=r"^--max-cost: .*greater than 0"):
            load_config(tmp_path, {"max_cost": bad})
    assert load_config(tmp_path, {"max_cost": 0.5}).max_cost == 0.5
