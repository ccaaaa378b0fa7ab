"""The checks CI runs on the code itself (issue #17): the layers contract (import-linter), ruff and mypy, each as
the command a developer would type, plus the README's module list against the tree.

The tools come with the ``test`` extra (``pip install -e '.[test]'``); a missing tool fails the test, naming it.
Their configuration is in pyproject.toml (``[tool.importlinter]``, ``[tool.ruff]``, ``[tool.mypy]``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "harness"


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    # PYTHONPATH: the tools read this checkout's harness, never an installed copy elsewhere
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return path


def _assert_passes(cmd: list[str]) -> None:
    res = _run(cmd)
    assert res.returncode == 0, f"{' '.join(cmd)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"


def test_the_layers_contract_holds():
    _assert_passes([_tool("lint-imports"), "--no-cache"])


def test_ruff_finds_nothing():
    _assert_passes([sys.executable, "-m", "ruff", "check", "--no-cache", "harness", "tests", "bench", "evals"])


def test_mypy_finds_nothing():
    _assert_passes([sys.executable, "-m", "mypy", "harness"])


# ------------------------------------------------------------------------------------------ the contract's coverage

def _modules() -> set[str]:
    """Every module of the package, dotted; package ``__init__`` files as the package's name."""
    out = set()
    for p in PACKAGE.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        out.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def _contract_layers() -> list[list[str]]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in cfg["contracts"] if c["type"] == "layers"]
    return [[m for m in re.split(r"[|:\s]+", layer) if m] for layer in contract["layers"]]


def test_every_module_has_a_layer():
    # a new module is placed in the contract on purpose; one left out would be checked by nothing
    named = [m for layer in _contract_layers() for m in layer]
    assert len(named) == len(set(named)), "a module is named in two layers"
    # a package named as a layer covers its modules; the bare packages (harness, harness.graders, ...) hold no code
    # that imports upward, so they need no layer
    bare = {"harness", "harness.graders", "harness.models", "harness.report"}
    unplaced = sorted(m for m in _modules() - bare
                      if not any(m == n or m.startswith(n + ".") for n in named))
    assert unplaced == [], f"modules in no layer of [tool.importlinter] in pyproject.toml: {unplaced}"
    missing = sorted(n for n in named if n not in _modules())
    assert missing == [], f"layers naming modules that do not exist: {missing}"


def test_the_bare_packages_import_nothing():
    # what lets them stay out of the layers (test above)
    for pkg in ("graders", "models", "report"):
        src = (PACKAGE / pkg / "__init__.py").read_text()
        assert not re.search(r"^\s*(from|import)\s", src, re.M), f"harness/{pkg}/__init__.py imports something"


# ---------------------------------------------------------------------------------------------- README's layout

def _readme_layout() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `(harness/[\w/]+\.py)` — \S", section, re.M)


def _files_to_list() -> set[str]:
    # every module; an __init__.py only when it holds something (the empty ones just mark a package)
    return {str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
            if p.name != "__init__.py" or p.read_text().strip()}


def test_the_readme_layout_lists_every_module_once_and_nothing_else():
    listed = _readme_layout()
    assert len(listed) == len(set(listed)), f"listed twice: {sorted({m for m in listed if listed.count(m) > 1})}"
    actual = _files_to_list()
    assert sorted(actual - set(listed)) == [], "modules missing from README.md's Layout section"
    assert sorted(set(listed) - actual) == [], "README.md's Layout section lists modules that do not exist"


def test_the_layout_reader_finds_the_list():
    # the check above could pass vacuously if the reader found nothing
    listed = _readme_layout()
    assert len(listed) > 40 and "harness/pipeline.py" in listed
    assert "harness/graders/__init__.py" not in _files_to_list() and "harness/__init__.py" in _files_to_list()
