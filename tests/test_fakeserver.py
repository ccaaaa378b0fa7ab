"""Tests of harness.testing.fakeserver, driven through the real anthropic and openai SDKs over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import anthropic
import httpx2
import openai
import pytest

from harness.testing.fakeserver import (
    FAULT_KINDS,
    FakeServer,
    FaultPlan,
    Reply,
    ScriptedResponder,
    estimate_tokens,
    fingerprint,
    schema_instance,
)

KEY = "sk-ant-fake-7f3e9c1d-NEVER-WRITE-ME"
MODEL = "claude-fake-1"
USER = [{"role": "user", "content": "Please review this diff of src/app/views.py and report defects."}]


def client(server: FakeServer, **kw) -> anthropic.Anthropic:
    kw.setdefault("max_retries", 0)
    return anthropic.Anthropic(base_url=server.base_url, api_key=KEY, **kw)


@pytest.fixture
def server():
    with FakeServer() as srv:
        yield srv


def create(c: anthropic.Anthropic, **kw):
    params = {"model": MODEL, "max_tokens": 256, "messages": USER, **kw}
    return c.messages.create(**params)


# --- basic shape, counters, request log --------------------------------------------------------------------


def test_create_message_shape_and_counters(server):
    msg = create(client(server))
    assert msg.type == "message" and msg.role == "assistant" and msg.model == MODEL
    assert msg.id.startswith("msg_")
    assert msg.stop_reason == "end_turn"
    assert msg.content[0].type == "text"
    assert msg.content[0].text.startswith("Review of src/app/views.py:")
    assert msg.usage.input_tokens == estimate_tokens(USER[0]["content"]) > 0
    assert msg.usage.output_tokens == estimate_tokens(msg.content[0].text)
    assert msg.usage.cache_creation_input_tokens == 0 and msg.usage.cache_read_input_tokens == 0

    fp = fingerprint({"model": MODEL, "messages": USER})
    assert server.requests == 1 and server.completed == 1
    assert server.requests_by_key == {fp: 1} and server.completed_by_key == {fp: 1}
    assert sum(server.faults_injected.values()) == 0
    (rec,) = server.received
    assert rec.path == "/v1/messages" and rec.status == 200 and rec.fingerprint == fp
    assert rec.body["max_tokens"] == 256 and "anthropic-version" in rec.headers
    # The key travels in the auth header (SDK 2.x: "Authorization: Bearer") and nowhere else.
    assert rec.api_key == KEY
    assert KEY not in rec.raw.decode()
    assert KEY not in repr(rec) and KEY not in repr(server.received)


def test_default_responder_is_deterministic(server):
    c = client(server)
    assert create(c).content[0].text == create(c).content[0].text
    assert server.requests_by_key == {fingerprint({"model": MODEL, "messages": USER}): 2}


def test_max_tokens_truncates_and_reports_max_tokens(server):
    msg = create(client(server), max_tokens=3)
    assert msg.stop_reason == "max_tokens"
    assert len(msg.content[0].text) == 12 and msg.usage.output_tokens == 3


def test_validation_and_auth():
    with FakeServer(require_key=KEY) as srv:
        with pytest.raises(anthropic.BadRequestError) as e:
            client(srv).messages.create(model=MODEL, max_tokens=10, messages=[])
        assert e.value.type == "invalid_request_error"
        # The SDK insists on max_tokens, so send the malformed body raw.
        r = httpx2.post(srv.base_url + "/v1/messages", headers={"x-api-key": KEY},
                        json={"model": MODEL, "messages": USER})
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
        r = httpx2.post(srv.base_url + "/v1/messages", json={"model": MODEL, "max_tokens": 5, "messages": USER})
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        # x-api-key (the older SDKs' header) is accepted as well.
        r = httpx2.post(srv.base_url + "/v1/messages", headers={"x-api-key": KEY},
                        json={"model": MODEL, "max_tokens": 5, "messages": USER})
        assert r.status_code == 200 and r.json()["type"] == "message"
        with pytest.raises(anthropic.AuthenticationError) as e:
            anthropic.Anthropic(base_url=srv.base_url, api_key="sk-ant-wrong", max_retries=0).messages.create(
                model=MODEL, max_tokens=10, messages=USER)
        assert "sk-ant-wrong" not in str(e.value.body)
        assert srv.completed == 1


# --- responders, tools, caching ------------------------------------------------------------------------------


def test_scripted_replies_in_order_then_default():
    with FakeServer(["first", Reply(text="second", stop_reason="stop_sequence"), [
            {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]]) as srv:
        c = client(srv)
        assert create(c).content[0].text == "first"
        second = create(c)
        assert second.content[0].text == "second" and second.stop_reason == "stop_sequence"
        assert [b.text for b in create(c).content] == ["a", "b"]
        assert create(c).content[0].text.startswith("Review of")


def test_scripted_replies_by_fingerprint():
    other = [{"role": "user", "content": "something else"}]
    fp = fingerprint({"model": MODEL, "messages": other})
    with FakeServer(ScriptedResponder(by_fingerprint={fp: ["one", "two"]})) as srv:
        c = client(srv)
        assert create(c, messages=other).content[0].text == "one"
        assert create(c).content[0].text.startswith("Review of")
        assert create(c, messages=other).content[0].text == "two"


def test_async_responder_and_responder_failure():
    async def responder(body):
        await asyncio.sleep(0.01)
        if "boom" in json.dumps(body):
            raise RuntimeError("responder exploded")
        return "async answer"

    with FakeServer(responder) as srv:
        assert create(client(srv)).content[0].text == "async answer"
        with pytest.raises(anthropic.InternalServerError):
            create(client(srv), messages=[{"role": "user", "content": "boom"}])
        assert srv.responder_errors == 1


TOOL = {
    "name": "report_findings",
    "description": "Report review findings",
    "input_schema": {
        "type": "object",
        "properties": {
            "findings": {"type": "array", "items": {"$ref": "#/$defs/Finding"}, "minItems": 1},
            "verdict": {"enum": ["approve", "request_changes"]},
        },
        "required": ["findings", "verdict"],
        "$defs": {"Finding": {"type": "object", "properties": {
            "line": {"type": "integer", "minimum": 1}, "message": {"type": "string"}}}},
    },
}


def test_tool_use_forced_with_responder_dict():
    with FakeServer(lambda body: {"findings": [{"line": 3, "message": "off by one"}], "verdict": "approve"}) as srv:
        msg = create(client(srv), tools=[TOOL], tool_choice={"type": "tool", "name": "report_findings"})
    assert msg.stop_reason == "tool_use"
    (block,) = msg.content
    assert block.type == "tool_use" and block.name == "report_findings" and block.id.startswith("toolu_")
    assert block.input == {"findings": [{"line": 3, "message": "off by one"}], "verdict": "approve"}


def test_tool_use_default_responder_fills_schema_and_streams(server):
    c = client(server)
    msg = create(c, tools=[TOOL], tool_choice={"type": "tool", "name": "report_findings"})
    inp = msg.content[0].input
    assert inp["verdict"] == "approve" and len(inp["findings"]) == 1 and inp["findings"][0]["line"] == 1
    with c.messages.stream(model=MODEL, max_tokens=256, messages=USER, tools=[TOOL],
                           tool_choice={"type": "tool", "name": "report_findings"}) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use" and final.content[0].input == inp


def test_schema_instance_variants():
    assert schema_instance({"type": ["string", "null"]}, hint="h") == "h"
    assert schema_instance({"anyOf": [{"type": "null"}, {"type": "number", "minimum": 2}]}) == 2.0
    assert schema_instance({"type": "object", "properties": {"b": {"type": "boolean"}, "c": {"const": 7}}}) == \
        {"b": False, "c": 7}


def test_prompt_caching_simulation(server):
    c = client(server)
    system = [{"type": "text", "text": "You are a meticulous code reviewer. " * 40,
               "cache_control": {"type": "ephemeral"}}]
    sys_tokens = estimate_tokens(system[0]["text"])
    user_tokens = estimate_tokens(USER[0]["content"])
    first = create(c, system=system).usage
    assert (first.cache_creation_input_tokens, first.cache_read_input_tokens) == (sys_tokens, 0)
    assert first.input_tokens == user_tokens
    other_user = [{"role": "user", "content": "Now review lib/util.go please."}]
    second = create(c, system=system, messages=other_user).usage
    assert (second.cache_creation_input_tokens, second.cache_read_input_tokens) == (0, sys_tokens)
    assert second.input_tokens == estimate_tokens(other_user[0]["content"])
    # The same system without cache_control is not cached at all.
    plain = create(c, system=[{"type": "text", "text": system[0]["text"]}]).usage
    assert (plain.cache_creation_input_tokens, plain.cache_read_input_tokens) == (0, 0)
    assert plain.input_tokens == sys_tokens + user_tokens
    assert server.usage_totals["cache_read_input_tokens"] == sys_tokens
    assert server.received[0].body["system"][0]["cache_control"] == {"type": "ephemeral"}


def test_cache_min_tokens():
    with FakeServer(cache_min_tokens=1024) as srv:
        usage = create(client(srv), system=[{"type": "text", "text": "short", "cache_control": {
            "type": "ephemeral"}}]).usage
    assert usage.cache_creation_input_tokens == 0 and usage.cache_read_input_tokens == 0


def test_count_tokens(server):
    assert client(server).messages.count_tokens(model=MODEL, messages=USER).input_tokens == \
        estimate_tokens(USER[0]["content"])


# --- streaming -----------------------------------------------------------------------------------------------


def test_streaming_with_stream_helper(server):
    c = client(server)
    expected = create(c).content[0].text
    with c.messages.stream(model=MODEL, max_tokens=256, messages=USER) as stream:
        chunks = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(chunks) > 3 and "".join(chunks) == expected
    assert final.content[0].text == expected and final.stop_reason == "end_turn"
    assert final.usage.output_tokens == estimate_tokens(expected)
    assert final.usage.input_tokens == estimate_tokens(USER[0]["content"])
    assert server.completed == 2 and server.received[-1].body["stream"] is True


def test_streaming_raw_events_sequence(server):
    events = list(create(client(server), stream=True))
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[1] == "content_block_start"
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(types[2:-3]) == {"content_block_delta"}
    assert events[-2].delta.stop_reason == "end_turn" and events[-2].usage.output_tokens > 0
    assert events[0].message.stop_reason is None


def test_async_streaming(server):
    async def main():
        c = anthropic.AsyncAnthropic(base_url=server.base_url, api_key=KEY, max_retries=0)
        async with c.messages.stream(model=MODEL, max_tokens=256, messages=USER) as stream:
            text = "".join([t async for t in stream.text_stream])
        await c.close()
        return text

    assert asyncio.run(main()).startswith("Review of src/app/views.py")


# --- faults --------------------------------------------------------------------------------------------------

NON_STREAM_EXPECTED = {
    "429": anthropic.RateLimitError,
    "429-no-retry-after": anthropic.RateLimitError,
    "529": anthropic.OverloadedError,  # an InternalServerError with status 529
    "500": anthropic.InternalServerError,
    "502": anthropic.InternalServerError,
    "503": anthropic.ServiceUnavailableError,
    "400": anthropic.BadRequestError,
    "401": anthropic.AuthenticationError,
    "404": anthropic.NotFoundError,
    "timeout": anthropic.APITimeoutError,
    "drop": anthropic.APIConnectionError,
    # The SDK does not wrap a bad 200 body: json's own error escapes (a ValueError).
    "truncated": json.JSONDecodeError,
    "malformed": json.JSONDecodeError,
    "stream-error": anthropic.OverloadedError,
    "stream-drop": anthropic.APIConnectionError,
}


# Bad 200s the SDK does not raise for: it hands back what it got (why harness.models.anthropic_model checks the
# message; issue 14). "drip" (a body sent a byte at a time) never trips a read timeout: tests/test_retry.py.
SDK_RETURNS = ("error-200", "sse-error-200", "html-200")


def test_every_fault_kind_has_an_expectation():
    assert set(NON_STREAM_EXPECTED) | set(SDK_RETURNS) | {"drip"} == set(FAULT_KINDS)


def test_bad_200s_come_back_from_the_sdk_unraised():
    with FakeServer(faults=list(SDK_RETURNS)) as srv:
        c = client(srv, timeout=2.0)
        err = create(c)   # JSON of another shape: a half-built Message
        assert getattr(err, "type", None) == "error" and err.content is None
        sse = create(c)   # an event stream to a non-streaming request: the text
        assert isinstance(sse, str) and sse.startswith("event: error") and "overloaded_error" in sse
        html = create(c)  # a proxy's page: the text
        assert isinstance(html, str) and "<html>" in html
        assert srv.completed == 0 and srv.faults_injected == {k: 1 for k in SDK_RETURNS}


@pytest.fixture(scope="module")
def scripted_fault_server():
    kinds = list(NON_STREAM_EXPECTED)
    # Each kind faults one call, followed by a clean call (None) to show the connection pool recovers.
    faults = [k for kind in kinds for k in (kind, None)]
    with FakeServer(faults=faults, timeout_fault_s=2.0, retry_after=1) as srv:
        yield srv, client(srv, timeout=0.4)


@pytest.mark.parametrize("kind", list(NON_STREAM_EXPECTED))
def test_fault_surfaces_as_sdk_exception(scripted_fault_server, kind):
    srv, c = scripted_fault_server
    before = srv.faults_injected[kind]
    with pytest.raises(NON_STREAM_EXPECTED[kind]) as e:
        create(c)
    assert srv.faults_injected[kind] == before + 1
    if kind in ("529", "stream-error"):
        assert e.value.status_code == 529 and e.value.type == "overloaded_error"
    if kind == "429":
        assert e.value.response.headers["retry-after"] == "1"
    if kind == "429-no-retry-after":
        assert "retry-after" not in e.value.response.headers
    done = srv.completed
    assert create(c).stop_reason == "end_turn"  # the scripted None that follows
    assert srv.completed == done + 1


def _stream_final(c):
    with c.messages.stream(model=MODEL, max_tokens=256, messages=USER) as stream:
        return stream.get_final_message()


def test_stream_faults():
    kinds = ["stream-error", "stream-drop", "truncated", "malformed", "529", "timeout", "drop"]
    with FakeServer(faults=kinds, timeout_fault_s=2.0) as srv:
        c = client(srv, timeout=0.4)
        with pytest.raises(anthropic.APIStatusError) as e:  # an SSE error event after a 200: no subclass
            _stream_final(c)
        assert e.value.type == "overloaded_error"
        with pytest.raises((httpx2.RemoteProtocolError, anthropic.APIConnectionError)):
            _stream_final(c)  # mid-stream abort: the SDK lets httpx2's RemoteProtocolError escape
        partial = _stream_final(c)  # a stream that just stops is NOT an error for the SDK ...
        assert partial.stop_reason is None  # ... only the missing stop_reason tells
        with pytest.raises(json.JSONDecodeError):
            _stream_final(c)
        with pytest.raises(anthropic.OverloadedError):
            _stream_final(c)
        with pytest.raises(anthropic.APITimeoutError):
            _stream_final(c)
        with pytest.raises(anthropic.APIConnectionError):
            _stream_final(c)
        assert srv.completed == 0
        assert _stream_final(c).stop_reason == "end_turn"
        assert srv.completed == 1
        assert {k: srv.faults_injected[k] for k in kinds} == {k: 1 for k in kinds}


def test_sdk_retries_429_then_success():
    with FakeServer(faults=["429"], retry_after_ms=10) as srv:
        msg = create(client(srv, max_retries=2))
        assert msg.stop_reason == "end_turn"
        assert srv.requests == 2 and srv.completed == 1 and srv.faults_injected["429"] == 1
        assert list(srv.requests_by_key.values()) == [2]
        assert [r.status for r in srv.received] == [429, 200]
        assert srv.received[1].headers["x-stainless-retry-count"] == "1"


def test_fault_plan_first_attempts_every_request_eventually_succeeds():
    plan = FaultPlan.first_attempts(2, kinds=["429", "529", "500"])
    prompts = [[{"role": "user", "content": f"review file_{i}.py"}] for i in range(5)]
    with FakeServer(faults=plan, retry_after_ms=1) as srv:
        c = client(srv, max_retries=2)
        for messages in prompts:
            assert create(c, messages=messages).content[0].text.startswith("Review of file_")
        assert srv.requests == 15 and srv.completed == 5
        assert sorted(srv.requests_by_key.values()) == [3] * 5
        assert sum(srv.faults_injected.values()) == 10


def test_fault_plan_random_is_seeded_and_order_independent():
    plan = FaultPlan(rate=0.5, kinds=["429", "503"], seed=7)
    keys = [fingerprint({"model": MODEL, "messages": [{"role": "user", "content": str(i)}]}) for i in range(40)]
    draws = [plan.choose(k, 0) for k in keys]
    assert draws == [plan.choose(k, 0) for k in reversed(keys)][::-1]
    assert 8 < sum(d is not None for d in draws) < 32 and set(draws) == {None, "429", "503"}
    with pytest.raises(ValueError):
        FaultPlan(kinds=["teapot"])

    def run():
        with FakeServer(faults=FaultPlan(rate=0.5, kinds=["429", "503"]), seed=3) as srv:
            c = client(srv)
            outcome = []
            for i in range(12):
                try:
                    create(c, messages=[{"role": "user", "content": str(i)}])
                    outcome.append("ok")
                except anthropic.APIStatusError as e:
                    outcome.append(e.status_code)
            return outcome, srv.faults_injected

    first, second = run(), run()
    assert first == second and "ok" in first[0] and (429 in first[0] or 503 in first[0])


def test_callable_faults_per_attempt():
    with FakeServer(faults=lambda body, attempt: ["529", "502"][attempt] if attempt < 2 else None,
                    retry_after_ms=1) as srv:
        c = client(srv)
        with pytest.raises(anthropic.OverloadedError):
            create(c)
        with pytest.raises(anthropic.InternalServerError):
            create(c)
        assert create(c).stop_reason == "end_turn"
        assert [r.attempt for r in srv.received] == [0, 1, 2]


# --- concurrency / latency -------------------------------------------------------------------------------


def test_fifty_concurrent_requests_do_not_serialise():
    async def main(base_url):
        c = anthropic.AsyncAnthropic(base_url=base_url, api_key=KEY, max_retries=0)
        start = time.perf_counter()
        results = await asyncio.gather(*[
            c.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": f"review f{i}.py"}])
            for i in range(50)])
        elapsed = time.perf_counter() - start
        await c.close()
        return results, elapsed

    with FakeServer(latency_s=0.2) as srv:
        results, elapsed = asyncio.run(main(srv.base_url))
        assert len({r.content[0].text for r in results}) == 50
        assert srv.completed == 50 and len(srv.requests_by_key) == 50
        assert srv.max_inflight >= 25  # serialised handling would show 1
    assert elapsed < 1.5, elapsed  # 50 x 0.2 s one after another would take 10 s


def test_async_context_manager_inside_running_loop():
    async def main():
        async with FakeServer(latency_s=0.05) as srv:
            c = anthropic.AsyncAnthropic(base_url=srv.base_url, api_key=KEY, max_retries=0)
            msg = await c.messages.create(model=MODEL, max_tokens=32, messages=USER)
            await c.close()
            return msg, srv.completed

    msg, completed = asyncio.run(main())
    assert msg.type == "message" and completed == 1


def test_restart_same_port_keeps_counters(server):
    create(client(server))
    url = server.base_url
    server.stop()
    assert not server.running
    server.start()
    assert server.base_url == url
    create(client(server))
    assert server.completed == 2


# --- batches -------------------------------------------------------------------------------------------------


def _batch_requests(n=3):
    return [{"custom_id": f"case-{i}", "params": {"model": MODEL, "max_tokens": 128,
                                                  "messages": [{"role": "user", "content": f"review m{i}.py"}]}}
            for i in range(n)]


def test_batches_create_poll_results():
    with FakeServer(batch_polls_before_end=1, batch_item_errors={"case-1"}) as srv:
        c = client(srv)
        batch = c.messages.batches.create(requests=_batch_requests())
        assert batch.type == "message_batch" and batch.id.startswith("msgbatch_")
        assert batch.processing_status == "in_progress" and batch.results_url is None
        assert batch.request_counts.processing == 3
        polled = c.messages.batches.retrieve(batch.id)
        assert polled.processing_status == "in_progress"
        ended = c.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended" and ended.results_url.endswith(f"/{batch.id}/results")
        assert ended.ended_at is not None
        assert (ended.request_counts.succeeded, ended.request_counts.errored) == (2, 1)
        results = {r.custom_id: r.result for r in c.messages.batches.results(batch.id)}
        assert results["case-0"].type == "succeeded"
        assert results["case-0"].message.content[0].text.startswith("Review of m0.py")
        assert results["case-1"].type == "errored" and results["case-1"].error.error.type == "api_error"
        assert [b.id for b in c.messages.batches.list()] == [batch.id]
        assert srv.requests == 0 and srv.batch_items == {"succeeded": 2, "errored": 1}
        assert len(srv.requests_by_key) == 3
        assert c.messages.batches.delete(batch.id).type == "message_batch_deleted"


def test_batches_async_cancel():
    async def main(base_url):
        c = anthropic.AsyncAnthropic(base_url=base_url, api_key=KEY, max_retries=0)
        batch = await c.messages.batches.create(requests=_batch_requests(2))
        canceling = await c.messages.batches.cancel(batch.id)
        ended = await c.messages.batches.retrieve(batch.id)
        results = [r async for r in await c.messages.batches.results(batch.id)]
        await c.close()
        return canceling, ended, results

    with FakeServer() as srv:
        canceling, ended, results = asyncio.run(main(srv.base_url))
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    assert ended.processing_status == "ended" and ended.request_counts.canceled == 2
    assert {r.result.type for r in results} == {"canceled"}


def test_batches_survive_restart_with_state_dir(tmp_path):
    with FakeServer(state_dir=tmp_path, batch_polls_before_end=1) as first:
        c = client(first)
        batch_id = c.messages.batches.create(requests=_batch_requests()).id
        assert c.messages.batches.retrieve(batch_id).processing_status == "in_progress"
    # A new server (new port) resumes from the stored batch id.
    with FakeServer(state_dir=tmp_path) as second:
        c = client(second)
        ended = c.messages.batches.retrieve(batch_id)
        assert ended.processing_status == "ended"
        assert ended.results_url.startswith(second.base_url)
        assert sorted(r.custom_id for r in c.messages.batches.results(batch_id)) == ["case-0", "case-1", "case-2"]
    with FakeServer(state_dir=tmp_path) as third:  # results are stored, not recomputed
        results = list(client(third).messages.batches.results(batch_id))
        assert len(results) == 3 and third.batch_items == {}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text()


def test_batch_faults_and_unknown_batch():
    with FakeServer(batch_faults=[None, "529"], retry_after_ms=1) as srv:
        c = client(srv)
        batch = c.messages.batches.create(requests=_batch_requests(1))
        with pytest.raises(anthropic.OverloadedError):
            c.messages.batches.retrieve(batch.id)
        with pytest.raises(anthropic.NotFoundError):
            c.messages.batches.retrieve("msgbatch_doesnotexist")
        assert srv.faults_injected["529"] == 1


# --- OpenAI-compatible ---------------------------------------------------------------------------------------


def test_openai_chat_completions_json_schema():
    schema = {"type": "object", "properties": {"verdict": {"type": "string"}, "score": {"type": "integer"}},
              "required": ["verdict", "score"], "additionalProperties": False}
    with FakeServer(require_key=KEY) as srv:
        oc = openai.OpenAI(base_url=srv.openai_base_url, api_key=KEY, max_retries=0)
        resp = oc.chat.completions.create(
            model="fake-chat-1", messages=[{"role": "system", "content": "be terse"},
                                           {"role": "user", "content": "review x.py"}],
            response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema, "strict": True}})
        data = json.loads(resp.choices[0].message.content)
        assert set(data) == {"verdict", "score"} and data["verdict"].startswith("Review of x.py")
        assert resp.choices[0].finish_reason == "stop"
        assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
        assert "fake-chat-1" in [m.id for m in oc.models.list()]
        assert srv.received[0].headers["authorization"] == f"Bearer {KEY}"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=srv.openai_base_url, api_key="wrong", max_retries=0).chat.completions.create(
                model="fake-chat-1", messages=[{"role": "user", "content": "hi"}])


def test_openai_faults_and_streaming():
    # "truncated" produces (then cuts) an answer, so it uses up a scripted reply; "429" and "drop" do not.
    with FakeServer(["lost to truncation", "plain text answer", "streamed answer text"],
                    faults=["429", "drop", "truncated", None, None]) as srv:
        oc = openai.OpenAI(base_url=srv.openai_base_url, api_key=KEY, max_retries=0)
        msgs = [{"role": "user", "content": "hi"}]
        with pytest.raises(openai.RateLimitError):
            oc.chat.completions.create(model="m", messages=msgs)
        with pytest.raises(openai.APIConnectionError):
            oc.chat.completions.create(model="m", messages=msgs)
        with pytest.raises(ValueError):  # truncated JSON: json.JSONDecodeError, as with anthropic
            oc.chat.completions.create(model="m", messages=msgs)
        assert oc.chat.completions.create(model="m", messages=msgs).choices[0].message.content == \
            "plain text answer"
        chunks = list(oc.chat.completions.create(model="m", messages=msgs, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed answer text"
        assert srv.completed == 2 and srv.requests == 5


# --- the key is never written --------------------------------------------------------------------------------


def test_api_key_never_logged_or_printed(tmp_path, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    faults = ["401", "429", "drop", "malformed", None]
    with FakeServer(faults=faults, state_dir=tmp_path, require_key=KEY) as srv:
        c = client(srv)
        for _ in faults:
            try:
                create(c)
            except Exception:
                pass
        try:  # wrong key: the error must not echo the key it got
            anthropic.Anthropic(base_url=srv.base_url, api_key=KEY + "x", max_retries=0).messages.create(
                model=MODEL, max_tokens=5, messages=USER)
        except anthropic.AuthenticationError as e:
            assert KEY not in json.dumps(e.body)
        c.messages.batches.create(requests=_batch_requests(1))
        print(srv.received)
    written = caplog.text + "".join(capfd.readouterr())
    assert "fake server: injecting" in caplog.text and "<redacted>" in written  # things were written ...
    assert KEY not in written  # ... without the key
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text()
