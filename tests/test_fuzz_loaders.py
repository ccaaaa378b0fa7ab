"""Bad input (issue 8): whatever is in a case folder or a prompt file, only a HarnessError escapes the loaders, and
bad command-line or pyproject values are named errors with exit code 2.

Property-based (hypothesis) over the case loader — random text and bytes as case.yaml, random YAML structures,
mutations of a valid case, random bytes in artifacts, random paths in ``files`` — and over the prompt parser.
"""

from __future__ import annotations

import os
import string
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.cases import load_case, load_suite, select_cases
from harness.cli import main as cli_main
from harness.errors import HarnessError, PromptError
from harness.prompts import load_prompt, parse_prompt

from .crash_child import MODEL, write_project

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                database=None)

VALID = {
    "id": "fz", "title": "Fuzz", "kind": "api", "tags": ["python"], "request": "Please review app.py.",
    "files": ["app.py"],
    "findings": [{"id": "sqli", "title": "SQL injection", "severity": "critical", "category": "security",
                  "cwe": "CWE-89", "location": {"file": "app.py", "lines": [1, 2], "symbol": "f"},
                  "keywords": ["sql injection"], "anchors": ["f"], "rubric": "Says f builds SQL from input."}],
    "traps": [{"id": "ok", "title": "fine", "location": {"file": "app.py", "lines": [2, 2]},
               "keywords": ["fine"], "anchors": ["g"], "rubric": "g is fine."}],
}
APP = "def f(q):\n    return db.execute(f\"SELECT {q}\")\n"

# Pieces that make text look like YAML (and like the case format), including YAML's sharper corners: tags that
# construct Python values, impossible dates, anchors and aliases, flow collections, complex keys, directives.
YAMLISH = ["id: ", "fz", "title: ", "kind: ", "api", "files: ", "findings:", "traps:", "location: ", "lines: ",
           "request: ", "- ", "  ", "    ", "\n", ": ", ":", "[", "]", "{", "}", ", ", "'", '"', "!!int ", "!!float ",
           "!!str ", "!!binary ", "!!timestamp ", "!!set ", "!!omap ", "!!python/object:os.system ", "!!null ",
           "2001-13-01", "2024-02-30", "2024-01-01", "1e309", "0x1F", "0o17", ".nan", "-.inf", "&a ", "*a", "*b",
           "? ", "|", ">-", "#", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "---\n", "...\n", "~", "null", "true", "no",
           "é", "日本", "\t", "\r", "\x85", "\ufeff", "\x00", "\\", "app.py", "../x", "/etc/passwd", "12", "-1", "0"]

yamlish = st.lists(st.sampled_from(YAMLISH), max_size=40).map("".join)
scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20) | \
    st.binary(max_size=10) | st.dates() | st.datetimes()
structures = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
    st.text(max_size=8) | st.integers(), kids, max_size=4), max_leaves=20)
keys_of_valid = ["id", "title", "kind", "tags", "request", "files", "findings", "traps"]

# Paths a case may name in ``files``: escapes, absolute and drive paths, odd characters, a link out of the folder,
# a folder, the case.yaml itself, empty and binary artifacts.
PATHS = ["app.py", "../outside.py", "/etc/passwd", "C:\\x.py", "c:x", "\\\\server\\share", "sub", "sub/", "./app.py",
         "sub/../app.py", "sub/../../outside.py", "link.py", "dirlink/x.py", "case.yaml", "empty.py", "bin.dat",
         "latin1.txt", "missing.py", "a\x00b", "", ".", "..", " ", "app.py ", "x" * 300, "日本.py", "~/x", "$HOME/x",
         "app.py\n"]


def _case_dir(root: Path, name: str = "fz") -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(APP, encoding="utf-8")
    return folder


def _only_harness_errors(fn, *args, **kwargs):
    """Call ``fn``; a HarnessError is fine (and must have a message), anything else fails the test."""
    try:
        return fn(*args, **kwargs)
    except HarnessError as e:
        assert str(e).strip()
        return None


# --- the case loader -------------------------------------------------------------------------------------------


