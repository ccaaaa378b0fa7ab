"""The one retry path (harness.retry) of agent, judge and batch calls: malformed 200s are retryable, retry-after
is honoured, retries are counted, and each request is bounded by a total deadline, not only a per-read timeout.
Through the real SDKs against the loopback fake server."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from harness.cases import load_suite
from harness.config import load_config
from harness.errors import ModelError
from harness.testing.fakeserver import FakeServer
from harness.models.base import GenerationConfig
from harness.prompts import load_prompt
from harness.records import RunDir
from harness.retry import RetryPolicy, backoff_delay, call_with_retries, with_deadline
from harness.runner import RunOptions, execute

from .crash_child import MODEL, review_responder, write_project

KEY = "sk-ant-test-retry-0000"


def test_call_with_retries_counts_and_gives_up_with_the_last_error():
    seen = []

    async def attempt(n):
        raise ModelError(f"busy {n}", kind="overloaded", retryable=True, retry_after=0)

    with pytest.raises(ModelError) as ei:
        asyncio.run(call_with_retries(attempt, RetryPolicy(max_retries=3, base_s=0, cap_s=0, deadline_s=None),
                                      rng=random.Random(0), on_retry=seen.append))
    assert ei.value.message == "busy 3" and ei.value.retries == 3 and len(seen) == 3


def test_unexpected_exceptions_are_classified_not_raised():
    async def attempt(n):
        raise KeyError("x")
    with pytest.raises(ModelError) as ei:
        asyncio.run(call_with_retries(attempt, RetryPolicy(max_retries=3), rng=random.Random(0)))
    assert ei.value.kind == "client_error" and ei.value.retries == 0   # a bug of ours: not retried


def test_retry_after_is_a_floor_of_the_backoff():
    assert backoff_delay(0, 2.5, 0.001, 0.01, random.Random(0)) == 2.5


def test_with_deadline_bounds_the_whole_call():
    async def slow():
        await asyncio.sleep(5)
    t0 = time.monotonic()
    with pytest.raises(ModelError) as ei:
        asyncio.run(with_deadline(slow(), 0.2))
    assert ei.value.kind == "timeout" and ei.value.retryable and time.monotonic() - t0 < 2


@pytest.fixture
def project(tmp_path) -> Path:
    return write_project(tmp_path / "proj", 6, request_timeout_s=1.0)


def _run(project: Path, tmp_path: Path, monkeypatch, srv: FakeServer, model: str = MODEL):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    cfg = load_config(project)
    return execute(cfg, RunOptions(cases=load_suite(project / "cases"),
                                   prompts=[load_prompt("prompt.md", root=project)],
                                   models=[model], run_dir=tmp_path / "run", progress=False,
                                   generation=GenerationConfig(temperature=0, max_tokens=512)))


def test_malformed_200s_and_a_dripping_body_are_retried_and_counted(project, tmp_path, monkeypatch):
    """Six cases, the first attempt of each faulted with one bad 200 or a dripping body (one byte every 0.2 s: no
    read ever times out, the 1 s request deadline does). Every sample ends ok on its second attempt."""
    kinds = ["error-200", "sse-error-200", "html-200", "drip", "truncated", "malformed"]
    faults = lambda body, attempt: kinds[int(body["messages"][0]["content"].split("of case-")[1][:2])] \
        if attempt == 0 else None  # noqa: E731
    t0 = time.monotonic()
    with FakeServer(review_responder, faults=faults, drip_interval_s=0.2) as srv:
        res = _run(project, tmp_path, monkeypatch, srv)
        assert srv.requests == 12 and srv.faults_injected == Counter({k: 1 for k in kinds})
    assert time.monotonic() - t0 < 30
    assert res.complete, res.reason
    assert all(r.outcome == "ok" and r.retries == 1 for r in res.records)
    assert res.stats.retries_by_kind == {"overloaded": 2, "malformed_response": 3, "timeout": 1}


def test_openai_compatible_html_200_is_retried(project, tmp_path, monkeypatch):
    faults = lambda body, attempt: "html-200" if attempt == 0 else None  # noqa: E731
    with FakeServer(review_responder, faults=faults, require_key=False) as srv:
        res = _run(project, tmp_path, monkeypatch, srv, model=f"openai/fake-chat-1@{srv.openai_base_url}")
        assert srv.requests == 12
    assert res.complete and res.stats.retries_by_kind == {"malformed_response": 6}


def _judge_responder(body):
    if body.get("tools"):
        return {"findings": [{"id": "sqli", "verdict": "missed", "quote": "", "reason": "r"}],
                "traps": [{"id": "get-order-ok", "verdict": "not_flagged", "quote": "", "reason": "r"}],
                "extra_issues": 0}
    return review_responder(body)


def test_judge_spend_is_in_the_cost_the_budget_and_the_counts(project, tmp_path, monkeypatch):
    """The judge's calls (one 529 retried among them) are counted and priced: in the run's cost (the counter
    --max-cost compares with the budget), in run.json and in the results table's cost."""
    judge_faults = lambda body, attempt: "529" if body.get("tools") and attempt == 0 and "case-00" in str(body) \
        else None  # noqa: E731
    with FakeServer(_judge_responder, faults=judge_faults) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
        cfg = load_config(project)
        o = RunOptions(cases=load_suite(project / "cases"), prompts=[load_prompt("prompt.md", root=project)],
                       models=[MODEL], run_dir=tmp_path / "run", progress=False, graders=["judge"],
                       judge_model=MODEL, generation=GenerationConfig(temperature=0, max_tokens=512))
        res = execute(cfg, o)
        judge_requests = sum(1 for r in srv.received if isinstance(r.body, dict) and r.body.get("tools"))
    assert res.complete, res.reason
    st = res.stats
    assert judge_requests == 7 and st.judge_calls == 7 and st.judge_retries == 1
    assert st.retries_by_kind == {"judge": 1}
    agent = sum(r.cost_usd for r in res.records)
    assert st.judge_cost_usd > 0 and st.cost_usd == pytest.approx(agent + st.judge_cost_usd)
    m = RunDir.open(tmp_path / "run").manifest.summary
    assert m["judge_cost_usd"] == pytest.approx(st.judge_cost_usd, abs=1e-6)
    from harness.results import load_run
    table = load_run(tmp_path / "run", grader="judge")
    assert table.samples["cost_usd"].sum() == pytest.approx(st.cost_usd, abs=1e-6)


