"""LLM judge grader against the fake Messages API: good, unsupported quote, malformed, refusal; OpenAI path."""

from __future__ import annotations

import pytest

from harness.cases import load_case
from harness.config import load_config
from harness.errors import ConfigError
from harness.testing.fakeserver import FakeServer, Reply, ScriptedResponder
from harness.graders.judge import JudgeGrader, quote_supported, reply_schema

from .conftest import ROOT

REVIEW = ("## Findings\n1. **search_orders** builds SQL with an f-string from `q`: SQL injection. Use a bind "
          "parameter.\n2. get_order looks fine.\n")


def good_reply(quote="builds SQL with an f-string from `q`: SQL injection"):
    return {"findings": [{"id": "sqli", "verdict": "found", "quote": quote, "reason": "pins search_orders"}],
            "traps": [{"id": "get-order-ok", "verdict": "not_flagged", "quote": "", "reason": "praised"}],
            "extra_issues": 0}


@pytest.fixture
def case(case_dir):
    return load_case(case_dir)


def judge(server, monkeypatch, **kw):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-judge")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    cfg = load_config(ROOT, {"retry_backoff_base_s": 0.001, "retry_backoff_max_s": 0.01, **kw})
    return JudgeGrader("anthropic/claude-sonnet-4-5", cfg=cfg)


def test_good_reply_uses_forced_tool(case, monkeypatch):
    with FakeServer(ScriptedResponder([Reply(tool_input=good_reply())])) as server:
        g = judge(server, monkeypatch).grade(case, REVIEW)
        body = server.received[0].body
    assert g.error is None and g.found_ids() == {"sqli"} and g.flagged_ids() == set()
    assert g.findings[0].supported and "f-string" in g.findings[0].evidence.quote
    assert body["tool_choice"] == {"type": "tool", "name": "record_verdicts"}
    assert body["tools"][0]["input_schema"] == reply_schema()
    assert "search_orders" in body["messages"][0]["content"] and "rubric" in body["messages"][0]["content"]


def test_unsupported_quote_counts_as_not_found(case, monkeypatch):
    with FakeServer(ScriptedResponder([Reply(tool_input=good_reply("the code concatenates SQL strings"))])) as s:
        g = judge(s, monkeypatch).grade(case, REVIEW)
    assert g.error is None and g.found_ids() == set()
    assert not g.findings[0].supported and "quote is not in the review" in g.warnings[0]


def test_malformed_reply_is_retried_then_recorded(case, monkeypatch):
    bad = {"findings": [{"id": "sqli", "verdict": "maybe", "quote": "", "reason": ""}], "traps": [],
           "extra_issues": 0}
    with FakeServer(ScriptedResponder([Reply(tool_input=bad)] * 3)) as server:
        g = judge(server, monkeypatch).grade(case, REVIEW)
        assert server.requests == 3
    assert g.error and "malformed judge reply after 3 attempts" in g.error and g.findings == []


def test_malformed_then_good_recovers(case, monkeypatch):
    missing_trap = {**good_reply(), "traps": []}
    with FakeServer(ScriptedResponder([Reply(tool_input=missing_trap), Reply(tool_input=good_reply())])) as server:
        g = judge(server, monkeypatch).grade(case, REVIEW)
        assert server.requests == 2
    assert g.error is None and g.found_ids() == {"sqli"}


def test_refusal_without_tool_call_is_a_grader_error(case, monkeypatch):
    """A refusing judge is a grader error after one paid call, not three (issue 14); the call's cost is kept."""
    refusal = Reply(text="I can't help with that.", stop_reason="refusal")
    with FakeServer(ScriptedResponder([refusal] * 3)) as server:
        g = judge(server, monkeypatch).grade(case, REVIEW)
        assert server.requests == 1
    assert g.error and "judge refused" in g.error
    assert g.calls == 1 and g.usage["output_tokens"] > 0


def test_judge_malformed_200s_are_retried_counted_and_priced(case, monkeypatch):
    """An error body, an error event stream and an HTML page, each in a 200, are retried like a 529; the grade
    says how many calls and retries it took and what they cost."""
    with FakeServer(ScriptedResponder([Reply(tool_input=good_reply())]),
                    faults=["error-200", "sse-error-200", "html-200"]) as server:
        g = judge(server, monkeypatch).grade(case, REVIEW)
        assert server.requests == 4
    assert g.error is None and g.calls == 4 and g.retries == 3
    assert g.usage["input_tokens"] > 0


