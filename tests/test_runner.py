"""Runner bookkeeping with an in-process scripted model: retries, errors, resume, budget, dedupe, epochs."""

from __future__ import annotations

import asyncio
import random

import pytest

from harness.cases import load_suite
from harness.config import load_config
from harness.errors import ModelError
from harness.models.base import Completion, ModelSpec, Usage
from harness.prompts import parse_prompt
from harness.records import RunDir
from harness.models.pricing import cost_usd
from harness.retry import backoff_delay
from harness.runner import RunOptions, execute, plan_samples

from .conftest import ROOT, write_case

PROMPT = parse_prompt("---\nname: r\ndescription: d\n---\nYou review code.\n", source="p.md")


class ScriptedModel:
    """Fails with the given ModelError kinds at the given rate; otherwise answers 'review of <case>'."""

    instances: list["ScriptedModel"] = []

    def __init__(self, name, *, fault_rate=0.0, fault=None, seed=0):
        self.spec = ModelSpec.parse(name)
        self.base_url = None
        self.calls = 0
        self.fault_rate = fault_rate
        self.fault = fault or (lambda: ModelError("rate limited", kind="rate_limit", retryable=True, retry_after=0))
        self.rng = random.Random(seed)
        self.max_in_flight = 0
        self._in_flight = 0
        ScriptedModel.instances.append(self)

    async def generate(self, system, messages, config):
        self.calls += 1
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            await asyncio.sleep(0.002)
            if self.rng.random() < self.fault_rate:
                raise self.fault()
            return Completion(text="The search_orders function has SQL injection; use a bind parameter.",
                              usage=Usage(1000, 100, 0, 0), stop_reason="end_turn", latency_s=0.002)
        finally:
            self._in_flight -= 1

    async def aclose(self):
        pass


@pytest.fixture
def suite(tmp_path):
    root = tmp_path / "cases"
    for i in range(5):
        write_case(root, f"case-{i}")
    return load_suite(root)


def cfg(**over):
    base = {"retry_backoff_base_s": 0.001, "retry_backoff_max_s": 0.01}
    return load_config(ROOT, {**base, **over})


def opts(suite, tmp_path, **kw):
    return RunOptions(cases=suite, prompts=[PROMPT], models=kw.pop("models", ["anthropic/claude-sonnet-4-5"]),
                      run_dir=tmp_path / "run", graders=kw.pop("graders", []), **kw)


def test_plan_is_full_product(suite):
    plan = plan_samples(suite, [PROMPT], ["anthropic/a", "anthropic/b"], 3)
    assert len(plan) == 5 * 2 * 3
    assert len({s.id for s in plan}) == len(plan)


def test_faulted_run_loses_nothing_and_counts_retries(suite, tmp_path):
    models = []

    def factory(name):
        m = ScriptedModel(name, fault_rate=0.3, seed=1)
        models.append(m)
        return m

    res = execute(cfg(max_retries=20), opts(suite, tmp_path, epochs=4), model_factory=factory)
    assert res.complete, res.reason
    assert len(res.records) == 20 == len({r.sample_id for r in res.records})
    # every model call is either a completed unique request or a counted retry
    assert models[0].calls == res.stats.retries + 5  # temperature 0: epochs share one request per case
    assert res.stats.retries > 0
    assert sum(r.retries for r in res.records) <= res.stats.retries


def test_throttling_lowers_concurrency(suite, tmp_path):
    made = []
    res = execute(cfg(concurrency=8, max_retries=30),
                  opts(suite, tmp_path, epochs=6, generation=None),
                  model_factory=lambda n: made.append(ScriptedModel(n, fault_rate=0.5, seed=3)) or made[-1])
    assert res.complete
    assert res.stats.min_concurrency is not None and res.stats.min_concurrency < 8


def test_non_retryable_error_is_recorded_not_graded(suite, tmp_path):
    bad = lambda: ModelError("request rejected (400): bad", kind="bad_request", status=400)  # noqa: E731
    res = execute(cfg(), opts(suite, tmp_path), model_factory=lambda n: ScriptedModel(n, fault_rate=1.0, fault=bad))
    assert not res.complete
    assert all(r.error is not None and r.error.kind == "bad_request" for r in res.records)
    assert all(r.grades == {} and r.review is None for r in res.records)
    assert "5 of 5 samples errored" in res.reason
    assert RunDir.open(res.run_dir.path).manifest.status == "incomplete"


def test_auth_error_stops_the_run_fast(suite, tmp_path):
    auth = lambda: ModelError("the API key was rejected (401)", kind="auth", status=401)  # noqa: E731
    made = []
    res = execute(cfg(concurrency=1), opts(suite, tmp_path),
                  model_factory=lambda n: made.append(ScriptedModel(n, fault_rate=1.0, fault=auth)) or made[-1])
    assert not res.complete
    assert "401" in res.reason
    assert made[0].calls <= 2  # stops starting samples after the first fatal answer


