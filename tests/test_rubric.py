"""Deterministic rubric grader (harness.graders.rubric) and its text normalisation (harness.graders.textnorm)."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cases import load_case
from harness.graders.base import SampleGrade
from harness.graders.rubric import DeterministicGrader, grade_review
from harness.graders.textnorm import cjk_pattern, fold, nfkc, phrase, trie_pattern, word_list, words

# ----------------------------------------------------------------------------------------------- normalisation


def test_fold_nfkc_casefold_and_markdown():
    assert fold("ａｐｐ．ｐｙ：１１５") == "app.py:115"
    assert fold("**Bold** `Code` and snake_case and __under__") == "bold code and snake_case and under"
    assert fold("“quoted” — dash\u00a0space") == "\"quoted\" - dash space"
    assert fold("  many \n\t spaces ") == "many spaces"


def test_identifier_styles_read_alike():
    forms = ["decode_access_token", "decode-access-token", "decodeAccessToken", "DecodeAccessToken",
             "decode access token", "`decode_access_token()`", "DECODE_ACCESS_TOKEN"]
    assert {phrase(f) for f in forms} == {phrase("decode access token")}
    assert phrase("HTTPServerError") == phrase("http server error")
    assert phrase("sessions.token_hash") == phrase("sessions token hash")


def test_plurals_and_inflections_stem_alike():
    assert phrase("indexes") == phrase("index")
    assert phrase("queries") == phrase("query")
    assert phrase("timeouts") == phrase("timeout")
    assert phrase("rate limiting") == phrase("rate limit") == phrase("rate limits")
    assert phrase("charged twice") == phrase("charge twice")
    assert phrase("status") != phrase("statu s")  # words are kept whole


def test_contractions_and_cannot():
    assert phrase("The HPA can't scale") == phrase("the hpa cannot scale") == phrase("the HPA can not scale")
    assert phrase("it doesn't expire") == phrase("it does not expire")


def test_words_keeps_cjk_runs_and_splits_latin():
    w = words("ログアウトしてもsessionsが残る")
    assert " session " in w and "ログアウトしても" in w
    assert words("ＳＱＬインジェクション") == words("SQLインジェクション")


def test_nfkc_fast_path_matches_unicodedata():
    import unicodedata
    for t in ["plain ascii", "全角（かっこ）と１２３", "ｶﾀｶﾅ", "ﬁ ligature", "①②", "é composed", "e\u0301 decomposed"]:
        assert nfkc(t) == unicodedata.normalize("NFKC", t)


def test_cjk_pattern_tolerates_particles():
    import re
    pat = re.compile(cjk_pattern("署名検証"))
    assert pat.search(words("署名を検証していない"))
    assert pat.search(words("署名検証がない"))
    assert re.compile(cjk_pattern("コンシューマラグ")).search(words("コンシューマーラグの監視"))
    assert re.compile(cjk_pattern("冪等性")).search(words("課金が冪等になっていない"))
    assert cjk_pattern("plain english") is None


def test_trie_pattern_is_exact():
    import re
    ws = ["add", "avoid", "and", "a", "block", "blocker"]
    rx = re.compile("(?:" + trie_pattern(ws) + ")$")
    for w in ws:
        assert rx.match(w)
    for w in ["", "ad", "blo", "blockers", "b"]:
        assert not rx.match(w)


def test_word_list_equals_words():
    t = "Use `verify_exp` — «ÉTÉ» 署名 and ConfigMaps!"
    assert " ".join(word_list(t)) == words(t).strip()


# ----------------------------------------------------------------------------------------------- a small case

APP_LINES = {
    10: "SECRET_KEY = 'dev-secret-123'",
    20: "def search_orders(q):",
    21: "    sql = f\"SELECT * FROM orders WHERE name = '{q}'\"",
    22: "    return db.execute(sql)",
    30: "def hash_password(pw):",
    31: "    return bcrypt.hashpw(pw, bcrypt.gensalt(12))",
    40: "def fetch_rates():",
    41: "    return requests.get(RATES_URL)",
    50: "def get_order(order_id):",
    51: "    return db.execute('SELECT * FROM orders WHERE id = %s', (order_id,))",
}

CASE_YAML = """\
id: mini-case
title: Mini case
kind: api
request: Review app.py and schema.sql please.
files: [app.py, schema.sql]
findings:
  - id: sqli-search
    title: SQL injection in search_orders
    severity: critical
    category: security
    location: {file: app.py, lines: [20, 22], symbol: search_orders}
    keywords: [sql injection, injection, parameterized query, SQLインジェクション, プレースホルダ]
    anchors: [search_orders]
    rubric: Says that search_orders builds SQL from q with an f-string, and asks for bound parameters.
  - id: hardcoded-secret
    title: Secret key hard-coded in app.py
    severity: high
    category: security
    location: {file: app.py, lines: [10, 10], symbol: SECRET_KEY}
    keywords: [hard-coded secret, hardcoded key, secret management, ハードコード, シークレット管理]
    anchors: [SECRET_KEY]
    rubric: Says that SECRET_KEY is a literal in source; asks to load it from the environment and rotate it.
  - id: rates-no-timeout
    title: Outbound call without timeout
    severity: medium
    category: reliability
    location: {file: app.py, lines: [40, 41], symbol: fetch_rates}
    keywords: [timeout, no timeout, hang, タイムアウト]
    anchors: [fetch_rates, requests.get]
    rubric: Says that fetch_rates calls requests.get without a timeout so a slow server blocks the worker; asks for a
      timeout.
  - id: bola-get-order
    title: get_order has no ownership check
    severity: high
    category: security
    location: {file: app.py, lines: [50, 51], symbol: get_order}
    keywords: [idor, missing authorization, ownership check, 認可漏れ]
    anchors: [get_order]
    rubric: Says that get_order looks the order up by id only, so any user reads any order; asks for an ownership check.
  - id: email-not-unique
    title: users.email is not unique
    severity: low
    category: data-integrity
    location: {file: schema.sql, lines: [3, 3], symbol: users.email}
    keywords: [unique constraint, duplicate accounts, 一意制約]
    anchors: [users.email]
    rubric: Says that users.email has no unique constraint so duplicate accounts exist; asks for a unique index.
