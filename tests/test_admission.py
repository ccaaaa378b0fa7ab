"""Admission (harness.admission): a sample gives its place back at its answer, the backlog of answers waiting to
be graded and recorded is capped, and with a disk that cannot take another record at most 2 x concurrency +
max_ungraded samples are sent after the last record written."""

from __future__ import annotations

import asyncio
import errno
import time

import pytest

import harness.runner as runner_mod
from harness.admission import Admission
from harness.cases import load_suite
from harness.config import load_config
from harness.errors import RecordError
from harness.graders.rubric import DeterministicGrader
from harness.models.base import Completion, GenerationConfig, ModelSpec, Usage
from harness.prompts import parse_prompt
from harness.records import RunDir
from harness.runner import RunOptions, execute

from .conftest import ROOT, write_case

PROMPT = parse_prompt("---\nname: r\ndescription: d\n---\nYou review code.\n", source="p.md")


# ------------------------------------------------------------------------------------------------ the counters


def test_window_and_backlog_bounds():
    async def go():
        adm = Admission(window=2, max_unrecorded=1)
        a, b = await adm.enter(), await adm.enter()
        assert not adm.has_room()                       # two unanswered: the window is full
        a.answered()
        assert adm.has_room() and adm.unrecorded == 1   # an answer frees its window place
        c = await adm.enter()
        assert not adm.has_room()                       # 2 unanswered + 1 unrecorded = window + max_unrecorded
        b.answered()
        assert not adm.has_room()                       # 1 + 2 = 3: the backlog, not the window, is full now
        waiter = asyncio.ensure_future(adm.enter())
        await asyncio.sleep(0)
        assert not waiter.done()
        a.done()                                        # recorded: room for one more
        d = await asyncio.wait_for(waiter, 1)
        assert (adm.unanswered, adm.unrecorded, adm.peak_unrecorded) == (2, 1, 2)
        for t in (b, c, d, d, a):                       # done() is idempotent, with or without answered()
            t.done()
        assert (adm.unanswered, adm.unrecorded) == (0, 0)
    asyncio.run(go())


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="window >= 1"):
        Admission(0, 1)
    with pytest.raises(ValueError, match="max_unrecorded >= 0"):
        Admission(1, -1)


# ------------------------------------------------------------------------------------------------ in a run


class TimedModel:
    """Answers after 5 ms; remembers when each request was sent."""

    def __init__(self, name):
        self.spec = ModelSpec.parse(name)
        self.base_url = None
        self.sent: list[float] = []
        self.in_flight = self.max_in_flight = 0

    async def generate(self, system, messages, config):
        self.sent.append(time.monotonic())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.005)
            return Completion(text="The search_orders function has SQL injection; use a bind parameter.",
                              usage=Usage(100, 20, 0, 0), stop_reason="end_turn", latency_s=0.005)
        finally:
            self.in_flight -= 1

    async def aclose(self):
        pass


@pytest.fixture
def slow_run(tmp_path, monkeypatch):
    """A 40-sample run (5 cases x 8 epochs, temperature 1) at concurrency 2 whose grader takes 40 ms a review
    (10 x the model's latency): answers pile up for the grader. Returns (run it, the model, the counters seen)."""
    root = tmp_path / "cases"
    for i in range(5):
        write_case(root, f"case-{i}")
    suite = load_suite(root)
    real_grade = DeterministicGrader.grade

    def slow_grade(self, case, review):
        time.sleep(0.04)
        return real_grade(self, case, review)

    monkeypatch.setattr(DeterministicGrader, "grade", slow_grade)
    seen = {"most_admitted": 0, "admissions": []}

    class Watched(Admission):
        async def enter(self):
            t = await super().enter()
            seen["most_admitted"] = max(seen["most_admitted"], self.unanswered + self.unrecorded)
            seen["admissions"].append(self)
            return t

    monkeypatch.setattr(runner_mod, "Admission", Watched)
    model = TimedModel("anthropic/claude-sonnet-4-5")

    def run(**over):
        cfg = load_config(ROOT, {"concurrency": 2, "cache_mode": "off", "semantic_grading": False, **over})
        opts = RunOptions(cases=suite, prompts=[PROMPT], models=["anthropic/claude-sonnet-4-5"], epochs=8,
                          run_dir=tmp_path / "run", graders=["deterministic"], progress=False,
                          generation=GenerationConfig(temperature=1.0, max_tokens=256))
        return execute(cfg, opts, model_factory=lambda name: model)
    return run, model, seen


def test_admission_is_released_at_the_answer_and_the_backlog_is_capped(slow_run, monkeypatch):
    run, model, seen = slow_run
    first_record: list[float] = []
    real_append = RunDir.append

    def append(self, record):
        real_append(self, record)
        if not first_record:
            first_record.append(time.monotonic())

    monkeypatch.setattr(RunDir, "append", append)
    res = run(max_ungraded=3)
    assert res.complete and len(res.records) == 40
    assert model.max_in_flight <= 2
    # while the first sample was graded, more samples were sent than a place held until grading allowed (2 x 2):
    # the places of answered samples went to the next ones, up to the cap
    sent_before_first_record = sum(t < first_record[0] for t in model.sent)
    assert 2 * 2 < sent_before_first_record <= 2 * 2 + 3
    assert seen["most_admitted"] == 2 * 2 + 3
    assert seen["admissions"][-1].peak_unrecorded <= 2 * 2 + 3


@pytest.mark.parametrize("max_ungraded", [0, 3])
def test_full_disk_sends_at_most_the_bound_after_the_last_record(slow_run, monkeypatch, max_ungraded):
    run, model, seen = slow_run
    written: list[float] = []
    failed: list[float] = []
    real_append = RunDir.append

    def append(self, record):
        if len(written) >= 5:
            failed.append(time.monotonic())
            raise OSError(errno.ENOSPC, "No space left on device", str(self.samples_path))
        real_append(self, record)
        written.append(time.monotonic())

    monkeypatch.setattr(RunDir, "append", append)
    with pytest.raises(RecordError, match="No space left on device"):
        run(max_ungraded=max_ungraded)
    bound = 2 * 2 + max_ungraded
    after_last = sum(t > written[-1] for t in model.sent)
    assert after_last <= bound
    assert all(t <= failed[0] for t in model.sent), "a request was sent after a record failed"
    assert len(model.sent) <= 5 + bound < 40
    assert seen["most_admitted"] <= bound
