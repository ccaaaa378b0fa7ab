"""Fault injection through the real anthropic SDK against the loopback fake server (issue 4/8).

Random mixes of every transient fault must cost retries, never samples: nothing lost, nothing recorded twice, and
the harness's own counters (retries, errors, by kind) agree with what the server says it did. Non-transient
answers (400, 401) fail fast, say what to do, and still leave a readable, resumable run behind.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from harness.cases import load_suite
from harness.cli import main as cli_main
from harness.config import load_config
from harness.testing.fakeserver import FakeServer, FaultPlan
from harness.models.base import GenerationConfig
from harness.prompts import load_prompt
from harness.records import RunDir
from harness.runner import RunOptions, execute, plan_samples

from .crash_child import MODEL, review_responder, write_project

KEY = "sk-ant-test-faults-0000"

# "stream-error" on a non-streaming request is a 529 whose body is an overloaded_error.
TRANSIENT = ("429", "429-no-retry-after", "529", "stream-error", "500", "502", "503", "timeout", "drop", "truncated",
             "malformed", "stream-drop")
# How the harness must classify each injected fault (harness.models.errors_map / anthropic_model.map_exception).
KIND_OF = {"429": "rate_limit", "429-no-retry-after": "rate_limit", "529": "overloaded", "stream-error": "overloaded",
           "500": "server", "502": "server", "503": "server", "timeout": "timeout", "drop": "connection",
           "stream-drop": "connection", "truncated": "malformed_response", "malformed": "malformed_response"}


@pytest.fixture
def project(tmp_path) -> Path:
    return write_project(tmp_path / "proj", 20)


@pytest.fixture
def api(monkeypatch):
    """Start a fake server and point the harness at it (use the result as a context manager)."""
    def point(server: FakeServer, key: str = KEY) -> FakeServer:
        server.start()
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", key)
        return server
    return point


def config(project: Path, **over):
    return load_config(project, {"retry_backoff_base_s": 0.001, "retry_backoff_max_s": 0.05, **over})


def options(project: Path, run_dir: Path, *, epochs: int = 1, temperature: float = 0.7, n_cases: int | None = None,
            **kw) -> RunOptions:
    cases = load_suite(project / "cases")[:n_cases]
    return RunOptions(cases=cases, prompts=[load_prompt("prompt.md", root=project)], models=[MODEL], epochs=epochs,
                      run_dir=run_dir, graders=["deterministic"], progress=False,
                      generation=GenerationConfig(temperature=temperature, max_tokens=512), **kw)


def jsonl_lines(run_dir: Path) -> list[dict]:
    raw = (run_dir / "samples.jsonl").read_text(encoding="utf-8")
    assert raw.endswith("\n")
    return [json.loads(line) for line in raw.splitlines()]


def mapped(faults: Counter) -> Counter:
    out: Counter = Counter()
    for kind, n in faults.items():
        out[KIND_OF[kind]] += n
    return out


# --- random transient faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rate,seed", [(0.1, 11), (0.3, 7)])
def test_random_transient_faults_lose_nothing_and_counts_agree(project, tmp_path, api, rate, seed):
    plan = FaultPlan(rate=rate, kinds=TRANSIENT, seed=seed)
    with api(FakeServer(review_responder, faults=plan, timeout_fault_s=10.0, retry_after=0.01)) as srv:
        o = options(project, tmp_path / "run", epochs=10)
        cfg = config(project, max_retries=30, request_timeout_s=1.0, concurrency=8)
        res = execute(cfg, o)

        planned = {s.id for s in plan_samples(o.cases, o.prompts, o.models, o.epochs)}
        assert len(planned) == 200
        lines = jsonl_lines(o.run_dir)
        # 0 lost, 0 duplicated: exactly one line per planned sample, every one a success, graded.
        assert len(lines) == 200 and {r["sample_id"] for r in lines} == planned
        assert res.complete, res.reason
        assert all(r.error is None and r.review and "deterministic" in r.grades for r in res.records)
        assert not any(r.cached for r in res.records)

        faults = srv.faults_injected
        st = res.stats
        assert sum(faults.values()) > (10 if rate == 0.1 else 40), faults  # the faults really happened
        if rate == 0.3:
            assert set(faults) == set(TRANSIENT), faults  # every kind was exercised
        # Every HTTP request is a sample's first attempt or one of its counted retries.
        assert srv.requests == 200 + st.retries
        # Every injected fault cost exactly one retry, of the kind the fault is.
        assert st.retries == sum(faults.values())
        assert st.retries_by_kind == dict(mapped(faults))
        assert st.errors == 0 and st.errors_by_kind == {}
        assert sum(r.retries for r in res.records) == st.retries
        # The server answered each sample once (no sample was asked for twice after it succeeded).
        assert srv.completed == 200
        assert st.output_tokens == srv.usage_totals["output_tokens"]
        assert st.input_tokens == srv.usage_totals["input_tokens"]

        m = RunDir.open(o.run_dir).manifest
        assert m.status == "complete" and m.status_reason is None
        assert m.summary["planned"] == m.summary["recorded"] == 200
        assert m.summary["errors"] == 0 and m.summary["missing"] == 0
        assert m.summary["retries"] == st.retries == m.summary["this_session"]["retries"]
        assert m.summary["this_session"]["retries_by_kind"] == dict(mapped(faults))


def test_retry_after_is_honoured(project, tmp_path, api):
    with api(FakeServer(faults=FaultPlan.first_attempts(1, ["429"]), retry_after=0.4)) as srv:
        res = execute(config(project, retry_backoff_max_s=0.01), options(project, tmp_path / "run", n_cases=3))
        assert res.complete and res.stats.retries == 3
        by_fp: dict[str, list[float]] = {}
        for r in srv.received:
            if r.path == "/v1/messages":              # not the preflight's model checks
                by_fp.setdefault(r.fingerprint, []).append(r.time)
        assert len(by_fp) == 3
        for first, second in by_fp.values():
            assert second - first >= 0.4  # waited as long as the server asked, though backoff alone caps at 0.01


def test_faults_beyond_max_retries_are_reported_truthfully_and_resume_reruns_only_them(project, tmp_path, api):
    plan = FaultPlan(rate=0.5, kinds=("429", "529", "500", "503", "drop", "truncated", "malformed"), seed=3)
    run_dir = tmp_path / "run"
    with api(FakeServer(review_responder, faults=plan, retry_after=0.01)) as srv:
        o = options(project, run_dir, epochs=2)
        res = execute(config(project, max_retries=1, concurrency=8), o)
        st = res.stats
        errored = [r for r in res.records if r.error is not None]
        ok = [r for r in res.records if r.error is None]
        assert len(res.records) == 40 == len(jsonl_lines(run_dir))
        assert 0 < len(errored) < 40 and not res.complete
        assert f"{len(errored)} of 40 samples errored" in res.reason
        for r in errored:
            assert r.retries == 1 and r.error.message.startswith("gave up after 1 retries")
            assert r.review is None and r.grades == {}
        faults = srv.faults_injected
        assert srv.requests == 40 + st.retries
        # each fault was either retried or was the last straw of an errored sample
        assert sum(faults.values()) == st.retries + st.errors
        assert mapped(faults) == Counter(st.retries_by_kind) + Counter(st.errors_by_kind)
        assert Counter(r.error.kind for r in errored) == Counter(st.errors_by_kind)
        assert srv.completed == len(ok)
        m = RunDir.open(run_dir).manifest
        assert m.status == "incomplete" and m.summary["errors"] == st.errors == len(errored)
        assert m.summary["retries"] == st.retries

    # Resume on a healthy server: only the errored samples are requested again.
    with api(FakeServer(review_responder)) as srv2:
        o.resume = True
        res2 = execute(config(project, concurrency=8), o)
        assert res2.complete, res2.reason
        assert res2.stats.skipped == len(ok)
        assert srv2.requests == len(errored) and res2.stats.retries == 0
        assert len(res2.records) == 40


def test_batch_endpoint_faults_are_retried_and_counted(project, tmp_path, api):
    # Batch endpoint requests in order: create, retrieve, then per results download a retrieve and a GET of the
    # results file (the SDK looks up results_url first): the 429 hits a create, truncated and malformed results.
    batch_faults = ["429", None, None, None, "truncated", None, "malformed"]
    with api(FakeServer(review_responder, batch_polls_before_end=0, batch_faults=batch_faults)) as srv:
        o = options(project, tmp_path / "run", n_cases=6, temperature=0.0, batch=True)
        res = execute(config(project), o)
        assert res.complete, res.reason
        assert len(res.records) == 6 == len(jsonl_lines(o.run_dir))
        assert all(r.error is None and r.review for r in res.records)
        assert srv.faults_injected == Counter({"429": 1, "truncated": 1, "malformed": 1})
        assert {r.fault for r in srv.received if r.path.endswith("/results")} == {None, "truncated", "malformed"}
        assert res.stats.retries == 3 and res.stats.retries_by_kind == {"rate_limit": 1, "malformed_response": 2}
        assert srv.requests_by_path["POST /v1/messages/batches"] == 2  # the rate-limited one created nothing
        assert srv.batch_items == Counter({"succeeded": 6}) and srv.requests == 0
        assert RunDir.open(o.run_dir).manifest.summary["retries"] == 3


# --- fail fast ------------------------------------------------------------------------------------------------


def test_401_stops_the_run_with_advice_and_keeps_what_ran(project, tmp_path, api):
    run_dir = tmp_path / "run"
    with api(FakeServer(require_key="sk-ant-the-right-key")) as srv:
        o = options(project, run_dir, temperature=0.0)
        res = execute(config(project, concurrency=4, max_retries=6), o)
        assert not res.complete
        assert "ANTHROPIC_API_KEY" in res.reason and "401" in res.reason and "rejected" in res.reason
        # bounded: no retries, and nothing sent after the first 401 came back (only what was already in flight)
        assert res.stats.retries == 0
        assert 1 <= srv.requests <= 4
        aborted = [r for r in res.records if r.error and r.error.kind == "aborted"]
        assert all("not run" in r.error.message for r in aborted)
        assert all(n == 1 for n in srv.requests_by_key.values())
        auth = [r for r in res.records if r.error and r.error.kind == "auth"]
        assert auth and all(r.error.status == 401 and "ANTHROPIC_API_KEY" in r.error.message for r in auth)
        assert len(auth) == srv.requests
        # what ran is on disk; the rest is missing, and the manifest says why
        rd = RunDir.open(run_dir)
        assert rd.manifest.status == "incomplete"
        assert "ANTHROPIC_API_KEY" in rd.manifest.status_reason
        assert rd.manifest.summary["missing"] > 0 and rd.manifest.summary["recorded"] == len(res.records)
        assert {r.sample_id for r in rd.read_samples().records} == {r.sample_id for r in res.records}
        # resuming with a good key finishes the run
    with api(FakeServer(require_key=KEY)) as srv2:
        o.resume = True
        res2 = execute(config(project, concurrency=4), o)
        assert res2.complete, res2.reason
        assert srv2.requests == 20


def test_400_is_not_retried_and_says_so(project, tmp_path, api):
    with api(FakeServer(faults=FaultPlan(rate=1.0, kinds=["400"]))) as srv:
        o = options(project, tmp_path / "run", n_cases=6, temperature=0.0)
        res = execute(config(project, max_retries=6), o)
        assert not res.complete and "6 of 6 samples errored" in res.reason
        assert srv.requests == 6 and res.stats.retries == 0
        for r in res.records:
            assert r.error.kind == "bad_request" and r.error.status == 400
            assert "retrying will not help" in r.error.message
        assert RunDir.open(tmp_path / "run").manifest.status == "incomplete"


@pytest.mark.parametrize("fault,expect", [
    ("401", ["the API key was rejected (401)", "ANTHROPIC_API_KEY"]),
    ("400", ["request rejected (400)", "retrying will not help", "6 of 6 samples errored"]),
])
def test_harness_run_exits_3_and_prints_the_reason(project, tmp_path, api, capsys, fault, expect):
    run_dir = tmp_path / "run"
    with api(FakeServer(faults=FaultPlan(rate=1.0, kinds=[fault]))) as srv:
        code = cli_main(["--root", str(project), "run", "--model", MODEL, "--cases", "case-00,case-01,case-02,"
                         "case-03,case-04,case-05", "--run-dir", str(run_dir), "--no-progress", "--concurrency", "2"])
        err = capsys.readouterr().err
        assert code == 3, err
        assert "INCOMPLETE" in err
        for text in expect[:1] + expect[2:]:
            assert text in err, err
        if fault == "401":
            assert srv.requests <= 2 and "ANTHROPIC_API_KEY" in err
        else:
            assert srv.requests == 6
    rd = RunDir.open(run_dir)
    assert rd.manifest.status == "incomplete"
    recs = rd.read_samples().records
    assert recs and all(r.error is not None for r in recs)
    assert any(expect[0] in r.error.message for r in recs)


# --- what a reply holds besides text -------------------------------------------------------------------------

def test_text_blocks_join_as_paragraphs_tool_use_is_kept_and_empty_replies_are_never_graded(project, tmp_path, api):
    """Three cases, three replies: two text blocks (an item boundary between them must survive); text plus a
    tool_use block (kept on the record); only a thinking block cut at max_tokens (no review: an empty_review
    outcome, paid for, never graded)."""
    from harness.testing.fakeserver import Reply
    replies = {
        0: Reply(content=[{"type": "text", "text": "## Findings\n- first point"},
                          {"type": "text", "text": "- second point"}]),
        1: Reply(content=[{"type": "text", "text": "Looks fine."},
                          {"type": "tool_use", "name": "open_file", "input": {"path": "app.py"}}]),
        2: Reply(content=[{"type": "thinking", "thinking": "Let me think about the schema", "signature": "x"}],
             stop_reason="max_tokens"),
    }
    cases = load_suite(project / "cases")[:3]
    by_case = {c.id: i for i, c in enumerate(cases)}

    def responder(body):
        text = body["messages"][0]["content"]
        cid = next(c for c in by_case if c in (text if isinstance(text, str) else json.dumps(text)))
        return replies[by_case[cid]]

    with api(FakeServer(responder)):
        res = execute(config(project, cache_mode="off"), options(project, tmp_path / "run", n_cases=3))
    recs = {r.case: r for r in res.records}
    r0, r1, r2 = (recs[c.id] for c in cases)
    assert r0.review == "## Findings\n- first point\n\n- second point" and r0.error is None and r0.grades
    assert r1.review == "Looks fine." and r1.blocks == ["text", "tool_use"]
    assert r1.tool_use == [{"name": "open_file", "input": {"path": "app.py"}}]
    assert r2.error is not None and r2.error.kind == "empty_review" and "thinking" in r2.error.message
    assert r2.review is None and r2.grades == {} and r2.usage.get("output_tokens", 0) > 0
    assert not res.complete and "no gradable review (1 empty)" in (res.reason or "")