traps:
  - id: bcrypt-ok
    title: bcrypt with cost 12
    location: {file: app.py, lines: [30, 31], symbol: hash_password}
    keywords: [bcrypt, password hash, weak hash, パスワードハッシュ]
    anchors: [hash_password, bcrypt.gensalt]
    rubric: bcrypt cost 12 is sound; a review that calls it weak or asks to replace it raised a false positive.
"""


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("cases") / "mini-case"
    d.mkdir()
    lines = [APP_LINES.get(i, f"# line {i}") for i in range(1, 61)]
    (d / "app.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (d / "schema.sql").write_text("CREATE TABLE users (\n  id bigserial PRIMARY KEY,\n  email text NOT NULL\n);\n",
                                  encoding="utf-8")
    (d / "case.yaml").write_text(CASE_YAML, encoding="utf-8")
    return load_case(d)


@pytest.fixture
def grader():
    # the lexical stage's rules; the semantic stage has its own tests (tests/test_semantic.py)
    return DeterministicGrader(semantic=False)


def found(sg: SampleGrade) -> set[str]:
    assert sg.error is None, sg.error
    return sg.found_ids()


# ----------------------------------------------------------------------------------------------- found / missed


def test_found_in_english_with_line_refs_and_anchors(case, grader):
    review = """## Findings
1. **SQL injection** in `search_orders` (app.py:21): the query is built with an f-string. Use a parameterized query.
2. `SECRET_KEY` is hard-coded on line 10. Load it from the environment.
3. `fetch_rates` calls `requests.get` with no timeout; a slow server hangs the worker.
4. `users.email` has no unique constraint (schema.sql:3), so duplicate accounts can be created.
"""
    sg = grader.grade(case, review)
    assert found(sg) == {"sqli-search", "hardcoded-secret", "rates-no-timeout", "email-not-unique"}
    assert sg.flagged_ids() == set()
    v = next(f for f in sg.findings if f.id == "sqli-search")
    assert v.evidence is not None and v.evidence.item == 1 and "search_orders" in v.evidence.quote
    assert len(v.evidence.quote) <= 300
    assert next(f for f in sg.findings if f.id == "bola-get-order").evidence is None


def test_found_in_japanese(case, grader):
    review = """# レビュー
## 1. SQLインジェクション（app.py 21行目）
`search_orders` が f-string で SQL を組み立てています。プレースホルダを使ってください。

## 2. その他
- `SECRET_KEY` がソースにハードコードされています（ａｐｐ．ｐｙ：１０）。
- `fetch_rates` の `requests.get` にタイムアウトがありません。
- `get_order` は他人の注文も返します（認可漏れ）。
"""
    sg = grader.grade(case, review)
    assert found(sg) == {"sqli-search", "hardcoded-secret", "rates-no-timeout", "bola-get-order"}


def test_line_reference_alone_pins_the_place(case, grader):
    # no anchor: the place is the line range (the file named by the item)
    sg = grader.grade(case, "- app.py L20-22: SQL injection, because the query is built by string formatting.\n")
    assert found(sg) == {"sqli-search"}
    # a line in another file's range does not count
    sg = grader.grade(case, "- schema.sql line 21: SQL injection through string formatting.\n")
    assert "sqli-search" not in found(sg)


def test_quoted_code_pins_the_place(case, grader):
    sg = grader.grade(case, "- `sql = f\"SELECT * FROM orders WHERE name = '{q}'\"` is an SQL injection.\n")
    assert found(sg) == {"sqli-search"}


def test_heading_with_bullets_counts_as_one_item(case, grader):
    review = ("### `search_orders` (app.py lines 20-22)\n"
              "- builds the SQL text with string formatting: classic SQL injection\n"
              "- fix: bind parameters\n")
    sg = grader.grade(case, review)
    assert found(sg) == {"sqli-search"}


def test_parent_point_with_sub_point(case, grader):
    review = "- `fetch_rates` (app.py:40)\n  - no timeout: a slow rates server hangs every worker\n"
    assert found(grader.grade(case, review)) == {"rates-no-timeout"}


def test_generic_checklist_is_not_credited(case, grader):
    review = """# Checklist