@FUZZ
@given(text=st.text(max_size=300) | yamlish)
@example(text="a: 2001-13-01")           # a date YAML cannot build: ValueError from the YAML constructor
@example(text="id: !!int xyz")           # a tag whose constructor fails: ValueError
@example(text="id: !!float x")
@example(text="? [a]\n: b")              # an unhashable key
@example(text="!!python/object:os.system x")
@example(text="a: &a [*a]")              # a recursive alias
@example(text="\ufeffid: fz")
@example(text="!!int ")                   # IndexError inside PyYAML's int constructor
@example(text="!!bool x")                 # KeyError
@example(text="!!timestamp x")            # AttributeError
@example(text="[" * 3000)                 # RecursionError: nesting deeper than the parser's stack
def test_case_loader_random_text_raises_only_harness_errors(text):
    with tempfile.TemporaryDirectory() as tmp:
        folder = _case_dir(Path(tmp))
        (folder / "case.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        _only_harness_errors(load_case, folder)


@FUZZ
@given(data=st.binary(max_size=300))
def test_case_loader_random_bytes_raise_only_harness_errors(data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = _case_dir(Path(tmp))
        (folder / "case.yaml").write_bytes(data)
        _only_harness_errors(load_case, folder)


@FUZZ
@given(doc=structures)
def test_case_loader_random_structures_raise_only_harness_errors(doc):
    with tempfile.TemporaryDirectory() as tmp:
        folder = _case_dir(Path(tmp))
        (folder / "case.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        _only_harness_errors(load_case, folder)


@FUZZ
@given(key=st.sampled_from(keys_of_valid + ["findings.0", "findings.0.location", "findings.0.location.lines",
                                            "traps.0.location.lines", "findings.0.severity", "findings.0.cwe"]),
       value=structures)
def test_case_loader_mutated_valid_case_raises_only_harness_errors(key, value):
    import copy
    doc = copy.deepcopy(VALID)
    *path, last = key.split(".")
    node = doc
    for part in path:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    with tempfile.TemporaryDirectory() as tmp:
        folder = _case_dir(Path(tmp))
        (folder / "case.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        _only_harness_errors(load_case, folder)


def test_the_valid_case_used_by_the_fuzzers_loads():
    with tempfile.TemporaryDirectory() as tmp:
        folder = _case_dir(Path(tmp))
        (folder / "case.yaml").write_text(yaml.safe_dump(VALID), encoding="utf-8")
        case = load_case(folder)
        assert case.artifact("app.py") == APP


@FUZZ
@given(data=st.binary(max_size=400) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
@example(data=b"")
@example(data=b"\x00\x01")
@example(data=b"\xff\xfe")
@example(data=b"   \n\t")
def test_case_loader_random_artifact_bytes_raise_only_harness_errors(data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = _case_dir(Path(tmp))
        (folder / "app.py").write_bytes(data)
        (folder / "case.yaml").write_text(yaml.safe_dump(VALID), encoding="utf-8")
        case = _only_harness_errors(load_case, folder)
        if case is not None:  # what loads is exactly the bytes given, as text
            assert case.artifact("app.py").encode("utf-8") == data


@FUZZ
@given(files=st.lists(st.sampled_from(PATHS) | st.text(alphabet=string.printable + "é\x00", max_size=30),
                      min_size=1, max_size=4))
@example(files=["a\x00b"])
@example(files=["link.py"])
@example(files=["x" * 300])
def test_case_loader_random_paths_in_files_raise_only_harness_errors(files):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "outside.py").write_text("secret = 1\n")
        folder = _case_dir(root)
        (folder / "sub").mkdir()
        (folder / "empty.py").write_text("")
        (folder / "bin.dat").write_bytes(b"\x00\x01\x02")
        (folder / "latin1.txt").write_bytes("café\n".encode("latin-1"))
        os.symlink(root / "outside.py", folder / "link.py")
        os.symlink(root, folder / "dirlink")
        doc = dict(VALID, files=files, findings=[], traps=[])
        (folder / "case.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        case = _only_harness_errors(load_case, folder)
        if case is not None:  # whatever loaded lives inside the case folder
            for rel, _ in case.artifacts:
                assert (folder / rel).resolve().is_relative_to(folder.resolve())
                assert "secret" not in case.artifact(rel)


@FUZZ
@given(selector=st.text(max_size=40))
def test_case_selection_raises_only_harness_errors(selector):
    cases = _suite()
    _only_harness_errors(select_cases, cases, selector)


_SUITE: list = []


def _suite():
    if not _SUITE:
        with tempfile.TemporaryDirectory() as tmp:
            from .conftest import write_case
            for name in ("alpha-case", "beta-case"):
                write_case(Path(tmp) / "cases", name)
            _SUITE.extend(load_suite(Path(tmp) / "cases"))
    return _SUITE


# --- the prompt parser -----------------------------------------------------------------------------------------

FRONT = ["---\n", "name: ", "description: ", "model: ", "tools: ", "color: ", "x", "\n", "  ", ": ", "[", "]", "{",
         "}", "!!int x", "2001-13-01", "&a", "*a", "? [a]\n: b\n", "|", "- ", "'", '"', "\ufeff", "\r\n", "é", "#"]
frontish = st.lists(st.sampled_from(FRONT), max_size=30).map("".join)


@FUZZ
@given(text=st.text(max_size=300) | frontish | frontish.map(lambda t: "---\n" + t + "\n---\nbody\n"))
@example(text="---\nname: 2001-13-01\ndescription: d\n---\nbody\n")
@example(text="---\nname: !!int x\ndescription: d\n---\nbody\n")
@example(text="---\n? [a]\n: b\n---\nbody\n")
@example(text="---\n[1, 2]: x\n---\nbody\n")
@example(text="---\n---\n")
@example(text="---\nname: !!bool x\ndescription: d\n---\nbody\n")
@example(text="---\nname: " + "{" * 3000 + "\n---\nbody\n")
def test_prompt_parser_random_text_raises_only_prompt_errors(text):
    try:
        p = parse_prompt(text, source="fuzz.md")
    except PromptError as e:
        assert "fuzz.md" in str(e)
        return
    assert p.body.strip() and p.name.strip() and p.description.strip()


@FUZZ
@given(data=st.binary(max_size=300))
def test_prompt_loader_random_bytes_raise_only_harness_errors(data):
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "p.md").write_bytes(data)
        _only_harness_errors(load_prompt, "p.md", root=tmp)


# --- named errors at the command line (exit code 2) -------------------------------------------------------------


@pytest.fixture
def project(tmp_path) -> Path:
    return write_project(tmp_path / "proj", 3)


def _run(project: Path, *args: str) -> list[str]:
    return ["--root", str(project), "run", "--run-dir", str(project / "run"), "--no-progress", *args]


def test_cases_typo_is_a_named_error(project, capsys):
    code = cli_main(_run(project, "--model", MODEL, "--cases", "case-0l"))
    err = capsys.readouterr().err
    assert code == 2
    assert "--cases" in err and "'case-0l' matches no case id, tag or kind" in err
    assert "did you mean 'case-0" in err
    assert not (project / "run").exists()


@pytest.mark.parametrize("model,expect", [
    ("claude-sonnet-4-5", "expected anthropic/<model-id>"),
    ("anthropc/claude-sonnet-4-5", "expected anthropic/<model-id>"),
    ("openai/gpt-4o", "expected openai/<model>@<base-url>"),
    ("openai/gpt-4o@localhost:8000", "expected openai/<model>@http(s)://"),
    ("local/llama-3", "the only embedded model is local/smollm2-135m"),
])
def test_unknown_model_form_is_a_named_error(project, capsys, model, expect):
    code = cli_main(_run(project, "--model", model, "--cases", "all"))
    err = capsys.readouterr().err
    assert code == 2
    assert "--model" in err and expect in err and repr(model) in err
    assert not (project / "run").exists()


@pytest.mark.parametrize("line,field,expect", [
    ('concurrency = "many"', "tool.harness.concurrency", "valid integer"),
    ("epochs = 0", "tool.harness.epochs", "greater than or equal to 1"),
    ('cache_mode = "sometimes"', "tool.harness.cache_mode", "'use', 'refresh', 'off' or 'replay-only'"),
    ("concurency = 4", "tool.harness.concurency", "unknown key 'concurency'; did you mean 'concurrency'?"),
    ("request_timeout_s = -1", "tool.harness.request_timeout_s", "greater than 0"),
    ("concurrency = ", None, "malformed TOML"),
    ('cases_dir = "caf\xe9"', None, "UTF-8"),  # written as latin-1 below: a value that is not UTF-8
])
def test_malformed_pyproject_value_is_a_named_error(project, capsys, line, field, expect):
    pp = project / "pyproject.toml"
    text = pp.read_text()
    key = line.split("=")[0].strip()
    text = "\n".join(x for x in text.splitlines() if not x.startswith(f"{key} ="))
    text = text.replace("[tool.harness]\n", f"[tool.harness]\n{line}\n", 1)
    pp.write_bytes(text.encode("latin-1"))
    code = cli_main(_run(project, "--model", MODEL, "--cases", "all"))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "pyproject.toml" in err and expect in err, err
    if field:
        assert field in err, err
    assert not (project / "run").exists()
