"""The batch path (harness.batch) drives any model implementing the BatchModel protocol: no SDK client, no
runner import. An in-process scripted batch model stands in for the Message Batches API (the Anthropic wire path
is covered against the fake server in test_faults.py and test_crash_resume.py)."""

from __future__ import annotations

import json

import pytest

from harness.cases import load_suite
from harness.config import load_config
from harness.errors import ModelError
from harness.models.base import BatchItem, BatchModel, Completion, Model, ModelSpec, Usage
from harness.prompts import parse_prompt
from harness.runner import RunOptions, execute

from .conftest import ROOT, write_case

PROMPT = parse_prompt("---\nname: r\ndescription: d\n---\nYou review code.\n", source="p.md")


class ScriptedBatchModel:
    """Answers every request of a batch; ``missing`` custom ids are left out of the first ``cut`` downloads,
    ``fail`` ids get an errored item, ``busy`` makes the first batch_submit a retryable 529."""

    def __init__(self, name: str, *, fail: set[str] = frozenset(), cut: int = 0, busy: bool = False):
        self.spec = ModelSpec.parse(name)
        self.base_url = None
        self.fail, self.cut, self.busy = set(fail), cut, busy
        self.submitted: list[list[tuple[str, dict]]] = []
        self.polls = self.downloads = self.generated = 0

    async def generate(self, system, messages, config, *, output=None):
        self.generated += 1
        raise AssertionError("a batch run must not call generate")

    def batch_request(self, system, messages, config):
        return {"system": system, "messages": messages, "max_tokens": config.max_tokens}

    async def batch_submit(self, requests):
        if self.busy:
            self.busy = False
            raise ModelError("overloaded", kind="overloaded", retryable=True, retry_after=0)
        self.submitted.append(list(requests))
        return f"batch-{len(self.submitted)}"

    async def batch_ended(self, batch_id):
        self.polls += 1
        return self.polls >= 2

    async def batch_results(self, batch_id):
        self.downloads += 1
        out = []
        for cid, params in self.submitted[-1]:
            if cid in self.fail:
                out.append(BatchItem(cid, error=ModelError("batch item errored: overloaded", kind="batch_errored")))
            else:
                text = f"review of: {params['messages'][0]['content'][:40]}"
                out.append(BatchItem(cid, completion=Completion(text=text, usage=Usage(100, 10, 0, 0),
                                                                stop_reason="end_turn", latency_s=0.0)))
        if self.downloads <= self.cut:
            out = out[: len(out) // 2]
        return out

    async def aclose(self):
        pass


@pytest.fixture
def suite(tmp_path):
    root = tmp_path / "cases"
    for i in range(4):
        write_case(root, f"case-{i}")
    return load_suite(root)


def run(suite, tmp_path, model, **kw):
    # the cache root is HARNESS_CACHE_DIR: <tmp_path>/cache (tests/conftest.py)
    cfg = load_config(ROOT, {"retry_backoff_base_s": 0.001, "retry_backoff_max_s": 0.01})
    opts = RunOptions(cases=suite, prompts=[PROMPT], models=["anthropic/claude-sonnet-4-5"], batch=True,
                      run_dir=tmp_path / "run", graders=[], **kw)
    return execute(cfg, opts, model_factory=lambda name: model)


def test_the_scripted_model_satisfies_the_protocols():
    m = ScriptedBatchModel("anthropic/claude-sonnet-4-5")
    assert isinstance(m, Model) and isinstance(m, BatchModel)


def test_a_batch_run_goes_through_the_protocol_and_records_every_sample(suite, tmp_path):
    m = ScriptedBatchModel("anthropic/claude-sonnet-4-5", fail={"__none__"}, busy=True)
    res = run(suite, tmp_path, m)
    assert m.generated == 0 and len(m.submitted) == 1 and len(m.submitted[0]) == 4
    assert all(r.error is None and r.review.startswith("review of:") for r in res.records)
    # the 529 on submit went through the one retry path and was counted
    assert res.stats.retries == 1 and res.stats.retries_by_kind == {"overloaded": 1}
    state = json.loads(next((tmp_path / "run").glob("batch-*.json")).read_text())
    assert state["batch_id"] == "batch-1" and len(state["sample_ids"]) == 4
    # batch prices are halved: the records carry half the plain price of 100 in / 10 out tokens
    assert res.records[0].cost_usd == pytest.approx((100 * 3.0 + 10 * 15.0) / 1e6 / 2)
    # answers went to the cache's agent namespace (where a plain run of the same plan reads them)
    assert list((tmp_path / "cache" / "agent").rglob("*.json"))


def test_an_errored_item_is_that_samples_error_and_a_cut_download_is_retried(suite, tmp_path, monkeypatch):
    first = suite[0]
    m = ScriptedBatchModel("anthropic/claude-sonnet-4-5", cut=1)
    res = run(suite, tmp_path, m)
    assert m.downloads == 2 and all(r.error is None for r in res.records)
    assert res.stats.retries_by_kind.get("malformed_response") == 1
    failing = next(r.sample_id for r in res.records if r.case == first.id)
    m2 = ScriptedBatchModel("anthropic/claude-sonnet-4-5", fail={failing})
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "second-cache"))   # asked again, not replayed
    res2 = run(suite, tmp_path / "second", m2)
    errs = {r.sample_id: r.error for r in res2.records if r.error is not None}
    assert list(errs) == [failing] and errs[failing].kind == "batch_errored"