- Always use parameterized queries to avoid SQL injection.
- Never hard-code secrets; use a secret manager.
- Set a timeout on every outbound HTTP call.
- Make sure every endpoint has an ownership check (IDOR).
"""
    sg = grader.grade(case, review)
    assert found(sg) == set()


def test_shotgun_item_is_discounted_with_a_warning(case, grader):
    review = ("- search_orders, SECRET_KEY, fetch_rates, get_order: check for SQL injection, hard-coded secret, "
              "timeout and IDOR problems.\n")
    sg = grader.grade(case, review)
    assert found(sg) == set()
    assert any("shotgun" in w for w in sg.warnings)


def test_praise_of_a_finding_place_is_not_a_report(case, grader):
    sg = grader.grade(case, "- `search_orders` uses a parameterized query against SQL injection, which is correct.\n")
    assert "sqli-search" not in found(sg)
    sg = grader.grade(case, "- `search_orders` のSQLインジェクション対策は適切です。問題ありません。\n")
    assert "sqli-search" not in found(sg)


def test_praise_heading_context(case, grader):
    sg = grader.grade(case, "## What's solid\n\n- `fetch_rates` has a sensible timeout story.\n")
    assert found(sg) == set()


# ----------------------------------------------------------------------------------------------- traps


def test_trap_praised_or_mentioned_is_not_flagged(case, grader):
    for review in [
        "## Good\n\n- `hash_password` uses bcrypt with cost 12, which is fine.\n",
        "- Passwords: `hash_password` (app.py:30) uses bcrypt cost 12; that is appropriate.\n",
        "- `hash_password` のパスワードハッシュ（bcrypt, cost 12）は適切です。\n",
        "- Use bcrypt like `hash_password` already does.\n",
    ]:
        sg = grader.grade(case, review)
        assert sg.flagged_ids() == set(), review


def test_trap_reported_as_defect_is_flagged(case, grader):
    for review in [
        "- `hash_password` (app.py:30-31): bcrypt cost 12 is too weak; replace it with argon2.\n",
        "## 問題\n\n- `hash_password`（app.py 30行目）のパスワードハッシュは弱いので、argon2 に変更してください。\n",
    ]:
        sg = grader.grade(case, review)
        assert sg.flagged_ids() == {"bcrypt-ok"}, review
        v = next(t for t in sg.traps if t.id == "bcrypt-ok")
        assert v.evidence is not None and "hash_password" in v.evidence.quote


def test_trap_defect_denied_is_not_flagged(case, grader):
    # a soft-wrapped sentence that names the trap and denies its defect
    review = ("- `hash_password` (app.py:30) uses bcrypt with cost 12, but the salt is per hash,\n"
              "  so there is no weak hash here.\n"
              "- `get_order` (app.py:50) answers 404 for orders of other users, which prevents leaking them.\n")
    sg = grader.grade(case, review)
    assert sg.flagged_ids() == set()


def test_trap_named_as_remedy_of_a_finding_is_not_flagged(case, grader):
    review = ("### Secret key (app.py:10)\n`SECRET_KEY` is hard-coded in source. Generate it with a proper key "
              "derivation, as `hash_password` does with `bcrypt.gensalt(12)`.\n")
    sg = grader.grade(case, review)
    assert "hardcoded-secret" in found(sg)
    assert sg.flagged_ids() == set()


# ----------------------------------------------------------------------------------------------- wrong diagnosis


def test_wrong_diagnosis_at_the_right_place_is_not_credited(case, grader):
    # the remedy of one finding (a unique index) named at a place while the diagnosis is another finding's
    review = "- `search_orders` (app.py:21): the query has no timeout and hangs; add a unique constraint.\n"
    sg = grader.grade(case, review)
    assert "email-not-unique" not in found(sg)


# ----------------------------------------------------------------------------------------------- extra issues


def test_extra_issues_counts_unmatched_problems(case, grader):
    review = """## Findings
- `search_orders` (app.py:21) has an SQL injection; use a parameterized query.
- `get_order` does not log failed lookups (app.py:51).
- The connection pool in app.py line 5 is never closed, which leaks connections.

