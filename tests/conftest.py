"""Shared fixtures for the harness's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CALIBRATION = SHARED / "calibration"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own response cache and no real API key."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    yield


def write_case(root: Path, case_id: str = "demo-case", *, files: dict[str, str] | None = None,
               yaml_text: str | None = None, kind: str = "api") -> Path:
    """Write a small valid case (or the given case.yaml text) under root/<case_id>/; returns the folder."""
    folder = root / case_id
    folder.mkdir(parents=True, exist_ok=True)
    files = files if files is not None else {
        "app.py": "def search_orders(q):\n    sql = f\"SELECT * FROM o WHERE s='{q}'\"\n"
                  "    return db.execute(sql)\n\ndef get_order(i):\n    return 1\n"}
    for name, text in files.items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    if yaml_text is None:
        yaml_text = f"""id: {case_id}
title: Demo
kind: {kind}
tags: [python, smoke]
request: Please review app.py of {case_id}.
files: [app.py]
findings:
  - id: sqli
    title: SQL injection in search_orders
    severity: critical
    category: security
    cwe: CWE-89
    location: {{file: app.py, lines: [1, 3], symbol: search_orders}}
    keywords: [sql injection, bind parameter]
    anchors: [search_orders]
    rubric: Says search_orders formats q into SQL.
traps:
  - id: get-order-ok
    title: get_order is fine
    location: {{file: app.py, lines: [5, 6]}}
    keywords: [get order]
    anchors: [get_order]
    rubric: Calling get_order a defect is a false positive.
"""
    (folder / "case.yaml").write_text(yaml_text, encoding="utf-8")
    return folder


@pytest.fixture
def case_dir(tmp_path) -> Path:
    return write_case(tmp_path / "cases")