def test_transient_errors_are_retried(case, monkeypatch):
    with FakeServer(ScriptedResponder([Reply(tool_input=good_reply())]), faults=["529", "500"]) as server:
        g = judge(server, monkeypatch).grade(case, REVIEW)
        assert server.requests == 3
    assert g.error is None and g.found_ids() == {"sqli"}


def test_judge_cache_avoids_second_call(case, monkeypatch, tmp_path):
    with FakeServer(ScriptedResponder([Reply(tool_input=good_reply())])) as server:
        j = judge(server, monkeypatch, judge_cache_dir=str(tmp_path / "jc"))
        j.grade(case, REVIEW)
        g = j.grade(case, REVIEW)
        assert server.requests == 1
    assert g.found_ids() == {"sqli"}


def test_openai_compatible_judge_uses_json_schema(case):
    import json
    with FakeServer(lambda body: json.dumps(good_reply())) as server:
        cfg = load_config(ROOT)
        g = JudgeGrader(f"openai/judge-model@{server.openai_base_url}", cfg=cfg).grade(case, REVIEW)
        body = server.bodies("/v1/chat/completions")[0]
    assert g.error is None and g.found_ids() == {"sqli"}
    assert body["response_format"]["type"] == "json_schema"


def test_openai_compatible_judge_accepts_a_json_fence_in_one_call(case, tmp_path, monkeypatch):
    import json
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    with FakeServer(lambda body: "```json\n" + json.dumps(good_reply()) + "\n```") as server:
        g = JudgeGrader(f"openai/judge-model@{server.openai_base_url}", cfg=load_config(ROOT)).grade(case, REVIEW)
        assert server.requests == 1
    assert g.error is None and g.found_ids() == {"sqli"} and g.calls == 1


def test_the_judge_cache_key_names_the_server(case, monkeypatch):
    """Two servers behind one model name are two judges: their cached verdicts must not be mixed."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-judge")
    j = JudgeGrader("anthropic/claude-sonnet-4-5", cfg=load_config(ROOT))
    system, user = j.render(case, REVIEW)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1")
    a = j.cache_key(case, system, user)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:2")
    assert j.cache_key(case, system, user) != a


def test_judge_verdicts_live_in_the_judge_namespace_and_replay_only_never_calls(case, monkeypatch, tmp_path):
    """One cache (harness/cache.py): the judge's entries under <cache root>/judge; in replay-only mode a miss
    is a grader error and no request is sent, a hit is served."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    with FakeServer(ScriptedResponder([Reply(tool_input=good_reply())])) as server:
        g = judge(server, monkeypatch, cache_mode="replay-only").grade(case, REVIEW)
        assert server.requests == 0 and g.error and "cache miss in replay-only mode" in g.error
        judge(server, monkeypatch).grade(case, REVIEW)              # cache_mode use: asks once, stores
        assert server.requests == 1
        replayed = judge(server, monkeypatch, cache_mode="replay-only").grade(case, REVIEW)
        assert server.requests == 1
    assert replayed.error is None and replayed.found_ids() == {"sqli"} and replayed.calls == 0
    entries = list((tmp_path / "cache").rglob("*.json"))
    assert len(entries) == 1 and entries[0].relative_to(tmp_path / "cache").parts[0] == "judge"


def test_local_model_cannot_judge():
    with pytest.raises(ConfigError, match="cannot act as a judge"):
        JudgeGrader("local/smollm2-135m")


def test_quote_check_normalises_whitespace():
    assert quote_supported("builds  SQL\nwith an f-string", REVIEW)
    assert quote_supported("“builds SQL with an f-string”", REVIEW)
    assert not quote_supported("", REVIEW) and not quote_supported("rewrites everything", REVIEW)


def test_user_supplied_templates_are_sandboxed(case, tmp_path):
    from jinja2.exceptions import SecurityError
    (tmp_path / "judge_system.md.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    (tmp_path / "judge_user.md.j2").write_text("{{ review }}")
    j = JudgeGrader("anthropic/x", templates_dir=str(tmp_path))
    with pytest.raises(SecurityError):
        j.render(case, REVIEW)


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r["findings"].append(dict(r["findings"][0])), "duplicate verdicts for finding 'sqli'"),
    (lambda r: r["findings"].append({**r["findings"][0], "verdict": "missed", "quote": ""}),
     "contradictory verdicts for finding 'sqli'"),
    (lambda r: r["traps"].append({"id": "no-such-trap", "verdict": "not_flagged", "quote": "", "reason": ""}),
     "unknown trap id 'no-such-trap'"),
], ids=["duplicate", "contradictory", "unknown-id"])
def test_ambiguous_verdicts_are_judge_errors_not_last_wins(case, monkeypatch, mutate, message):
    bad = good_reply()
    mutate(bad)
    with FakeServer(ScriptedResponder([Reply(tool_input=bad)] * 3)) as server:
        g = judge(server, monkeypatch).grade(case, REVIEW)
        assert server.requests == 3   # retried like any malformed reply, then recorded
    assert g.error is not None and message in g.error and g.findings == []