## Summary
Fix the injection first.
"""
    sg = grader.grade(case, review)
    assert found(sg) == {"sqli-search"}
    assert sg.extra_issues == 2


def test_a_problem_record_counts_once_and_its_location_field_points_into_the_code(case, grader):
    # v2.md's format: the location field holds the reference, the problem field the defect; before, the fields
    # of an unmatched record pointed at nothing by themselves and the problem was not counted at all
    review = """## Findings
### 1. SQL injection in search_orders
- **Location**: app.py:21
- **Problem**: `q` is concatenated into the SQL with an f-string, an injection.
- **Fix**: use a parameterized query.

### 2. Pool never closed
- **Location**: app.py:5
- **Problem**: the connection pool leaks connections on every reload.
- **Impact**: the database refuses new connections after a few deploys.
- **Fix**: close it on shutdown.
"""
    sg = grader.grade(case, review)
    assert found(sg) == {"sqli-search"}
    assert sg.extra_issues == 1


def test_the_sub_sections_of_a_credited_problem_heading_are_that_problem(case, grader):
    # a write-up: "## 1. <problem>" then "### Cause / Reproduction / Fix"; only section 2 is another problem
    review = """# Breaking the orders API

## 1. SQL injection in `search_orders`

### Cause
`search_orders` (app.py:21) puts `q` into the query with an f-string: an SQL injection.

### Reproduction
The payload `' OR 1=1 --` returns every order in app.py, which is a broken tenant boundary.

### Fix
Use a parameterized query.

## 2. The connection pool leaks
The pool in app.py line 5 is never closed, which leaks connections.
"""
    sg = grader.grade(case, review)
    assert found(sg) == {"sqli-search"}
    assert sg.extra_issues == 1


def test_a_severity_group_heading_is_not_a_summary(case, grader):
    # "## Lower priority" holds "priority", a summary word; its points are problems all the same
    review = """## Must fix
- `search_orders` (app.py:21) has an SQL injection; use a parameterized query.

## Lower priority
- The connection pool in app.py line 5 is never closed, which leaks connections.
- `get_order` does not log failed lookups (app.py:51), so incidents cannot be traced.

## Priorities
- Fix the injection in app.py first, it is the worst problem.
"""
    sg = grader.grade(case, review)
    assert found(sg) == {"sqli-search"}
    assert sg.extra_issues == 2


def test_a_paragraph_of_prose_counts_each_problem_it_raises(case, grader):
    review = ("# Review memo\n\nThe most serious problem is in search_orders at app.py:21, which builds the SQL from "
              "q with an f-string; that is an SQL injection and any caller can read every order, so it has to move to "
              "a parameterized query before release. Separately, the connection pool created in app.py line 5 is "
              "never closed when the worker reloads, which leaks connections until the database refuses new ones and "
              "the service stops answering. Finally, get_order does not log failed lookups at app.py:51, so an "
              "enumeration attempt leaves no trace anywhere and the on-call engineer cannot tell an attack from a "
              "bug during an incident.\n")
    sg = grader.grade(case, review)
    assert found(sg) == {"sqli-search"}
    assert sg.extra_issues == 2
    # the same problems one to a paragraph count the same
    split = review.replace(" Separately, ", "\n\nSeparately, ").replace(" Finally, ", "\n\nFinally, ")
    assert grader.grade(case, split).extra_issues == 2


@pytest.mark.parametrize("heading", ["確認したが問題がなかった領域", "確認済みで問題のなかった領域", "Checked and fine",
                                     "Looked at and fine", "Verified OK"])
def test_a_checked_and_fine_section_praises(case, grader, heading):
    # v2.md asks for this section ("確認したが問題がなかった領域"); what is in it is not reported as a problem
    review = f"""## Findings
1. `search_orders` (app.py:21) is an SQL injection; use a parameterized query.