def test_resume_skips_done_samples(suite, tmp_path):
    o = opts(suite, tmp_path, epochs=2)
    execute(cfg(), o, model_factory=lambda n: ScriptedModel(n))
    made = []
    o.resume = True
    res = execute(cfg(cache_mode="off"), o, model_factory=lambda n: made.append(ScriptedModel(n)) or made[-1])
    assert res.complete and res.stats.skipped == 10
    assert not made or made[0].calls == 0


def test_resume_retries_errored_samples(suite, tmp_path):
    o = opts(suite, tmp_path)
    bad = lambda: ModelError("boom", kind="server", retryable=True, status=500)  # noqa: E731
    first = execute(cfg(max_retries=0), o, model_factory=lambda n: ScriptedModel(n, fault_rate=0.5, seed=2, fault=bad))
    n_err = sum(r.error is not None for r in first.records)
    assert 0 < n_err < 5
    o.resume = True
    made = []
    res = execute(cfg(), o, model_factory=lambda n: made.append(ScriptedModel(n)) or made[-1])
    assert res.complete and made[0].calls == n_err


def test_existing_run_dir_without_resume_is_refused(suite, tmp_path):
    from harness.errors import RecordError
    execute(cfg(), opts(suite, tmp_path), model_factory=lambda n: ScriptedModel(n))
    with pytest.raises(RecordError, match="--resume"):
        execute(cfg(), opts(suite, tmp_path), model_factory=lambda n: ScriptedModel(n))


def test_second_identical_run_is_served_from_cache(suite, tmp_path):
    execute(cfg(), opts(suite, tmp_path), model_factory=lambda n: ScriptedModel(n))
    made = []
    o = opts(suite, tmp_path)
    o.run_dir = tmp_path / "run2"
    res = execute(cfg(), o, model_factory=lambda n: made.append(ScriptedModel(n)) or made[-1])
    assert res.complete and made[0].calls == 0 and res.stats.cache_hits == 5
    assert all(r.cached for r in res.records)


def test_replay_only_miss_is_a_clear_error(suite, tmp_path):
    res = execute(cfg(cache_mode="replay-only"), opts(suite, tmp_path), model_factory=lambda n: ScriptedModel(n))
    assert not res.complete
    assert res.records[0].error.kind == "cache_miss"
    assert "replay-only" in res.records[0].error.message


def test_temperature_above_zero_gives_each_epoch_its_own_request(suite, tmp_path):
    from harness.models.base import GenerationConfig
    made = []
    res = execute(cfg(), opts(suite, tmp_path, epochs=3, generation=GenerationConfig(temperature=0.7)),
                  model_factory=lambda n: made.append(ScriptedModel(n)) or made[-1])
    assert res.complete and made[0].calls == 15


def test_budget_stops_starting_samples(suite, tmp_path):
    res = execute(cfg(max_cost=0.045, concurrency=1), opts(suite, tmp_path),
                  model_factory=lambda n: ScriptedModel(n))
    assert not res.complete
    assert "budget" in res.reason and "not run" in res.reason
    assert res.stats.cost_usd <= 0.045
    assert 0 < len(res.records) < 5


class FullCostModel(ScriptedModel):
    """Spends exactly the runner's upper-bound estimate (input at 3 characters a token, max_tokens of output),
    slowly: the worst case for the budget, with many samples waiting for a slot."""

    async def generate(self, system, messages, config):
        self.calls += 1
        await asyncio.sleep(0.01)
        n_in = round((len(system) + len(messages[0]["content"])) / 3)
        return Completion(text="The search_orders function has SQL injection.", usage=Usage(n_in, config.max_tokens,
                          0, 0), stop_reason="end_turn", latency_s=0.01)


@pytest.mark.parametrize("concurrency", [1, 4, 8])
def test_budget_counts_samples_waiting_for_a_slot_and_is_never_exceeded(suite, tmp_path, concurrency):
    import re
    from harness.models.base import GenerationConfig
    from harness.request import render_request
    from harness.models.pricing import estimate_cost
    gen = GenerationConfig(temperature=0.7, max_tokens=400)
    spec = ModelSpec.parse("anthropic/claude-sonnet-4-5")
    c = cfg(max_cost=0.05, concurrency=concurrency)
    est = max(estimate_cost(c, spec, PROMPT.body, render_request(k), gen.max_tokens) for k in suite)
    assert 0.05 / est > 3, "the budget holds a few samples, not all 20"
    res = execute(c, opts(suite, tmp_path, epochs=4, generation=gen), model_factory=lambda n: FullCostModel(n))
    assert not res.complete and "budget" in res.reason
    assert res.stats.cost_usd <= 0.05 + 1e-9
    # the reason's figures add up: spent + reserved + left = the budget, and the next sample did not fit
    m = re.search(r"\$(\d+\.\d+) reached: \$(\d+\.\d+) spent and ≈ \$(\d+\.\d+) reserved for (\d+) sample\(s\) "
                  r"under way leave \$(\d+\.\d+); the next sample would need ≈ \$(\d+\.\d+)", res.reason)
    assert m, res.reason
    budget, spent, reserved, _, left, need = (float(x) for x in m.groups())
    assert spent + reserved <= budget + 1e-4 and abs(budget - spent - reserved - left) < 2e-4 and need > left