def test_fenced_json_is_read():
    from harness.models.openai_model import strip_fence
    assert strip_fence('```json\n{"a": 1}\n```') == '{"a": 1}'
    assert strip_fence('  ```\n{"a": 1}\n```\n') == '{"a": 1}'
    assert strip_fence('{"a": 1}') == '{"a": 1}'


def test_unsupported_request_shape_is_not_retried(case):
    # a server that rejects json_schema and json_object alike: two requests, then a grader error (not 7 retries)
    from harness.testing.fakellama import FakeLlamaServer

    with FakeLlamaServer(json_schema=False, responder=lambda body: "not JSON at all") as srv:
        cfg = load_config(ROOT, {"retry_backoff_base_s": 0.001, "retry_backoff_max_s": 0.01})
        j = JudgeGrader(f"openai/judge@{srv.openai_base_url}", cfg=cfg)
        g = j.grade(case, REVIEW)
        kinds = [b["response_format"]["type"] for b in srv.bodies]
    # json_schema rejected once (500, unsupported), then json_object answered with text that is not JSON
    assert kinds[0] == "json_schema" and kinds.count("json_schema") == 1 and set(kinds[1:]) == {"json_object"}
    assert g.error and "malformed judge reply" in g.error
    assert j.server_facts()["structured_output"] == "json_object"


# -- max_tokens sized from the case, cut replies, the grammar schema, local deadlines (issue #21) ----------------

def test_max_tokens_is_sized_per_finding_and_trap(case, monkeypatch, tmp_path):
    from harness.graders.judge import JUDGE_BASE_TOKENS, judge_max_tokens
    assert judge_max_tokens(case) == JUDGE_BASE_TOKENS + 160 * 2          # one finding, one trap
    assert judge_max_tokens(case, per_item=50) == JUDGE_BASE_TOKENS + 100
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "c"))
    with FakeServer(ScriptedResponder([Reply(tool_input=good_reply())])) as server:
        judge(server, monkeypatch, judge_tokens_per_item=100).grade(case, REVIEW)
        assert server.received[0].body["max_tokens"] == JUDGE_BASE_TOKENS + 200


def test_a_reply_cut_at_max_tokens_is_a_judge_error_after_one_call(case, monkeypatch):
    cut = Reply(tool_input={"findings": []}, stop_reason="max_tokens")
    with FakeServer(ScriptedResponder([cut] * 3)) as server:
        g = judge(server, monkeypatch).grade(case, REVIEW)
        assert server.requests == 1   # at temperature 0 the same request is cut the same way
    assert g.error and g.error.startswith("truncated judge reply: judge reply cut at max_tokens 384")
    assert "1 finding(s) + 1 trap(s)" in g.error and g.findings == [] and g.calls == 1


def test_openai_reply_cut_by_length_is_a_judge_error_not_a_pass(case, tmp_path, monkeypatch):
    # the judge rambles past its bound: finish_reason "length", the JSON is cut; one call, a recorded error
    from harness.testing.fakellama import FakeLlamaServer
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "c"))
    long = {**good_reply(), "extra_issues": 0, "findings": [{**good_reply()["findings"][0], "reason": "x " * 2000}]}
    with FakeLlamaServer(responder=lambda body: long) as srv:
        g = JudgeGrader(f"openai/j@{srv.openai_base_url}", cfg=load_config(ROOT)).grade(case, REVIEW)
        assert srv.started == 1 and srv.bodies[0]["max_tokens"] == 384
    assert g.error and "truncated judge reply" in g.error and "finish_reason 'length'" in g.error


def test_judge_max_tokens_is_fitted_to_a_small_context_and_a_cut_says_so(case, tmp_path, monkeypatch):
    from harness.testing.fakellama import FakeLlamaServer
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "c"))
    j = JudgeGrader("openai/j@http://127.0.0.1:1/v1", cfg=load_config(ROOT))
    system, user = j.render(case, REVIEW)
    prompt = (len(system) + len(user)) // 4 + 2 * 4   # the fake's count: 4 characters a token + its template
    with FakeLlamaServer(n_ctx=prompt + 120, responder=lambda body: {**good_reply(), "x": "y" * 2000}) as srv:
        g = JudgeGrader(f"openai/j@{srv.openai_base_url}", cfg=load_config(ROOT)).grade(case, REVIEW)
        sent = srv.bodies[0]["max_tokens"]
    assert sent < 384 and prompt + sent <= prompt + 120   # fitted from /props n_ctx, not the sized 384
    assert g.error and f"cut at max_tokens {sent}" in g.error and "fitted to the server's context" in g.error