## {heading}
- `hash_password` (app.py:30): bcrypt cost 12 is not a weak hash; changing it would only slow logins, no risk.
"""
    sg = grader.grade(case, review)
    assert found(sg) == {"sqli-search"}
    assert not [t.id for t in sg.traps if t.flagged]
    assert sg.extra_issues == 0


@pytest.mark.parametrize("wording", [
    "`hash_password` (app.py:30) writes the bcrypt hash to the log in plaintext.",
    "`hash_password`（app.py 30行目）は bcrypt のハッシュを平文でログに出力しています。",
    "`hash_password`（app.py 30行目）の bcrypt ハッシュのログ出力はアカウント乗っ取りの温床になります。",
])
def test_states_that_are_faults_in_themselves_report_a_defect(case, grader, wording):
    # "in plaintext", "平文", "温床" (a breeding ground for): no "not", "risk" or "ない" is needed to find fault
    sg = grader.grade(case, "## Findings\n- " + wording + "\n")
    assert [t.id for t in sg.traps if t.flagged] == ["bcrypt-ok"]


# ----------------------------------------------------------------------------------------------- robustness


@pytest.mark.parametrize("review", [
    "", " ", "\n\n", "\x00\x01\x02", "\ufffd" * 50, "<html><body><script>alert(1)</script></body></html>",
    "```\nunterminated code block", "# " * 1000, "|" * 500, "- " * 2000, "a" * 100_000, "l" * 5000 + "123",
    "§§§ 第第 章 " * 100, "app.py:" * 1000, "\ud800 lone surrogate", "x" * 10 + "qqitemqq qqsentqq" * 50,
])
def test_never_raises_on_odd_text(case, grader, review):
    sg = grader.grade(case, review)
    assert sg.error is None
    assert len(sg.findings) == 5 and len(sg.traps) == 1


def test_non_string_review(case, grader):
    assert grader.grade(case, b"- SQL injection in search_orders (app.py:21)").error is None
    assert grader.grade(case, None).error is None  # type: ignore[arg-type]


def test_huge_review_is_bounded(case, grader):
    big = ("- `search_orders` (app.py:21): SQL injection; use parameterized query.\n" * 3000
           + "paragraph text " * 20000)
    t = time.perf_counter()
    sg = grader.grade(case, big)
    assert time.perf_counter() - t < 20
    assert "sqli-search" in found(sg)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text())
def test_any_text_grades(case, text):
    sg = DeterministicGrader().grade(case, text)
    assert sg.error is None
    assert {f.id for f in sg.findings} == {f.id for f in case.findings}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from([
    "# Review", "## app.py", "- SQL injection", "`search_orders`", "(app.py:21)", "L10", "行目", "§3",
    "SECRET_KEY", "is fine", "適切です", "ハードコード", "```", "| a | b |", "1. timeout", "  - nested", "\n",
    "bcrypt", "hash_password", "too weak", "use", "qqsentqq", "ＳＱＬ", "!", ". ",
]), max_size=60))
def test_markdown_soup_grades(case, parts):
    sg = DeterministicGrader().grade(case, " ".join(parts))
    assert sg.error is None


def test_memo_returns_independent_copies(case, grader):
    review = "- SQL injection in `search_orders` (app.py:21).\n"
    a = grader.grade(case, review)
    a.findings[0].found = not a.findings[0].found
    a.warnings.append("mutated")
    b = grader.grade(case, review)
    assert "mutated" not in b.warnings
    assert b.findings[0].found != a.findings[0].found


def test_grade_review_function(case):
    assert "sqli-search" in grade_review(case, "- SQL injection in `search_orders` (app.py:21).").found_ids()


def test_speed_on_typical_reviews(case, grader):
    review = """## Findings
