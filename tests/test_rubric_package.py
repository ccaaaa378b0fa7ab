"""The deterministic grader as a package (harness/graders/rubric/, issue #17): its caches belong to the grader
instance, are safe across threads and can be emptied by their owner; its modules import one way; its calibration
fingerprint covers every module of the package. The verdicts themselves are pinned by tests/test_rubric.py and
tests/test_rubric_regression.py."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import harness.graders.rubric as rubric_pkg
from harness.graders.record import grader_fingerprint
from harness.graders.registry import GRADERS
from harness.cases import load_case
from harness.graders.rubric import DeterministicGrader, grade_review
from tests.test_layout import import_graph
from tests.test_rubric import APP_LINES, CASE_YAML

PACKAGE = Path(rubric_pkg.__file__).parent
REVIEW = "- SQL injection in `search_orders` (app.py:21): the query is built with an f-string.\n"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """The mini case of tests/test_rubric.py."""
    d = tmp_path_factory.mktemp("cases") / "mini-case"
    d.mkdir()
    (d / "app.py").write_text("\n".join(APP_LINES.get(i, f"# line {i}") for i in range(1, 61)) + "\n",
                              encoding="utf-8")
    (d / "schema.sql").write_text("CREATE TABLE users (\n  id bigserial PRIMARY KEY,\n  email text NOT NULL\n);\n",
                                  encoding="utf-8")
    (d / "case.yaml").write_text(CASE_YAML, encoding="utf-8")
    return load_case(d)


@pytest.fixture
def counted(monkeypatch):
    """Counts the grades actually computed (not answered by a memo)."""
    calls: list[str] = []
    real = rubric_pkg._grade

    def counting(comp, review, *args, **kwargs):
        calls.append(review)
        return real(comp, review, *args, **kwargs)

    monkeypatch.setattr(rubric_pkg, "_grade", counting)
    return calls


def test_each_grader_compiles_and_memoises_for_itself(case, counted):
    a, b = DeterministicGrader(semantic=False), DeterministicGrader(semantic=False)
    first = a.grade(case, REVIEW)
    assert "sqli-search" in first.found_ids()
    assert a.grade(case, REVIEW).model_dump() == first.model_dump()
    assert len(counted) == 1                       # the second grade came from a's memo
    assert b.grade(case, REVIEW).model_dump() == first.model_dump()
    assert len(counted) == 2                       # b has a memo of its own
    assert a.compiled(case) is a.compiled(case)    # compiled once per grader ...
    assert a.compiled(case) is not b.compiled(case)   # ... and not shared between graders


def test_clear_memo_regrades_and_clear_caches_recompiles(case, counted):
    g = DeterministicGrader(semantic=False)
    want = g.grade(case, REVIEW).model_dump()
    comp = g.compiled(case)
    g.clear_memo()
    assert g.grade(case, REVIEW).model_dump() == want and len(counted) == 2
    assert g.compiled(case) is comp                # clear_memo keeps the compiled case
    g.clear_caches()
    assert g.compiled(case) is not comp            # clear_caches drops it
    assert g.grade(case, REVIEW).model_dump() == want and len(counted) == 3


def test_memo_is_bounded(case, counted, monkeypatch):
    monkeypatch.setattr(rubric_pkg, "_MEMO_MAX", 2)
    g = DeterministicGrader(semantic=False)
    for k in range(3):
        g.grade(case, REVIEW + f"<!-- {k} -->")
    g.grade(case, REVIEW + "<!-- 0 -->")           # the oldest was dropped: graded again
    g.grade(case, REVIEW + "<!-- 2 -->")           # the newest was kept
    assert len(counted) == 4


def test_one_grader_shared_by_threads_grades_as_it_does_alone(case, monkeypatch):
    # the runner grades on a worker thread (harness.grading_pool) and tests share graders: concurrent grades,
    # with the memo evicting all the time, must equal the grades made one at a time
    monkeypatch.setattr(rubric_pkg, "_MEMO_MAX", 3)
    reviews = [REVIEW + f"\n- item {k}: `SECRET_KEY` is hard-coded on line 10.\n" * (k % 3 + 1) for k in range(24)]
    want = [DeterministicGrader(semantic=False).grade(case, r).model_dump() for r in reviews]
    shared = DeterministicGrader(semantic=False)
    got: list[tuple[int, dict]] = []   # (index of the review, its grade)
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def work(t: int) -> None:
        try:
            start.wait()
            for rnd in range(3):
                for k in range(len(reviews)):
                    i = (k + t + rnd) % len(reviews)
                    got.append((i, shared.grade(case, reviews[i]).model_dump()))
                if rnd == 1:
                    shared.clear_caches()
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(got) == 6 * 3 * len(reviews)
    assert all(g == want[i] for i, g in got)


def test_grade_review_uses_one_default_grader(case):
    assert rubric_pkg._default_grader() is rubric_pkg._default_grader()
    got = grade_review(case, REVIEW)
    assert got.model_dump() == DeterministicGrader().grade(case, REVIEW).model_dump()
    assert rubric_pkg._default_grader().compiled(case) is rubric_pkg._default_grader().compiled(case)


# ------------------------------------------------------------------------------------------------ the package


def _modules() -> list[str]:
    return sorted(p.name for p in PACKAGE.glob("*.py"))


def test_the_fingerprint_covers_every_module_of_the_package():
    sources = GRADERS["deterministic"].sources
    assert {f"rubric/{name}" for name in _modules()} <= set(sources)
    assert len(_modules()) >= 8


@pytest.mark.parametrize("name", _modules())
def test_a_change_to_any_module_changes_the_fingerprint(name, monkeypatch):
    before = grader_fingerprint("deterministic")
    real = Path.read_bytes

    def edited(self: Path) -> bytes:
        data = real(self)
        return data + b"\n# edited\n" if self == PACKAGE / name else data

    monkeypatch.setattr(Path, "read_bytes", edited)
    assert grader_fingerprint("deterministic") != before


# the order data flows in: each module imports only from modules before it (the package's own layers)
ORDER = ["evidence", "lexmatch", "compile", "review", "extras", "semantic_stage", "decide", ""]


def test_the_modules_import_one_way():
    base = "harness.graders.rubric"
    graph = import_graph()
    names = {f"{base}.{m}" if m else base: k for k, m in enumerate(ORDER)}
    assert set(names) == {m for m in graph if m == base or m.startswith(base + ".")}, "ORDER misses a module"
    upward = [(m, t) for m, k in names.items() for t in graph[m] if t in names and names[t] >= k]
    assert upward == []
