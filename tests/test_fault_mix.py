"""The fault-mix test (issue 14): 60 samples through the real anthropic SDK, the loopback fake server answering
once with each bad shape — an error in a 200 body, an error event as a 200's first server-sent event, an HTML
200 from a "proxy", a lone surrogate in the reply, a reply cut at max_tokens, a refusal, an empty reply, a 429
with retry-after, a 529, a 500, a connection reset, and a body dripping one byte at a time past the request
deadline. The run ends normally, every sample has exactly one outcome, and every count the harness reports
(CLI line, run.json, report, retries by kind) matches the fake server's own request log."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from harness.cli import main as cli_main
from harness.testing.fakeserver import FakeServer, Reply
from harness.outcomes import OUTCOMES
from harness.records import RunDir
from harness.textsafe import REPLACEMENT

from .crash_child import MODEL, review_responder, write_project

KEY = "sk-ant-test-fault-mix-0000"
N = 60
RETRY_AFTER = 0.3
# case number -> transport fault on its first attempt (retried, then answered normally)
FAULTS = {0: "error-200", 1: "sse-error-200", 2: "html-200", 7: "429", 8: "529", 9: "500", 10: "drop",
          11: "drip"}
# case number -> the answer itself (not retried: an outcome)
REPLIES = {3: "surrogate", 4: "truncated", 5: "refusal", 6: "empty"}
KIND_OF = {"error-200": "overloaded", "sse-error-200": "overloaded", "html-200": "malformed_response",
           "429": "rate_limit", "529": "overloaded", "500": "server", "drop": "connection", "drip": "timeout"}


def _case_no(body) -> int:
    m = re.search(r"of case-(\d+)", json.dumps(body.get("messages")))
    return int(m.group(1)) if m else -1


def _responder(body):
    what = REPLIES.get(_case_no(body))
    if what == "surrogate":
        return review_responder(body) + " \ud83d"
    if what == "truncated":
        return Reply(text="## SQL injection in search_orders: the query is built with an f-str",
                     stop_reason="max_tokens")
    if what == "refusal":
        return Reply(text="", stop_reason="refusal")
    if what == "empty":
        return Reply(text="")
    return review_responder(body)


def _faults(body, attempt):
    return FAULTS.get(_case_no(body)) if attempt == 0 else None


def test_fault_mix(tmp_path, monkeypatch, capsys):
    project = write_project(tmp_path / "proj", N, concurrency=8, request_timeout_s=1.5, max_retries=3)
    run_dir = tmp_path / "run"
    with FakeServer(_responder, faults=_faults, retry_after=RETRY_AFTER, drip_interval_s=0.25) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
        code = cli_main(["--root", str(project), "run", "--model", MODEL, "--cases", "all", "--run-dir",
                         str(run_dir), "--no-progress"])
        log = srv.received
        injected = srv.faults_injected
        completed = srv.completed
    err = capsys.readouterr().err
    assert "Traceback" not in err
    # documented exit code: 3, the run is incomplete because 3 samples have no gradable review
    assert code == 3, err

    rd = RunDir.open(run_dir)
    recs = rd.read_samples().records
    lines = (run_dir / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(recs) == N   # exactly one record per sample, none twice
    by_no = {int(r.case.split("-")[1]): r for r in recs}
    assert all(r.outcome in OUTCOMES for r in recs)
    expect = {n: "ok" for n in range(N)} | {4: "truncated", 5: "refused", 6: "empty"}
    assert {n: r.outcome for n, r in by_no.items()} == expect
    assert by_no[3].text_replaced == 1 and by_no[3].review.endswith(REPLACEMENT) and by_no[3].grades
    assert all(not by_no[n].grades for n in (4, 5, 6)) and all(by_no[n].grades for n in expect if expect[n] == "ok")

    # the server's log: every fault injected once, each faulted sample asked exactly twice, the others once
    assert injected == Counter({k: 1 for k in FAULTS.values()})
    model_calls = [r for r in log if r.path == "/v1/messages"]
    asked = Counter(_case_no(r.body) for r in model_calls)
    assert asked == Counter({n: 2 if n in FAULTS else 1 for n in range(N)})
    assert completed == N
    # ... and the harness's counts agree with it
    assert {n: r.retries for n, r in by_no.items()} == {n: int(n in FAULTS) for n in range(N)}
    m = rd.manifest
    st = m.summary["this_session"]
    assert st["retries"] == len(FAULTS) == sum(injected.values())
    assert st["retries_by_kind"] == dict(Counter(KIND_OF[k] for k in FAULTS.values()))
    assert m.summary["outcomes"] == {"ok": N - 3, "truncated": 1, "refused": 1, "empty": 1, "error": 0}
    assert f"{N - 3} ok, 1 truncated, 1 refused, 1 empty, 0 errors" in err
    assert f"{len(FAULTS)} retries" in err and m.status == "incomplete"
    md = next(Path(x.split("report: ", 1)[1]) for x in err.splitlines() if x.endswith("report.md"))
    assert f"{N - 3} ok, 1 truncated, 1 refused, 1 empty, 0 error" in md.read_text(encoding="utf-8")
    # input tokens: what the server billed for the answers it completed
    assert st["input_tokens"] == sum(r.usage["input_tokens"] for r in recs)

    # retry-after honoured: the 429'd request was not asked again sooner than the server said
    t429 = sorted(r.time for r in model_calls if _case_no(r.body) == 7)
    assert t429[1] - t429[0] >= RETRY_AFTER
    # the dripping body was cut by the request deadline, not waited out (its body takes minutes)
    tdrip = sorted(r.time for r in model_calls if _case_no(r.body) == 11)
    assert 1.4 <= tdrip[1] - tdrip[0] < 10