1. **SQL injection** in `search_orders` (app.py:21): the query is built with an f-string. Use a parameterized query.
2. `SECRET_KEY` is hard-coded on line 10. Load it from the environment.
3. `fetch_rates` calls `requests.get` with no timeout; a slow server hangs the worker.
- Passwords use bcrypt via `hash_password`, which is fine.
""" * 3
    n = 200
    t = time.process_time()
    for k in range(n):
        grader.clear_memo()
        grader.grade(case, review + f"\n<!-- {k} -->")
    per = (time.process_time() - t) / n
    assert per < 0.02  # generous: the benchmark target is well under a millisecond per such review


def test_route_anchor_with_method_is_also_named_by_its_path(tmp_path):
    d = tmp_path / "route-case"
    d.mkdir()
    (d / "app.py").write_text("\n".join(APP_LINES.get(i, f"# line {i}") for i in range(1, 61)) + "\n",
                              encoding="utf-8")
    (d / "schema.sql").write_text("CREATE TABLE users (id bigserial PRIMARY KEY, email text);\n", encoding="utf-8")
    (d / "case.yaml").write_text(CASE_YAML.replace("anchors: [get_order]", "anchors: ['GET /orders/<id>']")
                                 .replace("id: mini-case", "id: route-case"), encoding="utf-8")
    case = load_case(d)
    g = DeterministicGrader(semantic=False)
    for review in ("- `/orders/<id>` has no ownership check: any user reads any order (IDOR).\n",
                   "- GET /orders/<id> has no ownership check: any user reads any order (IDOR).\n"):
        assert "bola-get-order" in g.grade(case, review).found_ids(), review


@pytest.mark.parametrize("text, advice", [
    ("**Logging:** Never write access tokens to the logs.", True),
    ("**Timeouts.** Outbound calls should always have a timeout.", True),
    ("Validate every request body against a schema.", True),
    ("秘密情報は環境変数から読み込むようにしてください。", True),
    ("**No timeout on `fetch_rates`.** Add one.", False),          # a bold lead that says something
    ("The rates call has no timeout; give it one.", False),
    ("**Rates client**: no timeout, a slow server blocks the worker.", False),
    ("レート取得にタイムアウトがなく、ワーカーが詰まります。設定してください。", False),
])
def test_an_item_that_opens_as_advice_is_told_from_a_finding(text, advice):
    from harness.graders.rubric.semantic_stage import _reads_as_advice
    assert _reads_as_advice(text) is advice


# ------------------------------------------------------------------------------- line references as people write them


def test_japanese_line_ranges_without_moku_are_line_references(case, grader):
    # "（app.py 20-22行）" is how Japanese reviews cite a range; one number needs 目 ("3行" may count lines)
    ranged = "## 指摘\n\n- 検索クエリを f-string で組み立てており SQLインジェクション になります（app.py 20-22行）。\n"
    assert "sqli-search" in found(grader.grade(case, ranged))
    single = "## 指摘\n\n- 検索クエリを f-string で組み立てており SQLインジェクション になります（app.py 21行）。\n"
    assert "sqli-search" in found(grader.grade(case, single))
    counted = "## 指摘\n\n- 3行の関数で SQLインジェクション があります。\n"
    assert "sqli-search" not in found(grader.grade(case, counted))


@pytest.fixture(scope="module")
def case_with_declared_anchor(tmp_path_factory):
    """The mini case, plus a constant declared at line 12 that the timeout finding is about (an anchor of it)."""
    d = tmp_path_factory.mktemp("cases") / "mini-case"
    d.mkdir()
    app = dict(APP_LINES)
    app[12] = "RATES_TIMEOUT_S = None"
    lines = [app.get(i, f"# line {i}") for i in range(1, 61)]
    (d / "app.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (d / "schema.sql").write_text("CREATE TABLE users (\n  id bigserial PRIMARY KEY,\n  email text NOT NULL\n);\n",
                                  encoding="utf-8")
    (d / "case.yaml").write_text(CASE_YAML.replace("anchors: [fetch_rates, requests.get]",
                                                   "anchors: [fetch_rates, requests.get, RATES_TIMEOUT_S]"),
                                 encoding="utf-8")
    return load_case(d)


def test_a_line_reference_resolves_to_the_anchor_declared_there(case_with_declared_anchor, grader):
    # app.py:12 is not inside the finding's location (40-41), but it is where its anchor is declared
    review = "## Findings\n\n- app.py:12 — the outbound call has no timeout, so a slow server hangs the worker.\n"
    assert "rates-no-timeout" in found(grader.grade(case_with_declared_anchor, review))
    # a wide range that happens to cover the declaration points at nothing in particular
    wide = "## Findings\n\n- app.py:1-30 — the outbound call has no timeout, so a slow server hangs the worker.\n"
    assert "rates-no-timeout" not in found(grader.grade(case_with_declared_anchor, wide))


def test_a_heading_naming_a_traps_diagnosis_at_its_place_flags_it(case, grader):
    # the problem list's heading is the report, even when neither it nor its body has a fault cue
    review = ("# Review\n\n## 1. Password hash in `hash_password` (app.py:30)\n\n"
              "Cost 12 was chosen years ago. Move the function to argon2id.\n")
    assert "bcrypt-ok" in grader.grade(case, review).flagged_ids()
    # ... but not when the body says it is sound, nor when the heading denies the defect
    praised = ("# Review\n\n## 1. Password hash in `hash_password` (app.py:30)\n\n"
               "bcrypt with cost 12 is fine and correct here.\n")
    assert "bcrypt-ok" not in grader.grade(case, praised).flagged_ids()
    denied = "# Review\n\n## 1. No password hash problem in `hash_password` (app.py:30)\n\nChecked the cost.\n"
    assert "bcrypt-ok" not in grader.grade(case, denied).flagged_ids()


DESIGN_MD = """# Order events design

## 5. Flow

### 5.1 Confirm

The order service commits the order, then publishes order.confirmed.
If the publish fails it logs the error and answers 200.

### 5.2 Stock

The inventory service consumes order.confirmed.
"""

DESIGN_CASE = """\
id: mini-design
title: Mini design
kind: design
request: Review DESIGN.md please.
files: [DESIGN.md]
findings:
  - id: dual-write
    title: Publish after commit without an outbox
    severity: high
    category: reliability
    location: {file: DESIGN.md, lines: [7, 8], symbol: order.confirmed}
    keywords: [dual write, outbox, lost events]
    anchors: [order.confirmed]
    rubric: Says that the order is committed and the event published separately, so a failed publish loses the
      event; asks for a transactional outbox.
