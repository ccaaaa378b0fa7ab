"""Whole runs against a local OpenAI-compatible server as people run them (FakeLlamaServer over loopback HTTP,
the real openai SDK): one slot, a small context, no json_schema. Issue #21."""

from __future__ import annotations

import json
import time

import pytest

from harness.cases import load_suite
from harness.commands import print_outcome
from harness.config import load_config
from harness.testing.fakellama import FakeLlamaServer
from harness.prompts import parse_prompt
from harness.runner import RunOptions, RunStats, execute

from .conftest import ROOT, write_case

PROMPT = parse_prompt("---\nname: r\ndescription: d\n---\nYou review code.\n", source="p.md")
REVIEW = "search_orders builds SQL from q with an f-string: SQL injection. Use a bind parameter."


def judge_reply():
    return {"findings": [{"id": "sqli", "verdict": "found", "quote": "SQL injection", "reason": "names it"}],
            "traps": [{"id": "get-order-ok", "verdict": "not_flagged", "quote": "", "reason": "silent"}],
            "extra_issues": 0}


def responder(body):
    """A review for agent requests, the judge's verdicts for requests with a response_format."""
    return judge_reply() if body.get("response_format") else REVIEW


@pytest.fixture
def suite(tmp_path):
    root = tmp_path / "cases"
    for i in range(8):
        write_case(root, f"case-{i}")
    return load_suite(root)


def cfg(**over):
    return load_config(ROOT, {"retry_backoff_base_s": 0.01, "retry_backoff_max_s": 0.05, **over})


def opts(suite, tmp_path, srv, **kw):
    return RunOptions(cases=suite, prompts=[PROMPT], models=[f"openai/smollm2-fake@{srv.openai_base_url}"],
                      run_dir=tmp_path / kw.pop("name", "run"), graders=kw.pop("graders", []), progress=False, **kw)


def test_one_slot_server_at_default_concurrency_completes_without_a_retry(suite, tmp_path, capsys):
    # the reproduction: one request at a time, concurrency 8 configured, a deadline a few requests long
    with FakeLlamaServer(slots=1, compute_s=0.15, responder=responder) as srv:
        t0 = time.perf_counter()
        res = execute(cfg(concurrency=8, request_timeout_s=0.5), opts(suite, tmp_path, srv))
        wall = time.perf_counter() - t0
        assert srv.max_computing == 1 and srv.max_queued <= 1 and srv.abandoned == 0
        assert srv.started == srv.delivered == 8
    assert res.complete and res.stats.retries == 0 and res.stats.errors == 0
    server = res.run_dir.manifest.config["servers"][f"openai/smollm2-fake@{srv.openai_base_url}"]
    assert server["concurrency"] == 1 and server["slots_source"] == "/props total_slots"
    assert server["n_ctx"] == 8192
    # latency runs from sending to the answer; time waiting for the slot is recorded apart
    # apart: one request in flight at a time, so latencies that exclude the wait never add up past the run's
    # wall time (with the wait counted in, two samples' latencies would overlap)
    assert all(r.latency_s >= 0.15 for r in res.records)
    assert sum(r.latency_s for r in res.records) < wall
    assert sum(1 for r in res.records if r.queue_s and r.queue_s > 0.1) >= 4
    # an unpriced model: n/a, never $0.0000
    assert res.run_dir.manifest.summary["cost_usd"] is None
    assert all(r.cost_usd is None for r in res.records)
    print_outcome(res, [])
    err = capsys.readouterr().err
    assert "cost n/a" in err and "$0.0000" not in err
    from harness.report.report import build_run_report, write_report
    md = next(p for p in write_report(build_run_report(res.run_dir.path, config=cfg()), config=cfg())
              if str(p).endswith(".md")).read_text()
    cost_line = next(ln for ln in md.splitlines() if ln.startswith("**Cost and latency:**"))
    assert "n/a" in cost_line and "$0.0000" not in cost_line


def test_server_that_tells_nothing_on_loopback_runs_one_at_a_time(suite, tmp_path):
    with FakeLlamaServer(slots=1, compute_s=0.1, flavour="ollama", responder=responder) as srv:
        res = execute(cfg(concurrency=8, request_timeout_s=0.4), opts(suite, tmp_path, srv))
        assert srv.max_queued <= 1 and srv.abandoned == 0
    server = next(iter(res.run_dir.manifest.config["servers"].values()))
    assert res.complete and res.stats.retries == 0
    assert server["concurrency"] == 1 and "default for a loopback server" in server["why"]