def test_json_object_servers_get_the_schema_narrowed_to_the_case(case, tmp_path, monkeypatch):
    import jsonschema

    from harness.testing.fakellama import FakeLlamaServer
    from harness.graders.judge import case_schema
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "c"))
    schema = case_schema(case)
    jsonschema.validate(good_reply(), schema)
    jsonschema.validate(good_reply(), reply_schema())
    for bad in ({**good_reply(), "findings": good_reply()["findings"] * 2},            # duplicate id
                {**good_reply(), "traps": []},                                        # missing id
                {**good_reply(), "findings": [{**good_reply()["findings"][0], "id": "other"}]},
                {**good_reply(), "findings": [{**good_reply()["findings"][0], "quote": "q" * 301}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    with FakeLlamaServer(json_schema=False, flavour="llama-cpp-python", responder=lambda body: good_reply()) as srv:
        g = JudgeGrader(f"openai/j@{srv.openai_base_url}", cfg=load_config(ROOT)).grade(case, REVIEW)
        fmts = [b["response_format"] for b in srv.bodies]
    assert g.error is None and g.found_ids() == {"sqli"}
    assert [f["type"] for f in fmts] == ["json_schema", "json_object"] and fmts[1]["schema"] == schema


def test_the_case_schema_compiles_to_a_llama_cpp_grammar(case):
    """llama-cpp-python turns json_object's schema into a GBNF grammar; the narrowed schema must compile (an
    unsupported keyword would fall back to any JSON, or fail the request). Needs the llamacpp-server extra."""
    llama_grammar = pytest.importorskip("llama_cpp.llama_grammar")
    import json

    from harness.graders.judge import case_schema
    gbnf = llama_grammar.json_schema_to_gbnf(json.dumps(case_schema(case)))
    assert '"\\"sqli\\""' in gbnf and '"\\"get-order-ok\\""' in gbnf


def test_a_slow_local_judge_is_bounded_by_silence_not_a_total_deadline(case, tmp_path, monkeypatch):
    # llama-cpp-python pings while it computes: 1.5 s of work under a 0.5 s request timeout is one call, not a
    # cut-and-ask-again loop (the agent's requests are treated the same way)
    from harness.testing.fakellama import FakeLlamaServer
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "c"))
    cfg = load_config(ROOT, {"request_timeout_s": 0.5, "retry_backoff_base_s": 0.001, "retry_backoff_max_s": 0.01})
    with FakeLlamaServer(flavour="llama-cpp-python", compute_s=1.5, ping_s=0.1,
                         responder=lambda body: good_reply()) as srv:
        g = JudgeGrader(f"openai/j@{srv.openai_base_url}", cfg=cfg).grade(case, REVIEW)
        assert srv.started == 1 and srv.cancelled == 0
    assert g.error is None and g.calls == 1 and g.found_ids() == {"sqli"}


def test_a_judge_without_a_runner_limit_sizes_its_own_to_the_servers_slots(case, tmp_path, monkeypatch):
    """`harness grade` with the judge on a one-slot llama.cpp server: the judge asks the server its slots and sends
    one request at a time, so nothing waits in the server's queue with its deadline running, and nothing is
    abandoned or sent twice (before: `concurrency` requests at once, the queued ones timed out and were re-sent
    while the server still computed them)."""
    import asyncio

    from harness.testing.fakellama import FakeLlamaServer
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "c"))
    reviews = [f"{REVIEW}\n\nReview number {i}." for i in range(5)]   # distinct: no cache hit between them
    with FakeLlamaServer(slots=1, compute_s=0.2, responder=lambda body: good_reply()) as srv:
        j = JudgeGrader(f"openai/j@{srv.openai_base_url}", cfg=load_config(ROOT))

        async def grade_all():
            return await asyncio.gather(*(j.agrade(case, r) for r in reviews))

        grades = asyncio.run(grade_all())
        # (a request counts as queued for the moment before it takes the free slot)
        assert srv.max_computing == 1 and srv.max_queued <= 1, (srv.max_computing, srv.max_queued)
        assert srv.started == srv.delivered == len(reviews) and srv.abandoned == srv.dropped == 0
    assert all(g.error is None and g.found_ids() == {"sqli"} for g in grades)
    facts = j.server_facts()
    assert facts["concurrency"] == 1 and "slot" in facts["concurrency_why"]