traps: []
"""


def _design_case(tmp_path_factory, name: str, design: str, case_yaml: str):
    d = tmp_path_factory.mktemp("cases") / name
    d.mkdir()
    (d / "DESIGN.md").write_text(design, encoding="utf-8")
    (d / "case.yaml").write_text(case_yaml, encoding="utf-8")
    return load_case(d)


@pytest.fixture(scope="module")
def design_case(tmp_path_factory):
    return _design_case(tmp_path_factory, "mini-design", DESIGN_MD, DESIGN_CASE)


def test_a_bare_dotted_section_number_names_the_documents_section(design_case, grader):
    assert "dual-write" in found(grader.grade(design_case, "## Findings\n\n- 5.1: this is a dual write; add an "
                                                           "outbox so no event is lost.\n"))
    assert "dual-write" in found(grader.grade(design_case, "## 指摘\n\n- **5.1 の COMMIT 後 publish** は dual write "
                                                           "です。outbox にすべき。\n"))
    # ... also after a preposition, as prose names it ("the confirm step in 5.1")
    assert "dual-write" in found(grader.grade(design_case, "The confirm step in 5.1 is a dual write, so an event "
                                                           "can be lost; add an outbox.\n"))
    # a version, a quantity or a longer number is no section
    for text in ("- Spring 5.1 has a dual write problem; use an outbox.\n", "- A 5.1 s dual write window; use an "
                 "outbox.\n", "- Release 2.5.1.3 dual write; use an outbox.\n"):
        assert "dual-write" not in found(grader.grade(design_case, "## Findings\n\n" + text)), text



DESIGN2_MD = """# Shipping events: design

## 1. Background

Orders are shipped by a partner warehouse.

## 2. Flow

### 2.1 Order confirmation

The order service commits the order, then publishes order.confirmed.
If the publish fails it logs the error and answers 200.

### 2.2 Stock reservation

The inventory consumer decrements stock for every order.confirmed it receives.

### 2.3 Error handling

A consumer that fails calls basic.nack(requeue=true).

## 3. Open questions

- Order confirmation e-mails: who sends them?
- Do we need Order confirmation numbers per partner?
- Order confirmation timing for the partner?
- Order confirmation in the partner's portal?
"""

DESIGN2_CASE = """\
id: mini-design-2
title: Mini design 2
kind: design
request: Review DESIGN.md please.
files: [DESIGN.md]
findings:
  - id: stock-not-idempotent
    title: The inventory consumer is not idempotent
    severity: high
    category: data-integrity
    location: {file: DESIGN.md, lines: [16, 16], symbol: inventory consumer}
    keywords: [idempotency, duplicate delivery, 冪等性]
    anchors: [decrements stock]
    rubric: Says that a redelivered order.confirmed decrements the stock again; asks for an idempotent consumer.
  - id: requeue-forever
    title: Failed messages are requeued forever
    severity: medium
    category: reliability
    location: {file: DESIGN.md, lines: [20, 20], symbol: basic.nack(requeue=true)}
    keywords: [dead letter queue, infinite retry, poison message]
    anchors: [basic.nack(requeue=true)]
    rubric: Says that a message that always fails is requeued forever; asks for a dead-letter queue and a retry
      limit.
traps: []
"""


@pytest.fixture(scope="module")
def design_case_2(tmp_path_factory):
    return _design_case(tmp_path_factory, "mini-design-2", DESIGN2_MD, DESIGN2_CASE)


def test_a_section_named_by_its_title_is_the_place(design_case_2, grader):
    """People cite a design document's sections by title as often as by number (compile._section_titles)."""
    assert "stock-not-idempotent" in found(grader.grade(design_case_2, "- Stock reservation has no idempotency: "
                                                                       "a redelivery decrements twice.\n"))
    assert "stock-not-idempotent" not in found(grader.grade(design_case_2, "- There is no idempotency anywhere.\n"))
    # a title phrase written all over the document names no one section ("Order confirmation": five lines), nor
    # does the document's own title
    comp = grader.compiled(design_case_2)
    assert "stock reservation" in comp.section_titles and "error handling" in comp.section_titles
    assert "order confirmation" not in comp.section_titles
    assert "shipping events" not in comp.section_titles


def test_the_rabbitmq_names_of_a_dead_letter_queue_and_of_endless_redelivery(design_case_2, grader):
    for text in ("- 2.3: failures are requeued with no DLX; add one.\n",
                 "- `basic.nack(requeue=true)` means infinite redelivery of a poison message.\n",
                 "- 2.3 の requeue=true は無限再配信になります。\n"):
        assert "requeue-forever" in found(grader.grade(design_case_2, text)), text


