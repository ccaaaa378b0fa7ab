"""harness nightly: exit 1 on a significant regression against the baseline, 0 otherwise, 3 when the run is
incomplete, 2 for a bad baseline (before anything runs); with fake runs and with the real runner on a scripted
model."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.cli import main
from harness.config import load_config
from harness.errors import HarnessError
from harness.models.base import Completion, ModelSpec, Usage
from harness.planning import Choices
from harness.records import SUMMARY, RunDir
from harness.exitcodes import ExitCode
from harness.nightly import NightlyRun, nightly
from harness.testing.synthetic import make_cases, write_synthetic_run

from .conftest import write_case

EXIT_OK, EXIT_REGRESSION, EXIT_INCOMPLETE = ExitCode.OK, ExitCode.REGRESSED, ExitCode.INCOMPLETE

ROOT = Path(__file__).resolve().parents[1]
CASES = make_cases(10, findings_per_case=(2, 4), n_clean=1, seed=11)


def found(regressed: bool):
    """Deterministic verdicts: odd-numbered findings always found, even ones never; ``regressed`` loses the odd
    findings of the first six cases."""
    def prob(case: dict, item: dict, epoch: int) -> float:
        odd = int(item["id"].split("-")[1]) % 2 == 1
        if regressed and case["id"] in {c["id"] for c in CASES[:6]}:
            return 0.0
        return 1.0 if odd else 0.0
    return prob


def fake_run(name: str, *, regressed: bool = False, error_rate: float = 0.0, calls: list | None = None):
    """A run step that writes a synthetic run into the runs root instead of calling a model."""
    def step(cfg, choices):
        if calls is not None:
            calls.append(name)
        status = "incomplete" if error_rate else "complete"
        p = write_synthetic_run(Path(cfg.runs_root) / name, cases=CASES, run_id=name, seed=len(name), epochs=3,
                                found_prob=found(regressed), trap_prob=0.0, error_rate=error_rate, status=status)
        return NightlyRun(p, complete=not error_rate, reason="3 of 33 samples errored" if error_rate else None)
    return step


@pytest.fixture
def setup(tmp_path):
    cfg = load_config(ROOT, {"runs_root": str(tmp_path / "runs"), "reports_dir": str(tmp_path / "reports")})
    write_synthetic_run(tmp_path / "runs" / "baseline", cases=CASES, run_id="baseline", seed=1, epochs=3,
                        found_prob=found(False), trap_prob=0.0)
    args = SimpleNamespace(runs_root=None, baseline="baseline", dashboard_out=str(tmp_path / "dash"))
    return cfg, args, tmp_path


def test_exit_1_on_planted_regression(setup, capsys):
    cfg, args, tmp = setup
    assert nightly(cfg, Choices(), args, run=fake_run("bad", regressed=True)) == EXIT_REGRESSION
    err = capsys.readouterr().err
    assert "SIGNIFICANT REGRESSION against the baseline baseline" in err and "recall regressed significantly" in err
    assert (tmp / "runs" / "bad" / SUMMARY).is_file()
    html = (tmp / "dash" / "index.html").read_text()
    assert 'data-status="regressed"' in html and "compare/" in html


def test_exit_0_without_regression(setup, capsys):
    cfg, args, tmp = setup
    assert nightly(cfg, Choices(), args, run=fake_run("good")) == EXIT_OK
    assert "no significant regression against the baseline baseline" in capsys.readouterr().err
    assert 'data-status="ok"' in (tmp / "dash" / "index.html").read_text()


def test_exit_3_when_incomplete_and_1_wins_over_3(setup, capsys):
    cfg, args, _ = setup
    assert nightly(cfg, Choices(), args, run=fake_run("partial", error_rate=0.1)) == EXIT_INCOMPLETE
    assert "run INCOMPLETE: 3 of 33 samples errored" in capsys.readouterr().err
    assert nightly(cfg, Choices(), args, run=fake_run("partial-bad", regressed=True, error_rate=0.1)) == \
        EXIT_REGRESSION


def test_every_sample_errored_is_incomplete_not_a_crash(setup, capsys):
    cfg, args, tmp = setup
    assert nightly(cfg, Choices(), args, run=fake_run("outage", error_rate=1.0)) == EXIT_INCOMPLETE
    err = capsys.readouterr().err
    assert "comparison report could not be built" in err and "run INCOMPLETE" in err
    assert "recall not compared" in (tmp / "dash" / "index.html").read_text()


def test_baseline_from_config_and_no_baseline(setup, capsys):
    cfg, args, _ = setup
    args.baseline = None
    assert nightly(cfg, Choices(), args, run=fake_run("first")) == EXIT_OK
    assert "no baseline pinned" in capsys.readouterr().err
    pinned = cfg.model_copy(update={"baseline_run": "baseline"})
    assert nightly(pinned, Choices(), args, run=fake_run("bad", regressed=True)) == EXIT_REGRESSION


def test_nightly_refreshes_the_response_cache_unless_told(setup, capsys):
    cfg, args, _ = setup
    seen = []

    def step(c, ch):
        seen.append(c.cache_mode)
        return fake_run(f"n{len(seen)}")(c, ch)

    assert cfg.cache_mode == "use"
    nightly(cfg, Choices(), args, run=step)
    args.cache_mode = "replay-only"
    nightly(cfg.model_copy(update={"cache_mode": "replay-only"}), Choices(), args, run=step)
    assert seen == ["refresh", "replay-only"]
    assert "response cache mode 'refresh'" in capsys.readouterr().err


def test_bad_baseline_fails_before_running(setup, capsys):
    cfg, args, tmp = setup
    calls: list = []
    args.baseline = "no-such-run"
    with pytest.raises(HarnessError, match="baseline run 'no-such-run' not found"):
        nightly(cfg, Choices(), args, run=fake_run("x", calls=calls))
    assert calls == []
    code = main(["--root", str(ROOT), "nightly", "--runs-root", str(tmp / "runs"), "--baseline", "nope",
                 "--cases", "all", "--no-progress"])
    assert code == 2 and "baseline run 'nope' not found" in capsys.readouterr().err


class ScriptedReviewer:
    """A model that names the planted SQL injection (good) or finds nothing (bad)."""

    def __init__(self, name: str, good: bool):
        self.spec = ModelSpec.parse(name)
        self.base_url = None
        self.good = good

    async def generate(self, system, messages, config):
        await asyncio.sleep(0)
        text = ("1. **Critical** — search_orders builds SQL with an f-string: SQL injection; use a bind parameter."
                if self.good else "1. Looks fine to me; no issues.")
        return Completion(text=text, usage=Usage(1000, 80, 0, 0), stop_reason="end_turn", latency_s=0.01)

    async def aclose(self):
        pass


def test_real_runner_with_scripted_model(tmp_path, capsys, monkeypatch):
    """The default run step end to end (planning, runner, deterministic grader, reports): a good model pins the
    baseline, a model that stops finding the SQL injection exits 1, the good model again exits 0."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-scripted")  # planning checks the key; the model is scripted
    for i in range(8):
        write_case(tmp_path / "cases", f"case-{i}")
    cfg = load_config(ROOT, {"cases_dir": str(tmp_path / "cases"), "runs_root": str(tmp_path / "runs"),
                             "reports_dir": str(tmp_path / "reports"), "cache_mode": "off"})
    choices = Choices(models=["anthropic/claude-sonnet-4-5"], cases="all", epochs=1, progress=False)
    args = SimpleNamespace(runs_root=None, baseline=None, dashboard_out=str(tmp_path / "dash"))

    def model(good):
        return lambda name: ScriptedReviewer(name, good)

    assert nightly(cfg, choices, args, model_factory=model(True)) == EXIT_OK
    (first,) = [p for p in (tmp_path / "runs").iterdir()]
    assert RunDir.open(first).manifest.status == "complete" and (first / SUMMARY).is_file()
    assert RunDir.open(first).manifest.kind == "nightly"     # the dashboard's history reads these
    args.baseline = str(first)
    assert nightly(cfg, choices, args, model_factory=model(False)) == EXIT_REGRESSION
    err = capsys.readouterr().err
    # one epoch: 1/1 -> 0/1 per critical finding is no evidence on its own (Boschloo p = 0.25); recall carries it
    assert "recall regressed significantly" in err and "critical-finding rule cannot fire" in err
    assert nightly(cfg, choices, args, model_factory=model(True)) == EXIT_OK
    assert len(list((tmp_path / "runs").iterdir())) == 3