@pytest.mark.parametrize("body,kind,retryable", [
    ('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "overloaded", True),
    ('{"type":"error","error":{"type":"api_error","message":"boom"}}', "server", True),
    ('{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too big"}}', "bad_request", False),
    ('{"type":"error","error":{"type":"strange_error"}}', "malformed_response", True),
    ('event: error\ndata: {"type":"error","error":{"type":"rate_limit_error","message":"slow"}}\n\n', "rate_limit",
     True),
    ('event: ping\ndata: {"type":"ping"}\n\n', "malformed_response", True),
    ("<!DOCTYPE html><html><body>502</body></html>", "malformed_response", True),
    ("", "malformed_response", True),
])
def test_a_200_body_that_is_not_a_message_is_classified(body, kind, retryable):
    from harness.models.errors_map import classify_text_body
    err = classify_text_body(body)
    assert (err.kind, err.retryable) == (kind, retryable) and err.status in (None, 200)


def test_a_cancellation_that_comes_with_the_answer_is_not_lost():
    """The sample's task is cancelled (Ctrl-C, SIGTERM: harness.interrupts) in the loop turn its answer arrives.
    with_deadline must raise CancelledError, not return the answer: Python 3.11's asyncio.wait_for returned it
    and dropped the cancellation, so a cut sample was graded and recorded after the stop, and the stop waited for
    it (the interrupted-session test of tests/test_interrupts.py hung about one run in three)."""
    async def main():
        answer: asyncio.Future = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(with_deadline(answer, 10.0))
        await asyncio.sleep(0)          # the task waits for the answer
        answer.set_result("review")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()

    asyncio.run(main())


def test_with_deadline_still_times_out_and_returns():
    async def main():
        assert await with_deadline(asyncio.sleep(0.01, result="ok"), 5.0) == "ok"
        with pytest.raises(ModelError) as info:
            await with_deadline(asyncio.sleep(5), 0.05)
        assert info.value.kind == "timeout" and info.value.retryable

    asyncio.run(main())
