"""Prompt loading: sub-agent format, fingerprints, git:REV:PATH, named errors."""

import hashlib
import subprocess

import pytest

from harness.errors import PromptError
from harness.prompts import load_prompt, parse_prompt

from .conftest import ROOT, SHARED


def test_v1_is_the_shared_prompt_unchanged():
    v1 = ROOT / "prompts/backend-reliability-engineer/v1.md"
    shared = SHARED / "prompts/backend-reliability-engineer.md"
    if not shared.exists():
        pytest.skip("../shared is absent")
    assert v1.read_bytes() == shared.read_bytes()
    p = load_prompt(v1)
    assert p.name == "backend-reliability-engineer" and p.label == "v1"
    assert p.fingerprint == hashlib.sha256(p.body.encode()).hexdigest()
    assert p.meta["color"] == "yellow" and not p.body.startswith("---")


def test_body_and_optional_fields():
    p = parse_prompt("---\nname: a\ndescription: b\nmodel: sonnet\ntools: Read, Grep\n---\n\nBody text\n",
                     source="x.md")
    assert p.body == "Body text" and p.meta["tools"] == "Read, Grep"


@pytest.mark.parametrize("text, match", [
    ("no front matter here", "no front matter"),
    ("---\nname: a\ndescription: b\n", "not closed"),
    ("---\nname: [a\n---\nbody", "malformed YAML"),
    ("---\nname: a\n---\nbody", "description"),
    ("---\nname: a\ndescription: b\nmodle: x\n---\nbody", "unknown front-matter"),
    ("---\nname: a\ndescription: b\n---\n   \n", "empty"),
    ("---\n- a\n---\nbody", "mapping"),
])
def test_bad_prompts_are_named_errors(text, match):
    with pytest.raises(PromptError, match=match) as ei:
        parse_prompt(text, source="agent.md")
    assert "agent.md" in str(ei.value)


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(PromptError, match="does not exist"):
        load_prompt(tmp_path / "nope.md")
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"---\nname: \xff\n---\n")
    with pytest.raises(PromptError, match="UTF-8"):
        load_prompt(bad)


def test_git_revision(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    run = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (repo / "p.md").write_text("---\nname: a\ndescription: b\n---\nold body\n")
    run("add", ".")
    run("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "one")
    (repo / "p.md").write_text("---\nname: a\ndescription: b\n---\nnew body\n")
    old = load_prompt("git:HEAD:p.md", root=repo)
    assert old.body == "old body" and old.label.startswith("p@")
    assert load_prompt("p.md", root=repo).body == "new body"
    with pytest.raises(PromptError, match="unknown-rev"):
        load_prompt("git:unknown-rev:p.md", root=repo)
    with pytest.raises(PromptError, match="git:REV:PATH"):
        load_prompt("git:HEAD", root=repo)