def test_cost_uses_price_table_and_batch_discount():
    c = load_config(ROOT)
    spec = ModelSpec.parse("anthropic/claude-sonnet-4-5")
    usage = {"input_tokens": 1_000_000, "output_tokens": 0, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 1_000_000}
    assert cost_usd(c, spec, usage) == pytest.approx(3.0 + 0.30)
    assert cost_usd(c, spec, usage, batch=True) == pytest.approx(1.65)
    assert cost_usd(c, ModelSpec.parse("anthropic/unknown-model"), usage) is None


def test_backoff_honours_retry_after():
    rng = random.Random(0)
    assert backoff_delay(0, 2.5, 0.5, 30, rng) >= 2.5
    assert all(backoff_delay(10, None, 0.5, 30, rng) <= 30 for _ in range(50))


def test_records_are_graded(suite, tmp_path):
    res = execute(cfg(), opts(suite, tmp_path, graders=["deterministic"]), model_factory=lambda n: ScriptedModel(n))
    g = res.records[0].grades["deterministic"]
    # the runner writes records and run.json; summary.json is the pipeline's (its only writer: harness.pipeline)
    assert not (res.run_dir.path / "summary.json").exists()
    assert g.error is None
    assert {f.id for f in g.findings} == {"sqli"}


def test_ctrl_c_marks_the_run_interrupted_and_keeps_what_was_recorded(suite, tmp_path):
    import os
    import signal

    class InterruptingModel(ScriptedModel):
        async def generate(self, system, messages, config):
            if self.calls >= 2:
                os.kill(os.getpid(), signal.SIGINT)
                await asyncio.sleep(1)
            return await super().generate(system, messages, config)

    with pytest.raises(KeyboardInterrupt):
        execute(cfg(concurrency=1), opts(suite, tmp_path), model_factory=lambda n: InterruptingModel(n))
    rd = RunDir.open(tmp_path / "run")
    assert rd.manifest.status == "incomplete" and "interrupted" in rd.manifest.status_reason
    assert len(rd.read_samples().records) == 2
    # the lock was released: the run can be resumed at once
    res = execute(cfg(), opts(suite, tmp_path, resume=True), model_factory=lambda n: ScriptedModel(n))
    assert res.complete and res.stats.skipped == 2


def test_resume_keeps_the_runs_cache_mode(suite, tmp_path):
    # an older run's answers are in the cache; a --cache refresh run fails, and its resume without --cache must
    # not serve the remaining samples from that older run (the issue: it silently switched to "use")
    execute(cfg(), opts(suite, tmp_path / "old"), model_factory=lambda n: ScriptedModel(n))
    bad = lambda: ModelError("rejected", kind="bad_request")  # noqa: E731
    o = opts(suite, tmp_path)
    first = execute(cfg(cache_mode="refresh"), o,
                    model_factory=lambda n: ScriptedModel(n, fault_rate=1.0, fault=bad))
    assert not first.complete
    made = []
    o = opts(suite, tmp_path, resume=True)
    res = execute(cfg(), o, model_factory=lambda n: made.append(ScriptedModel(n)) or made[-1])
    assert res.complete and made[0].calls == len(suite) and not any(r.cached for r in res.records)
    assert res.run_dir.manifest.config["cache_mode"] == "refresh"
    assert any("resumed with --cache refresh" in n for n in res.notes)


def test_the_result_holds_the_records_the_file_holds(suite, tmp_path):
    """The run's end takes its records from what it read at the start and appended since, not from reading the
    file back: they must be the file's, resumed or not."""
    def same_as_file(res):
        on_disk = {r.sample_id: r for r in RunDir.open(res.run_dir.path).read_samples().records}
        assert [r.model_dump() for r in res.records] == [on_disk[r.sample_id].model_dump() for r in res.records]
        assert len(res.records) == len(on_disk)

    o = opts(suite, tmp_path, epochs=2, graders=["deterministic"])
    first = execute(cfg(concurrency=3), o, model_factory=lambda n: ScriptedModel(n, fault_rate=0.3,
                    fault=lambda: ModelError("bad request", kind="bad_request", retryable=False)))
    same_as_file(first)
    assert not first.complete      # some samples errored: the resume re-runs them and its records win
    o.resume = True
    second = execute(cfg(concurrency=3), o, model_factory=lambda n: ScriptedModel(n))
    same_as_file(second)
    assert second.complete and len(second.records) == 10


def test_the_regrade_command_carries_the_runs_graders_and_judge_model(tmp_path):
    """`harness grade RUN` alone re-grades with the default grader: the judge's errors stayed and the same advice
    came back (a fresh user's report, 2026-12-08). The advice now names the run's graders and judge model."""
    from harness.runner import regrade_command
    run = tmp_path / "run"
    assert regrade_command(run, ["deterministic"], None) == f"harness grade {run} --grader deterministic"
    assert regrade_command(run, ["deterministic", "judge"], "anthropic/claude-haiku-4-5") == (
        f"harness grade {run} --grader deterministic --grader judge --judge-model anthropic/claude-haiku-4-5")
    assert regrade_command(run, ["judge"], None).endswith("--grader judge --judge-model M")