def test_a_trap_offered_only_optional_hardening_is_not_flagged(case, grader):
    """CASE_FORMAT.md: a trap is flagged when reported as a defect to fix; hardening offered as optional is not."""
    flagged = "- `hash_password` (app.py:30): raise the bcrypt cost to 14.\n"
    assert "bcrypt-ok" in grader.grade(case, flagged).flagged_ids()
    for text in ("- `hash_password` (app.py:30): if possible, raise the bcrypt cost to 14 later.\n",
                 "- `hash_password` (app.py:30): 可能であれば bcrypt のコストを 14 に上げてください。\n",
                 "- `hash_password` (app.py:30): as defense in depth, raise the bcrypt cost to 14.\n"):
        assert "bcrypt-ok" not in grader.grade(case, text).flagged_ids(), text


def test_a_short_section_of_titled_problems_is_a_group_not_one_problem(case, grader):
    """Two paragraphs under one heading, each opening with its own bold title, are two problems: the place of
    the first and the diagnosis of the second do not make a finding together."""
    review = ("## Outbound calls\n\n"
              "**1. `fetch_rates` is slow (app.py:40).** Cache its results for a minute.\n\n"
              "**2. The webhook client has no timeout (app.py:57).** A slow partner hangs the worker.\n")
    assert "rates-no-timeout" not in found(grader.grade(case, review))
    # one problem in short paragraphs under its heading is still read as one
    one = ("## `fetch_rates` (app.py:40)\n\nIt calls the rates API on every request.\n\n"
           "There is no timeout, so a slow server hangs the worker.\n")
    assert "rates-no-timeout" in found(grader.grade(case, one))


def test_the_paragraphs_of_a_problem_heading_are_that_problem(case, grader):
    """A write-up's section per problem ("## 1. SQL injection in `search_orders`" then mechanism, exploit, fix
    paragraphs) raises one problem: none more when it is credited with a finding, one when it matches none; a
    paragraph that opens as a further problem ("There is also …") is one more."""
    credited = ("## 1. SQL injection in `search_orders` (app.py:20)\n\n"
                "The q parameter is formatted into the SQL string, so an attacker can append a UNION.\n\n"
                "An attacker sends q=' OR 1=1 -- and reads every order, which is a breach.\n\n"
                "**Fix:** bind the parameter instead of formatting it in.\n")
    sg = grader.grade(case, credited)
    assert "sqli-search" in found(sg) and sg.extra_issues == 0
    other = ("## 2. `load_config` leaks the config path in errors (app.py:57)\n\n"
             "The exception message includes the absolute path, which leaks the layout to the client.\n\n"
             "A caller who sends a broken request learns where the service is deployed, which is wrong.\n\n"
             "**Fix:** return a generic error and log the details.\n")
    assert grader.grade(case, other).extra_issues == 1
    more = other + "\nThere is also a missing audit log in `load_config` (app.py:58), which is a problem.\n"
    assert grader.grade(case, more).extra_issues == 2


def test_the_ways_people_say_n_plus_one_are_one_concept(tmp_path):
    """A keyword "n+1" is also read as "one query per row", "queries in a loop" and 親ごとに (per parent): the
    synonym groups of harness/graders/lexicon.py, read the same for every case."""
    d = tmp_path / "n1"
    d.mkdir()
    (d / "resolvers.ts").write_text("\n".join(f"// {i}" for i in range(1, 20)) + "\ncommentCount: (issue) => "
                                    "prisma.comment.count({ where: { issueId: issue.id } }),\n", encoding="utf-8")
    (d / "case.yaml").write_text(
        "id: n1\ntitle: N1\nkind: api\nrequest: Review it.\nfiles: [resolvers.ts]\nfindings:\n"
        "  - id: count-n-plus-one\n    title: commentCount runs one COUNT per issue\n    severity: medium\n"
        "    category: performance\n    location: {file: resolvers.ts, lines: [20, 20], symbol: commentCount}\n"
        "    keywords: [n+1]\n    anchors: [commentCount]\n"
        "    rubric: Says that commentCount issues one COUNT query per issue (N+1); asks to batch the counts.\n"
        "traps: []\n", encoding="utf-8")
    case = load_case(d)
    g = DeterministicGrader(semantic=False)
    for text in ("- `commentCount` (resolvers.ts:20) runs one query per row of the list; batch it.\n",
                 "- `commentCount` は親ごとに comment.count を発行しています。まとめて数えてください。\n"):
        assert "count-n-plus-one" in found(g.grade(case, text)), text
    assert "count-n-plus-one" not in found(g.grade(case, "- `commentCount` (resolvers.ts:20) is fine as it is.\n"))


def test_the_continuative_negative_reports_a_defect(case, grader):
    """「インデックスが効かずフルスキャンになります」: 〜ず is the negative as 〜ない is (lexicon.DEFECT), so a trap
    reported in that form is flagged."""
    text = "- `hash_password`（app.py 30行目）のパスワードハッシュはコスト 12 で、今の GPU に追いつかず。\n"
    assert "bcrypt-ok" in grader.grade(case, text).flagged_ids()
