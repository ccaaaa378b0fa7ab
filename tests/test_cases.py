"""Case loading: schema, artifacts, selection, fingerprints, and every bad-input error names file and field."""

import os

import pytest

from harness.cases import load_case, load_suite, select_cases, suite_fingerprint
from harness.errors import CaseError

from .conftest import CALIBRATION, write_case


def test_valid_case_loads(case_dir):
    c = load_case(case_dir)
    assert c.id == "demo-case" and c.kind == "api" and c.findings[0].severity == "critical"
    assert c.artifact("app.py").startswith("def search_orders")
    assert len(c.fingerprint) == 64


def test_calibration_cases_load():
    if not CALIBRATION.exists():
        pytest.skip("../shared/calibration is absent")
    cases = load_suite(CALIBRATION)
    assert len(cases) == 6 and all(c.findings for c in cases)


def _yaml(case_dir):
    return (case_dir / "case.yaml").read_text()


@pytest.mark.parametrize("old, new, field, expect", [
    ("severity: critical", "severity: catastrophic", "findings[0].severity", "critical"),
    ("kind: api", "kind: webapp", "kind", "api"),
    ("category: security", "category: sec", "findings[0].category", "security"),
    ("    rubric: Says", "    rubrc: x\n    rubric: Says", "findings[0].rubrc", "did you mean 'rubric'"),
    ("lines: [1, 3]", "lines: [3, 1]", "findings[0].location.lines", "start <= end"),
    ("lines: [1, 3]", "lines: one", "findings[0].location.lines", "line range [first, last]"),
    ("id: get-order-ok", "id: sqli", "traps", "duplicate id"),
    ("cwe: CWE-89", "cwe: CWE89", "findings[0].cwe", "CWE-<number>"),
])
def test_schema_errors_name_field_and_expectation(case_dir, old, new, field, expect):
    (case_dir / "case.yaml").write_text(_yaml(case_dir).replace(old, new, 1))
    with pytest.raises(CaseError) as ei:
        load_case(case_dir)
    msg = str(ei.value)
    assert "case.yaml" in msg and field in msg and expect in msg


@pytest.mark.parametrize("content, expect", [
    (b"id: [unclosed", "malformed YAML"),
    (b"", "empty"),
    (b"- a\n- b\n", "mapping"),
    (b"id: x\xff\n", "UTF-8"),
])
def test_unparseable_case_yaml(case_dir, content, expect):
    (case_dir / "case.yaml").write_bytes(content)
    with pytest.raises(CaseError, match=expect):
        load_case(case_dir)


def test_folder_name_must_equal_id(tmp_path):
    d = write_case(tmp_path, "demo-case")
    d2 = d.rename(tmp_path / "other-name")
    with pytest.raises(CaseError, match="folder name 'other-name' differs"):
        load_case(d2)


@pytest.mark.parametrize("path, expect", [
    ("/etc/passwd", "relative"),
    ("../outside.py", "leaves the case folder"),
    ("missing.py", "does not exist"),
])
def test_bad_file_paths(case_dir, path, expect):
    (case_dir / "case.yaml").write_text(_yaml(case_dir).replace("files: [app.py]", f"files: [app.py, '{path}']"))
    with pytest.raises(CaseError) as ei:
        load_case(case_dir)
    assert expect in str(ei.value) and "files[1]" in str(ei.value)


def test_symlink_out_of_case_folder(case_dir, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, case_dir / "link.py")
    (case_dir / "case.yaml").write_text(_yaml(case_dir).replace("files: [app.py]", "files: [app.py, link.py]"))
    with pytest.raises(CaseError, match="link leading out"):
        load_case(case_dir)


@pytest.mark.parametrize("data, expect", [
    (b"\x00\x01\x02binary", "binary"),
    (b"caf\xe9 latin-1", "not UTF-8"),
    (b"   \n", "empty"),
])
def test_bad_artifact_contents(case_dir, data, expect):
    (case_dir / "app.py").write_bytes(data)
    with pytest.raises(CaseError, match=expect):
        load_case(case_dir)


def test_huge_file_refused_with_size(case_dir):
    (case_dir / "app.py").write_text("x = 1\n" * 1000)
    with pytest.raises(CaseError, match=r"6000 bytes, over the limit of 100 bytes"):
        load_case(case_dir, max_file_bytes=100)


def test_location_file_must_be_listed(case_dir):
    (case_dir / "case.yaml").write_text(_yaml(case_dir).replace("{file: app.py, lines: [1, 3]",
                                                                "{file: other.py, lines: [1, 3]"))
    with pytest.raises(CaseError, match=r"findings\[0\]\.location\.file"):
        load_case(case_dir)


def test_duplicate_case_ids_across_suite(tmp_path):
    write_case(tmp_path / "a", "same-id")
    write_case(tmp_path / "b", "same-id")
    with pytest.raises(CaseError, match="duplicate case id"):
        load_suite(tmp_path)


def test_selection_by_id_tag_kind_and_typo(tmp_path):
    write_case(tmp_path, "one")
    write_case(tmp_path, "two", kind="schema")
    cases = load_suite(tmp_path)
    assert [c.id for c in select_cases(cases, "one")] == ["one"]
    assert [c.id for c in select_cases(cases, "schema")] == ["two"]
    assert len(select_cases(cases, "smoke")) == 2 and len(select_cases(cases, "all")) == 2
    with pytest.raises(CaseError, match="did you mean 'one'"):
        select_cases(cases, "onee")


def test_suite_fingerprint_changes_with_artifacts(tmp_path):
    d = write_case(tmp_path, "one")
    before = suite_fingerprint(load_suite(tmp_path))
    (d / "app.py").write_text((d / "app.py").read_text() + "# more\n")
    assert suite_fingerprint(load_suite(tmp_path)) != before


@pytest.mark.parametrize("lines, expect", [("[26]", r"lines: expected \[first, last\] line numbers \(one line: "
                                                     r"\[26, 26\]\), got \[26\]"),
                                           ("[1, 2, 3]", r"lines: expected \[first, last\] line numbers, got "
                                                         r"\[1, 2, 3\]")])
def test_a_lines_entry_that_is_not_a_pair_says_first_last(case_dir, lines, expect):
    """Fresh-user report: `lines: [26]` said `location.lines[1]: required field is missing`."""
    y = case_dir / "case.yaml"
    y.write_text(y.read_text().replace("lines: [1, 3]", f"lines: {lines}"))
    with pytest.raises(CaseError, match=expect):
        load_case(case_dir)
