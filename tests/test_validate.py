"""Tests of harness.validate: one broken case per problem kind (built in tmp_path), the real suite, the
calibration set, coverage() and the CLI exit codes."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import pytest
import yaml

from harness.cases import CaseSpec, load_case
from harness.cli import main
from harness.validate import Problem, coverage, keyword_occurs, validate_path

PROJECT = Path(__file__).resolve().parents[1]
SUITE = PROJECT / "cases"
CALIBRATION = PROJECT.parent / "shared" / "calibration"

APP_LINES = [
    "import hmac",                                                                     # 1
    "import os",                                                                       # 2
    "import sqlite3",                                                                  # 3
    "",                                                                                # 4
    "import requests",                                                                 # 5
    "from flask import Flask, jsonify, request",                                       # 6
    "",                                                                                # 7
    "app = Flask(__name__)",                                                           # 8
    'DB_PATH = os.environ.get("DB_PATH", "shop.db")',                                  # 9
    'SIGNING_KEY = "s3cr3t-7f2a9c"',                                                   # 10
    "",                                                                                # 11
    "",                                                                                # 12
    "def connect():",                                                                  # 13
    "    return sqlite3.connect(DB_PATH)",                                             # 14
    "",                                                                                # 15
    "",                                                                                # 16
    '@app.get("/items/search")',                                                       # 17
    "def search_items():",                                                             # 18
    '    q = request.args.get("q", "")',                                               # 19
    "    sql = f\"SELECT id, name FROM items WHERE name LIKE '%{q}%'\"",               # 20
    "    return jsonify(items=connect().execute(sql).fetchall())",                     # 21
    "",                                                                                # 22
    "",                                                                                # 23
    '@app.get("/items")',                                                              # 24
    "def list_items():",                                                               # 25
    '    rows = connect().execute("SELECT id, name FROM items").fetchall()',           # 26
    "    return jsonify(items=rows)",                                                  # 27
    "",                                                                                # 28
    "",                                                                                # 29
    '@app.post("/ship")',                                                              # 30
    "def ship_order():",                                                               # 31
    '    resp = requests.post("https://carrier.example/api", json=request.get_json())',  # 32
    "    return jsonify(status=resp.status_code)",                                     # 33
    "",                                                                                # 34
    "",                                                                                # 35
    "def check_token(token, expected):",                                               # 36
    "    return hmac.compare_digest(token, expected)",                                 # 37
]
APP = "\n".join(APP_LINES) + "\n"


def base_spec(case_id: str = "demo-case") -> dict:
    """A clean case: 4 findings, 1 trap, every check satisfied."""
    return {
        "id": case_id,
        "title": "Demo shop service",
        "kind": "api",
        "tags": ["python", "flask"],
        "request": "Please review this service before it ships.",
        "files": ["app.py"],
        "findings": [
            {"id": "sqli-search", "title": "SQL injection in search", "severity": "critical", "category": "security",
             "cwe": "CWE-89", "location": {"file": "app.py", "lines": [18, 21], "symbol": "search_items"},
             "keywords": ["sql injection", "bind parameter", "SQLインジェクション"],
             "anchors": ["search_items", "/items/search"], "rubric": "Says q is pasted into the SQL text.",
             "topics": ["injection"]},
            {"id": "hardcoded-key", "title": "Hard-coded signing key", "severity": "high", "category": "security",
             "location": {"file": "app.py", "lines": [10, 10], "symbol": "SIGNING_KEY"},
             "keywords": ["hard-coded secret", "ハードコード"], "anchors": ["SIGNING_KEY"],
             "rubric": "Says the key is a literal in source.", "topics": ["owasp-other"]},
            {"id": "list-unbounded", "title": "Unpaginated list", "severity": "medium", "category": "scalability",
             "location": {"file": "app.py", "lines": [25, 27], "symbol": "list_items"},
             "keywords": ["pagination", "unbounded result", "ページネーション"], "anchors": ["list_items"],
             "rubric": "Says every row is returned at once.", "topics": ["pagination"]},
            {"id": "ship-no-timeout", "title": "Carrier call without timeout", "severity": "medium",
             "category": "reliability", "location": {"file": "app.py", "lines": [31, 33], "symbol": "ship_order"},
             "keywords": ["no timeout", "hang", "タイムアウト"], "anchors": ["ship_order", "carrier.example"],
             "rubric": "Says requests.post has no timeout.", "topics": ["timeouts-retries"]},
        ],
        "traps": [
            {"id": "constant-time-compare", "title": "Constant-time token compare",
             "location": {"file": "app.py", "lines": [36, 37], "symbol": "check_token"},
             "keywords": ["timing attack", "constant time"], "anchors": ["check_token", "compare_digest"],
             "rubric": "Calling this compare unsafe is a false positive.", "topics": ["owasp-other"]},
        ],
    }


def write_case(root: Path, spec: dict, files: dict[str, str | bytes] | None = None, folder: str | None = None) -> Path:
    """Write a case folder under ``root`` (folder name = spec id unless given); returns the folder."""
    d = root / (folder or spec["id"])
    d.mkdir(parents=True, exist_ok=True)
    (d / "case.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    for name, content in ({"app.py": APP} if files is None else files).items():
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    return d


def only(problems: list[Problem], code: str, field: str | None = None) -> Problem:
    """The single problem with ``code`` (and ``field``), failing with the whole list otherwise."""
    hits = [p for p in problems if p.code == code and (field is None or p.field == field)]
    assert len(hits) == 1, "\n".join(map(str, problems))
    return hits[0]


def assert_names(p: Problem, file: Path, field: str, *expected: str) -> None:
    """The problem names the file, the field and what was expected (as it is printed)."""
    text = str(p)
    assert p.file == str(file) and text.startswith(f"{file}: {field}: "), text
    assert p.field == field
    for e in expected:
        assert e in p.message, text


def mutated(change) -> dict:
    spec = base_spec()
    change(spec)
    return spec


# ------------------------------------------------------------------------------------------------ clean case

def test_clean_case_has_no_problems(tmp_path):
    d = write_case(tmp_path, base_spec())
    assert validate_path(tmp_path) == []
    assert validate_path(d) == []
    assert validate_path(d / "case.yaml") == []


def test_keyword_matching_follows_the_grader_normalisation():
    for code in ("PARAMETERIZED_QUERY = 1", "parameterized-query", "parameterizedQuery", "Parameterized  queries"):
        assert keyword_occurs("parameterized query", code), code
    assert keyword_occurs("timeout", "timeouts_total_count")  # snake_case words, plural stemmed
    assert not keyword_occurs("time", "timeouts_total_count")  # whole words only
    assert keyword_occurs("タイムアウト", "接続のタイムアウトなし")
    assert not keyword_occurs(" - ", "anything")


# ------------------------------------------------------------------------------------------------ schema

def test_unknown_field_has_did_you_mean(tmp_path):
    spec = mutated(lambda s: s["findings"][0].update(keyword=s["findings"][0].pop("keywords")))
    d = write_case(tmp_path, spec)
    problems = validate_path(tmp_path)
    unknown = only(problems, "unknown-field", "findings[0].keyword")
    assert_names(unknown, d / "case.yaml", "findings[0].keyword", "unknown field 'keyword'", "did you mean 'keywords'")
    missing = only(problems, "schema", "findings[0].keywords")
    assert "required" in missing.message


def test_every_schema_error_is_listed_at_once(tmp_path):
    def change(s):
        s["kind"] = "service"
        s["findings"][0]["severity"] = "urgent"
        s["findings"][1]["category"] = "safety"
        s["findings"][2]["location"]["lines"] = "25-27"
        s["traps"][0]["anchors"] = "check_token"
    d = write_case(tmp_path, mutated(change))
    problems = validate_path(tmp_path)
    f = d / "case.yaml"
    assert_names(only(problems, "schema", "kind"), f, "kind", "'api'", "'service'")
    assert_names(only(problems, "schema", "findings[0].severity"), f, "findings[0].severity", "'critical'", "'urgent'")
    assert_names(only(problems, "schema", "findings[1].category"), f, "findings[1].category", "'security'", "'safety'")
    assert_names(only(problems, "schema", "findings[2].location.lines"), f, "findings[2].location.lines",
                 "line range [first, last]", "'25-27'")
    assert_names(only(problems, "schema", "traps[0].anchors"), f, "traps[0].anchors", "valid list")
    # the parts that validate on their own are still checked: break an anchor of a valid finding
    spec = mutated(change)
    spec["findings"][3]["anchors"] = ["ship_order", "dispatch_parcel"]
    write_case(tmp_path, spec)
    assert only(validate_path(tmp_path), "anchor-missing").field == "findings[3].anchors[1]"


def test_malformed_yaml_is_one_error(tmp_path):
    d = write_case(tmp_path, base_spec())
    (d / "case.yaml").write_text("id: demo-case\nfindings: [\n", encoding="utf-8")
    p = only(validate_path(tmp_path), "case-yaml")
    assert p.file == str(d / "case.yaml") and "malformed YAML" in p.message


def test_a_file_only_libyaml_reads_is_named(tmp_path):
    """'?' inside a flow sequence is read by libyaml and rejected by PyYAML's pure-Python loader: a suite that
    loads here would fail where PyYAML lacks libyaml, so the validator says where and what to do."""
    d = write_case(tmp_path, base_spec())
    f = d / "case.yaml"
    text = f.read_text(encoding="utf-8")
    m = re.search(r"^( *)keywords:\n(?:\1- .*\n)+", text, re.M)
    assert m, text
    flow = f"{m.group(1)}keywords: [ANY(?), sql injection]\n"
    f.write_text(text[:m.start()] + flow + text[m.end():], encoding="utf-8")
    with pytest.raises(yaml.YAMLError):
        yaml.load(f.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    problems = validate_path(tmp_path)
    if getattr(yaml, "CSafeLoader", None) is not None:
        p = only(problems, "yaml-portability")
        assert p.severity == "warning" and p.file == str(f)
        assert "pure-Python loader rejects" in p.message and "quote" in p.message and "line " in p.message
    else:  # without libyaml the case simply does not load, and says so
        assert only(problems, "case-yaml").file == str(f)


def test_case_errors_skips_the_pure_python_parse_that_only_warns(tmp_path, monkeypatch):
    """``harness run`` checks its cases with :func:`case_errors` (errors only): the yaml-portability check, which
    can only warn, is not run there (it parsed every case.yaml a second time with the slow pure-Python loader
    before every run); ``harness validate`` still runs it."""
    import harness.validate as v
    d = write_case(tmp_path, base_spec())
    calls = []
    real = v._yaml_portability
    monkeypatch.setattr(v, "_yaml_portability", lambda f: calls.append(f) or real(f))
    assert v.case_errors(d) == []
    assert calls == []
    validate_path(tmp_path)
    assert calls == [d / "case.yaml"]


def test_duplicate_ids_within_a_case(tmp_path):
    def change(s):
        s["findings"][2]["id"] = "sqli-search"
        s["traps"][0]["id"] = "hardcoded-key"
    d = write_case(tmp_path, mutated(change))
    problems = validate_path(tmp_path)
    assert_names(only(problems, "duplicate-id", "findings[2].id"), d / "case.yaml", "findings[2].id",
                 "'sqli-search'", "findings[0].id", "expected finding and trap ids unique")
    assert_names(only(problems, "duplicate-id", "traps[0].id"), d / "case.yaml", "traps[0].id", "'hardcoded-key'")


def test_duplicate_case_ids_across_the_suite(tmp_path):
    write_case(tmp_path / "api", base_spec())
    d2 = write_case(tmp_path / "schema", base_spec())
    p = only(validate_path(tmp_path), "duplicate-case-id")
    assert_names(p, d2 / "case.yaml", "id", "'demo-case'", str(tmp_path / "api" / "demo-case" / "case.yaml"),
                 "expected ids unique across the suite")


def test_folder_name_differs_from_id(tmp_path):
    d = write_case(tmp_path, base_spec(), folder="demo-case-v2")
    assert_names(only(validate_path(tmp_path), "id-folder"), d / "case.yaml", "id", "'demo-case-v2'", "'demo-case'",
                 "expected them equal")


def test_folder_with_files_but_no_case_yaml(tmp_path):
    write_case(tmp_path / "api", base_spec())
    stray = tmp_path / "api" / "half-written"
    (stray / "src").mkdir(parents=True)
    (stray / "case.yml").write_text("id: half-written\n", encoding="utf-8")
    (stray / "src" / "app.py").write_text(APP, encoding="utf-8")
    p = only(validate_path(tmp_path), "no-case-yaml")  # once, not again for src/
    assert p.file == str(stray) and "case.yml" in p.message and "expected every case folder" in p.message


# ------------------------------------------------------------------------------------------------ files

LIMIT = len(APP.encode())  # app.py is exactly at the size limit in the too-large test


@pytest.mark.parametrize("kind, rel, content, expected", [
    ("missing", "gone.py", None, "does not exist"),
    ("absolute", "<outside>", None, "expected a path relative to the case folder"),
    ("dotdot", "../outside.py", None, "leaves the case folder"),
    ("symlink", "link.py", "<symlink>", "link leading out of the case folder"),
    ("binary", "blob.py", b"abc\x00def\n", "binary"),
    ("non-utf8", "latin.py", "caf\xe9\n".encode("latin-1"), "not UTF-8"),
    ("empty", "empty.py", "  \n", "empty"),
    ("too-large", "big.py", "x = 1\n" * 1000, f"over the limit of {LIMIT} bytes"),
])
def test_bad_artifact_files(tmp_path, kind, rel, content, expected):
    outside = tmp_path / "outside.py"  # a readable file beside the suite, never inside the case
    outside.write_text("print('secret')\n", encoding="utf-8")
    rel = str(outside) if rel == "<outside>" else rel
    files = {"app.py": APP} if content in (None, "<symlink>") else {"app.py": APP, rel: content}
    suite = tmp_path / "suite"
    d = write_case(suite, mutated(lambda s: s["files"].append(rel)), files)
    if content == "<symlink>":
        os.symlink(outside, d / rel)
    problems = validate_path(suite, max_file_bytes=LIMIT)
    p = only(problems, "bad-file")
    assert_names(p, d / "case.yaml", "files[1]", expected)


def test_file_listed_twice(tmp_path):
    d = write_case(tmp_path, mutated(lambda s: s["files"].append("app.py")))
    assert_names(only(validate_path(tmp_path), "duplicate-file"), d / "case.yaml", "files[1]", "listed twice",
                 "expected each file once")


# ------------------------------------------------------------------------------------------------ locations

def test_location_file_not_among_files(tmp_path):
    d = write_case(tmp_path, mutated(lambda s: s["findings"][1]["location"].update(file="settings.py")),
                   {"app.py": APP, "settings.py": APP})
    assert_names(only(validate_path(tmp_path), "location-file"), d / "case.yaml", "findings[1].location.file",
                 "'settings.py'", "expected one of ['app.py']")


def test_location_lines_past_the_end(tmp_path):
    d = write_case(tmp_path, mutated(lambda s: s["findings"][3]["location"].update(lines=[31, 40])))
    assert_names(only(validate_path(tmp_path), "location-lines"), d / "case.yaml", "findings[3].location.lines",
                 "[31, 40]", f"({len(APP_LINES)} lines)", f"expected 1 <= start <= end <= {len(APP_LINES)}")


def test_symbol_not_within_lines(tmp_path):
    d = write_case(tmp_path, mutated(lambda s: s["findings"][0]["location"].update(lines=[19, 21])))
    assert_names(only(validate_path(tmp_path), "location-symbol"), d / "case.yaml", "findings[0].location.symbol",
                 "'search_items'", "lines 19-21", "expected it literally within location.lines")


def test_anchor_missing_from_every_file(tmp_path):
    d = write_case(tmp_path, mutated(lambda s: s["traps"][0]["anchors"].append("verify_token")))
    problems = validate_path(tmp_path)
    assert_names(only(problems, "anchor-missing"), d / "case.yaml", "traps[0].anchors[2]", "'verify_token'",
                 "app.py", "expected every anchor literally (case-insensitive")
    # case-insensitive: an anchor in another case still matches
    write_case(tmp_path, mutated(lambda s: s["traps"][0]["anchors"].append("COMPARE_DIGEST")))
    assert validate_path(tmp_path) == []


def test_blank_keyword(tmp_path):
    d = write_case(tmp_path, mutated(lambda s: s["findings"][2]["keywords"].append(" _ ")))
    assert_names(only(validate_path(tmp_path), "blank-evidence"), d / "case.yaml", "findings[2].keywords[3]",
                 "would match every review", "expected a word or phrase")


def test_keyword_split_by_a_yaml_flow_list(tmp_path):
    split = yaml.safe_load("[unique (tenant_id, name)]")  # the pitfall: YAML splits the unquoted item at its comma
    assert split == ["unique (tenant_id", "name)"]
    d = write_case(tmp_path, mutated(lambda s: s["findings"][2]["keywords"].extend(split)))
    p = only(validate_path(tmp_path), "split-evidence")
    assert_names(p, d / "case.yaml", "findings[2].keywords[3]", "'unique (tenant_id'", "'name)'",
                 'expected the whole phrase as one quoted item: "unique (tenant_id, name)"')
    # a deliberate code prefix such as `cors(` is not a split
    write_case(tmp_path, mutated(lambda s: s["traps"][0]["anchors"].insert(0, "compare_digest(")))
    assert validate_path(tmp_path) == []


# ------------------------------------------------------------------------------------------------ evidence quality

def test_leaky_keyword_is_a_warning(tmp_path):
    # "signing key" matches SIGNING_KEY (line 10) once snake_case and spaces are treated alike;
    # "sqlite3" occurs only on lines 3 and 14, outside list_items' window (lines 22-30), so it is not flagged.
    def change(s):
        s["findings"][1]["keywords"].append("signing key")
        s["findings"][2]["keywords"].append("sqlite3")
    d = write_case(tmp_path, mutated(change))
    p = only(validate_path(tmp_path), "leaky-keyword")
    assert p.severity == "warning"
    assert_names(p, d / "case.yaml", "findings[1].keywords[2]", "'signing key'", "app.py lines 7-13",
                 "expected keywords naming the defect that the code there does not contain")


def test_findings_that_cannot_be_told_apart(tmp_path):
    def change(s):
        s["findings"][3]["anchors"].append("search_items")
        s["findings"][3]["keywords"].append("SQL_Injection")
    d = write_case(tmp_path, mutated(change))
    p = only(validate_path(tmp_path), "indistinct-findings")
    assert p.severity == "warning" and p.item == "ship-no-timeout"
    assert_names(p, d / "case.yaml", "findings[3]", "['search_items']", "['SQL_Injection']", "findings[0]",
                 "expected the two findings to differ")
    # sharing only anchors (or only keywords) is fine
    write_case(tmp_path, mutated(lambda s: s["findings"][3]["anchors"].append("search_items")))
    assert validate_path(tmp_path) == []


# ------------------------------------------------------------------------------------------------ topics

def test_unknown_topic(tmp_path):
    d = write_case(tmp_path, mutated(lambda s: s["findings"][2]["topics"].append("paginaton")))
    p = only(validate_path(tmp_path), "unknown-topic")
    assert p.severity == "error"
    # the topics are listed, not only named by where they are defined (a fresh user's report, 2026-12-08)
    assert_names(p, d / "case.yaml", "findings[2].topics[1]", "'paginaton'", "Expected one of: ", "pagination, ",
                 "did you mean 'pagination'")


def test_finding_without_topics(tmp_path):
    d = write_case(tmp_path, mutated(lambda s: s["findings"][0].pop("topics")))
    p = only(validate_path(tmp_path), "no-topics")
    assert p.severity == "warning"
    assert_names(p, d / "case.yaml", "findings[0].topics", "expected 1-3 topics")


# ------------------------------------------------------------------------------------------------ counts

def test_zero_findings_must_be_tagged_control(tmp_path):
    d = write_case(tmp_path, mutated(lambda s: s.update(findings=[])))
    p = only(validate_path(tmp_path), "control-untagged")
    assert p.severity == "error"
    assert_names(p, d / "case.yaml", "findings", "not tagged 'control'", "expected 4-8 findings, or tags: [control]")


def test_control_case_with_two_traps_is_clean(tmp_path):
    def change(s):
        s["findings"] = []
        s["tags"].append("control")
        s["traps"].append({**copy.deepcopy(s["traps"][0]), "id": "second-trap"})
    write_case(tmp_path, mutated(change))
    assert validate_path(tmp_path) == []


def test_control_case_with_findings(tmp_path):
    d = write_case(tmp_path, mutated(lambda s: s["tags"].append("control")))
    assert_names(only(validate_path(tmp_path), "control-with-findings"), d / "case.yaml", "tags", "4 findings",
                 "expected a control case to have 0 findings")


def test_finding_count_outside_4_to_8(tmp_path):
    d = write_case(tmp_path, mutated(lambda s: s["findings"].pop()))
    p = only(validate_path(tmp_path), "finding-count")
    assert p.severity == "warning"
    assert_names(p, d / "case.yaml", "findings", "3 findings", "expected 4-8 per case")


def test_more_than_two_traps(tmp_path):
    def change(s):
        s["traps"] += [{**copy.deepcopy(s["traps"][0]), "id": f"trap-{i}"} for i in range(2)]
    d = write_case(tmp_path, mutated(change))
    p = only(validate_path(tmp_path), "trap-count")
    assert p.severity == "warning"
    assert_names(p, d / "case.yaml", "traps", "3 traps", "expected at most 2")


def test_every_problem_of_every_case_is_reported(tmp_path):
    def change(s):
        s["findings"][0]["anchors"].append("nowhere_fn")
        s["findings"][1]["location"]["lines"] = [10, 99]
        s["findings"][2]["topics"] = ["cache"]
        s["files"].append("missing.py")
    write_case(tmp_path / "api", mutated(change))
    write_case(tmp_path / "schema", mutated(lambda s: s.update(id="other-case", kind="bogus")), folder="other-case")
    codes = sorted(p.code for p in validate_path(tmp_path))
    assert codes == ["anchor-missing", "bad-file", "location-lines", "schema", "unknown-topic"]


# ------------------------------------------------------------------------------------------------ allow file

def _warning_suite(tmp_path: Path) -> Path:
    write_case(tmp_path, mutated(lambda s: s["findings"][1]["keywords"].append("signing key")))
    return tmp_path


def test_allow_file_explains_a_warning(tmp_path):
    suite = _warning_suite(tmp_path)
    (suite / "validate-allow.yaml").write_text(yaml.safe_dump([
        {"case": "demo-case", "id": "hardcoded-key", "code": "leaky-keyword", "reason": "reviewers name the constant"},
    ]), encoding="utf-8")
    p = only(validate_path(suite), "leaky-keyword")
    assert p.explained == "reviewers name the constant"
    assert "warning (explained: reviewers name the constant)" in str(p)
    assert main(["validate", "--strict", str(suite)]) == 0
    assert main(["validate", "--strict", str(suite / "demo-case")]) == 0


def test_allow_file_entry_matching_nothing_is_a_warning(tmp_path):
    suite = _warning_suite(tmp_path)
    allow = suite / "validate-allow.yaml"
    allow.write_text(yaml.safe_dump([
        {"case": "demo-case", "id": "sqli-search", "code": "leaky-keyword", "reason": "old"},
        {"case": "gone-case", "id": "x", "code": "no-topics", "reason": "old"},
        {"case": "demo-case", "id": "demo-case", "code": "anchor-missing", "reason": "old"},
    ]), encoding="utf-8")
    problems = validate_path(suite)
    unused = [p for p in problems if p.code == "allow-unused"]
    assert [p.field for p in unused] == ["[0]", "[1]", "[2]"]
    assert all(p.file == str(allow) and p.severity == "warning" and "expected it removed or corrected" in p.message
               for p in unused)
    assert "no 'leaky-keyword' warning on 'sqli-search'" in unused[0].message
    assert "no case 'gone-case'" in unused[1].message
    assert "not a warning code" in unused[2].message
    assert only(problems, "leaky-keyword").explained is None
    # validating one case folder judges only that case's entries
    assert [p.field for p in validate_path(suite / "demo-case") if p.code == "allow-unused"] == ["[0]", "[2]"]
    assert main(["validate", str(suite)]) == 0
    assert main(["validate", "--strict", str(suite)]) == 1


def test_malformed_allow_file_is_an_error(tmp_path):
    suite = _warning_suite(tmp_path)
    allow = suite / "validate-allow.yaml"
    allow.write_text(yaml.safe_dump([{"case": "demo-case", "id": "hardcoded-key", "code": "leaky-keyword",
                                      "why": "x"}]), encoding="utf-8")
    problems = [p for p in validate_path(suite) if p.code == "allow-file"]
    assert {p.field for p in problems} == {"[0].why", "[0].reason"}
    assert all(p.file == str(allow) and "expected" in p.message for p in problems)


# ------------------------------------------------------------------------------------------------ real data

def test_real_suite_has_no_errors_and_no_unexplained_warnings():
    problems = validate_path(SUITE)
    open_problems = [p for p in problems if p.severity == "error" or p.explained is None]
    assert not open_problems, "\n".join(map(str, open_problems))


@pytest.mark.skipif(not CALIBRATION.is_dir(), reason="calibration set ../shared/calibration is absent")
def test_calibration_cases_pass_the_format_checks():
    """The six calibration cases load and pass every check except the two location conventions that
    CASE_FORMAT.md v1 leaves open and the suite's case brief tightens: ``symbol`` literally within
    ``location.lines`` and every anchor literally in ``location.file``. The calibration set names a symbol's
    enclosing definition (``search_orders`` for lines inside its body, ``§5 ...`` for a design section) and uses
    anchors such as ``orders.total``, ``POST /checkout`` or ``volumeClaimTemplates`` that a review would write
    but the file does not contain. It has no topics, so each of its findings carries a no-topics warning."""
    problems = validate_path(CALIBRATION)
    dirs = sorted(p.parent.name for p in CALIBRATION.glob("*/case.yaml"))
    assert len(dirs) == 6
    for d in dirs:
        load_case(CALIBRATION / d)
    other_errors = [p for p in problems if p.severity == "error"
                    and p.code not in {"location-symbol", "anchor-missing"}]
    assert not other_errors, "\n".join(map(str, other_errors))
    no_topics = [p for p in problems if p.code == "no-topics"]
    assert len(no_topics) == sum(len(load_case(CALIBRATION / d).findings) for d in dirs)


# ------------------------------------------------------------------------------------------------ coverage

def _spec(case_id: str, kind: str, request: str, findings: list[tuple[str, str, list[str]]], traps: int = 0,
          tags: tuple[str, ...] = ()) -> CaseSpec:
    loc = {"file": "a.py", "lines": [1, 1]}
    return CaseSpec.model_validate({
        "id": case_id, "title": case_id, "kind": kind, "request": request, "files": ["a.py"], "tags": list(tags),
        "findings": [{"id": f"f{i}", "title": "t", "severity": sev, "category": cat, "location": loc,
                      "keywords": ["k"], "anchors": ["a"], "rubric": "r", "topics": topics}
                     for i, (sev, cat, topics) in enumerate(findings)],
        "traps": [{"id": f"t{i}", "title": "t", "location": loc, "keywords": ["k"], "anchors": ["a"],
                   "rubric": "r", "topics": ["caching"]} for i in range(traps)]})


def test_coverage_counts():
    specs = [
        _spec("a", "api", "Please review this.", [("critical", "security", ["injection"]),
                                                  ("high", "security", ["injection", "jwt"]),
                                                  ("low", "observability", [])], traps=1),
        _spec("b", "schema", "このスキーマをレビューしてください。",
              [("medium", "performance", ["indexing"]), ("high", "data-integrity", ["injection"])]),
        _spec("c", "api", "カタカナ only: レビュー", [], traps=2, tags=("control",)),
    ]
    cov = coverage(specs)
    assert cov["totals"] == {"cases": 3, "findings": 5, "traps": 3, "control_cases": 1, "japanese_cases": 2,
                             "japanese_share": pytest.approx(2 / 3), "topic_gaps": cov["totals"]["topic_gaps"]}
    assert cov["by_kind"]["api"] == {"cases": 2, "findings": 3, "traps": 3}
    assert cov["by_kind"]["schema"] == {"cases": 1, "findings": 2, "traps": 0}
    assert cov["by_kind"]["infra"] == {"cases": 0, "findings": 0, "traps": 0}
    assert cov["by_category"]["security"] == {"cases": 1, "findings": 2}
    assert cov["by_category"]["scalability"] == {"cases": 0, "findings": 0}
    assert cov["by_severity"]["high"] == {"cases": 2, "findings": 2}
    assert cov["by_language"] == {"ja": {"cases": 2, "findings": 2, "traps": 2},
                                  "en": {"cases": 1, "findings": 3, "traps": 1}}
    from harness.topics import TOPICS
    assert list(cov["by_topic"]) == list(TOPICS)
    assert cov["by_topic"]["injection"] == {"cases": 2, "findings": 3, "traps": 0, "gap": False}
    assert cov["by_topic"]["jwt"] == {"cases": 1, "findings": 1, "traps": 0, "gap": True}
    assert cov["by_topic"]["caching"] == {"cases": 2, "findings": 0, "traps": 3, "gap": True}
    assert cov["totals"]["topic_gaps"] == len(TOPICS) - 1
    assert cov["unknown_topics"] == []
    assert coverage([])["totals"]["japanese_share"] == 0.0


# ------------------------------------------------------------------------------------------------ CLI

def test_cli_exit_codes(tmp_path, capsys):
    clean = tmp_path / "clean"
    write_case(clean, base_spec())
    assert main(["validate", str(clean)]) == 0
    broken = tmp_path / "broken"
    write_case(broken, mutated(lambda s: s["findings"][0]["anchors"].append("nowhere_fn")))
    assert main(["validate", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "findings[0].anchors[2]: error: anchor 'nowhere_fn'" in out and "1 error(s)" in out
    warned = _warning_suite(tmp_path / "warned")
    assert main(["validate", str(warned)]) == 0
    assert main(["validate", "--strict", str(warned)]) == 1
    assert main(["validate", str(tmp_path / "does-not-exist")]) == 2


def test_cli_suite_prints_coverage(tmp_path, capsys):
    write_case(tmp_path, base_spec())
    assert main(["suite", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for text in ("Per kind", "Per category", "Per severity", "Per request language", "Per topic", "Totals",
                 "pagination", "GAP", "control cases"):
        assert text in out
    write_case(tmp_path, mutated(lambda s: s.update(id="broken-case", kind="bogus")), folder="broken-case")
    assert main(["suite", str(tmp_path)]) == 1
    assert "left out" in capsys.readouterr().out


def test_anchor_may_come_from_another_file_the_request_or_a_route_with_its_method(tmp_path):
    def change(s):
        s["files"].append("routes.txt")
        s["request"] = "Please review this service; the ops runbook calls it shop-api."
        s["findings"][0]["anchors"] = ["search_items", "GET /items/search", "shop-api", "ITEM_ROUTES"]
    d = write_case(tmp_path, mutated(change), {"app.py": APP, "routes.txt": "ITEM_ROUTES = ['/items/search']\n"})
    assert not [p for p in validate_path(tmp_path) if p.code == "anchor-missing"], d
    # an anchor that occurs nowhere is still an error, naming the file and the field
    spec = mutated(change)
    spec["findings"][0]["anchors"].append("POST /nowhere")
    write_case(tmp_path, spec, {"app.py": APP, "routes.txt": "ITEM_ROUTES = ['/items/search']\n"})
    p = only(validate_path(tmp_path), "anchor-missing")
    assert p.field == "findings[0].anchors[4]" and "any file of the case" in p.message
