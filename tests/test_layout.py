"""The package's layout: the test doubles stay off the runtime path, and no module imports itself back.

The import graph is read from the source (every ``import`` statement, function-level ones included, as
import-linter's grimp reads it), so a cycle hidden inside a function counts too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import harness

PACKAGE = Path(harness.__file__).parent

# What a run, a report or the pytest plugin imports. None of them may pull in harness.testing (nor need aiohttp).
RUNTIME = ["harness.cli", "harness.commands", "harness.pipeline", "harness.runner", "harness.batch",
           "harness.pytest_plugin", "harness.nightly", "harness.graders.registry", "harness.graders.calibrate"]

# Cycles known and accepted: none. The test fails on any cycle not listed here.
KNOWN_CYCLES: list[set[str]] = []


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        parts = list(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return mods


def import_graph() -> dict[str, set[str]]:
    """``{module: {harness modules it imports}}``; ``from .x import name`` counts as importing ``x.name`` when
    that is a module, else ``x``. Implicit imports of parent packages are not edges (as in import-linter)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, (path, is_pkg) in mods.items():
        pkg = m if is_pkg else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                    b = ".".join(base + ([node.module] if node.module else []))
                else:
                    b = node.module or ""
                targets = [b] + [f"{b}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != m:
                    graph[m].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = set()
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.add(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(comp)
    return found


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [{"a", "b", "c"}]


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    # harness.runner imports the batch path inside a function (only --batch runs need it)
    assert "harness.batch" in graph["harness.runner"]
    assert "harness.retry" in graph["harness.graders.judge"]


def test_no_import_cycles_in_the_package():
    unexpected = [sorted(c) for c in cycles(import_graph()) if c not in KNOWN_CYCLES]
    assert unexpected == []


def test_nothing_outside_harness_testing_imports_it():
    graph = import_graph()
    offenders = {m: sorted(t for t in targets if t.startswith("harness.testing"))
                 for m, targets in graph.items() if not m.startswith("harness.testing")}
    assert {m: t for m, t in offenders.items() if t} == {}


def test_the_runtime_path_imports_without_the_test_doubles_and_without_aiohttp():
    # aiohttp is an optional dependency (the `testing` extra): block it, as if it were not installed
    code = f"""
import sys
class NoAiohttp:
    def find_spec(self, name, path=None, target=None):
        if name == "aiohttp" or name.startswith("aiohttp."):
            raise ModuleNotFoundError("No module named 'aiohttp'", name="aiohttp")
sys.meta_path.insert(0, NoAiohttp())
for m in {RUNTIME!r}:
    __import__(m)
print(sorted(m for m in sys.modules if m.startswith("harness.testing") or m.startswith("aiohttp")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_fake_server_names_aiohttp_as_what_is_missing():
    code = """
import sys
class NoAiohttp:
    def find_spec(self, name, path=None, target=None):
        if name == "aiohttp" or name.startswith("aiohttp."):
            raise ModuleNotFoundError("No module named 'aiohttp'", name="aiohttp")
sys.meta_path.insert(0, NoAiohttp())
import harness.testing.fakeserver
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "aiohttp" in out.stderr and "harness[testing]" in out.stderr
