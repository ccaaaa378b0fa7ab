"""The fake local server itself: slots queue requests, abandoned requests are computed anyway and counted, the
flavours' endpoints, json_schema rejection, context errors."""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest

from harness.testing.fakellama import FakeLlamaServer

CHAT = {"model": "m", "messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 50}


def post(srv, body, timeout=5.0):
    return httpx.post(srv.openai_base_url + "/chat/completions", json=body, timeout=timeout)


def test_one_slot_computes_one_request_at_a_time():
    with FakeLlamaServer(slots=1, compute_s=0.2) as srv:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            codes = [f.result().status_code for f in [pool.submit(post, srv, CHAT) for _ in range(3)]]
        assert codes == [200] * 3
        assert srv.max_computing == 1 and srv.max_queued >= 2 and srv.delivered == 3


def test_a_client_that_gives_up_does_not_stop_the_computation():
    with FakeLlamaServer(slots=1, compute_s=0.4) as srv:
        with pytest.raises(httpx.ReadTimeout):
            post(srv, CHAT, timeout=0.1)
        ok = post(srv, CHAT)          # queued behind the abandoned one
        assert ok.status_code == 200
        assert srv.computed == 2 and srv.abandoned == 1 and srv.delivered == 1


def test_flavours_tell_what_the_real_servers_tell():
    with FakeLlamaServer(slots=2, n_ctx=4096) as srv:
        props = httpx.get(srv.base_url + "/props").json()
        assert props["total_slots"] == 2 and props["default_generation_settings"]["n_ctx"] == 4096
        assert len(httpx.get(srv.base_url + "/slots").json()) == 2
        assert len(httpx.post(srv.base_url + "/tokenize", json={"content": "abcd" * 10}).json()["tokens"]) == 10
        assert "timings" in post(srv, CHAT).json()
    with FakeLlamaServer(flavour="llama-cpp-python") as srv:
        assert httpx.get(srv.base_url + "/props").status_code == 404
        assert httpx.post(srv.base_url + "/extras/tokenize/count", json={"input": "abcd" * 10}).json() == {"count": 10}
    with FakeLlamaServer(flavour="ollama") as srv:
        assert httpx.get(srv.base_url + "/props").status_code == 404
        assert httpx.post(srv.base_url + "/tokenize", json={"content": "a"}).status_code == 404


def test_json_schema_rejected_json_object_with_schema_answered():
    schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
    with FakeLlamaServer(json_schema=False, fence_json=True) as srv:
        r = post(srv, {**CHAT, "response_format": {"type": "json_schema", "json_schema": {"schema": schema}}})
        assert r.status_code == 500 and "Input should be 'text' or 'json_object'" in r.text
        r = post(srv, {**CHAT, "response_format": {"type": "json_object", "schema": schema}})
        text = r.json()["choices"][0]["message"]["content"]
        assert text.startswith("```json\n") and '"n"' in text


@pytest.mark.parametrize("overflow, status, finish", [("lower", 200, "length"), ("error500", 500, None),
                                                      ("error400", 400, None)])
def test_prompt_plus_max_tokens_over_the_context(overflow, status, finish):
    with FakeLlamaServer(n_ctx=200, overflow=overflow, reply_tokens=500, compute_s=0.0) as srv:
        r = post(srv, {**CHAT, "max_tokens": 150})      # 100 + 4 prompt tokens + 150 > 200
        assert r.status_code == status
        if finish:
            assert r.json()["choices"][0]["finish_reason"] == finish
            assert r.json()["usage"]["completion_tokens"] == 200 - 104
        r = post(srv, {**CHAT, "messages": [{"role": "user", "content": "x" * 1000}]})
        assert r.status_code == 400 and "context" in r.text


def test_json_object_with_a_tuple_schema_is_answered_with_one_instance_per_item():
    # the judge's schema narrowed to a case lists its ids as prefixItems of const ids
    import json

    import httpx
    schema = {"type": "object", "properties": {"findings": {"type": "array", "prefixItems": [
        {"type": "object", "properties": {"id": {"const": "a"}, "verdict": {"enum": ["found", "missed"]}}},
        {"type": "object", "properties": {"id": {"const": "b"}, "verdict": {"enum": ["found", "missed"]}}}],
        "items": False}, "extra_issues": {"type": "integer", "minimum": 0}}}
    with FakeLlamaServer(json_schema=False) as srv:
        r = httpx.post(srv.openai_base_url + "/chat/completions", json={
            "model": "m", "messages": [{"role": "user", "content": "grade"}],
            "response_format": {"type": "json_object", "schema": schema}}, timeout=30)
    reply = json.loads(r.json()["choices"][0]["message"]["content"])
    assert reply == {"findings": [{"id": "a", "verdict": "found"}, {"id": "b", "verdict": "found"}],
                     "extra_issues": 0}