def test_misconfigured_slots_back_off_on_timeouts_and_complete(suite, tmp_path):
    # the user says 6 slots, the server has one: requests queue in the server and time out; the harness halves
    # its concurrency on timeouts, waits for the busy slot and lengthens the deadline, and every sample ends
    with FakeLlamaServer(slots=1, compute_s=0.2, responder=responder) as srv:
        res = execute(cfg(concurrency=8, server_slots=6, request_timeout_s=0.5, max_retries=6),
                      opts(suite, tmp_path, srv))
        started, delivered = srv.started, srv.delivered
    assert res.complete, res.reason
    assert res.stats.retries_by_kind.get("timeout", 0) >= 1
    assert res.stats.min_concurrency is not None and res.stats.min_concurrency < 6
    # the reproduction started 63 requests for 25 samples; here at most twice the samples are sent
    # (an answer can reach a client whose event loop was busy grading just after its deadline: delivered ≥ 8)
    assert delivered >= 8 and started <= 16


def test_small_context_fits_max_tokens_and_records_cut_answers(suite, tmp_path):
    # 2048 max_tokens configured, a 1024-token context: fitted requests instead of "llama_decode returned 1"
    with FakeLlamaServer(n_ctx=1024, overflow="error500", reply_tokens=5000, compute_s=0.01) as srv:
        res = execute(cfg(), opts(suite, tmp_path, srv))
        sent = [b["max_tokens"] for b in srv.bodies]
    # cut answers are outcomes, not reviews: recorded as truncated (not graded), so the run is incomplete
    assert not res.complete and res.stats.retries == 0 and all(r.outcome == "truncated" for r in res.records)
    assert all(m < 1024 for m in sent)
    assert all(r.stop_reason == "length" and r.max_tokens_sent == m for r, m in zip(
        sorted(res.records, key=lambda r: r.max_tokens_sent), sorted(sent)))


def test_judge_on_a_server_without_json_schema(suite, tmp_path):
    # llama-cpp-python answers json_schema with a 500: the judge asks once, switches to json_object with the
    # schema for the rest of the run, reads a fenced reply, and shares the one slot with the agent's requests
    with FakeLlamaServer(json_schema=False, fence_json=True, compute_s=0.02, responder=responder) as srv:
        url = f"openai/smollm2-fake@{srv.openai_base_url}"
        res = execute(cfg(), opts(suite, tmp_path, srv, graders=["deterministic", "judge"], judge_model=url))
        formats = [b["response_format"]["type"] for b in srv.bodies if b.get("response_format")]
        assert srv.max_computing == 1 and srv.max_queued <= 1
    assert res.complete
    assert formats.count("json_schema") == 1 and formats.count("json_object") == 8
    assert all(r.grades["judge"].error is None and r.grades["judge"].found_ids() == {"sqli"} for r in res.records)
    judge = res.run_dir.manifest.config["judge_server"]
    assert judge["structured_output"] == "json_object" and judge["structured_output_source"].startswith("detected")
    on_disk = json.loads((res.run_dir.path / "run.json").read_text())
    assert on_disk["config"]["judge_server"]["structured_output"] == "json_object"


def test_cost_text():
    assert RunStats(cost_unknown=3).cost_text() == "cost n/a"
    assert RunStats(cost_usd=0.5).cost_text() == "$0.5000"
    assert RunStats(cost_usd=0.5, cost_unknown=2).cost_text() == "$0.5000 + n/a for 2 unpriced samples"
    assert RunStats().cost_text() == "$0.0000"     # nothing answered: nothing spent


def test_harness_grade_with_a_judge_on_a_one_slot_server(suite, tmp_path, capsys, monkeypatch):
    """`harness grade RUN --grader judge` against a one-slot server that tells its slots: one judge request at a
    time (nothing queued, abandoned or re-sent), every sample judged, the judge's concurrency in run.json, and an
    unpriced judge's cost shown as n/a (before: 8 requests at once, and "spent $0.0000")."""
    from harness import pipeline
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))   # every judge request reaches the server
    with FakeLlamaServer(slots=1, compute_s=0.05, responder=responder) as srv:
        res = execute(cfg(concurrency=8), opts(suite[:4], tmp_path, srv, graders=["deterministic"]))
        assert res.complete
        started = srv.started
        out = pipeline.regrade(cfg(concurrency=8, cases_dir=str(tmp_path / "cases")), res.run_dir.path, ["judge"],
                               judge_model=f"openai/judge-fake@{srv.openai_base_url}")
        assert srv.max_computing == 1 and srv.max_queued <= 1 and srv.abandoned == srv.dropped == 0
        judged = srv.started - started
    assert out.result.complete and judged >= 4
    recs = out.result.records
    assert all(r.grades["judge"].error is None and r.grades["judge"].found_ids() == {"sqli"} for r in recs)
    m = res.run_dir.manifest.__class__.model_validate_json((res.run_dir.path / "run.json").read_text())
    assert m.config["judge_server"]["concurrency"] == 1 and m.judge_model.startswith("openai/judge-fake@")
    print_outcome(out.result, [])
    err = capsys.readouterr().err
    assert "cost n/a" in err and "$0.0000" not in err
