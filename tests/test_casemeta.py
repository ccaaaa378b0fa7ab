"""cases.json (harness.casemeta): round trip, bad files named, and a run's start imports none of the report stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from harness.casemeta import CASES_JSON, case_payload, read_cases_json, write_cases_json
from harness.cases import load_case
from harness.errors import RecordError

from .conftest import ROOT
from .crash_child import MODEL, write_project

HEAVY = ("pandas", "scipy", "matplotlib")


def test_round_trip_and_bad_file(case_dir, tmp_path):
    case = load_case(case_dir)
    path = write_cases_json(tmp_path, [case])
    got = read_cases_json(tmp_path)
    written = case_payload(case)
    assert path.name == CASES_JSON and list(got) == [case.id] and written["request_language"] == "en"
    for key in ("id", "kind", "tags", "title", "findings", "traps"):
        assert got[case.id][key] == written[key], key
    # an entry read back and written again is the same entry (harness grade keeps an edited case's entry)
    assert got[case.id] == written
    write_cases_json(tmp_path, list(got.values()))
    assert json.loads((tmp_path / CASES_JSON).read_text()) == [written]
    assert read_cases_json(tmp_path / "nowhere") is None
    (tmp_path / CASES_JSON).write_text(json.dumps({"id": "x"}), encoding="utf-8")
    with pytest.raises(RecordError, match="cases.json: invalid cases.json: expected a JSON list"):
        read_cases_json(tmp_path)


def _child(code: str, *args: str, env: dict | None = None) -> str:
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout.strip().splitlines()[-1]


def test_importing_the_runner_imports_no_report_stack():
    out = _child(f"""
        import sys, json
        import harness.runner, harness.commands, harness.pytest_plugin
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """)
    assert json.loads(out) == []


def test_harness_run_reaches_its_first_request_without_the_report_stack(tmp_path):
    project = write_project(tmp_path / "proj", 2)
    out = _child(f"""
        import json, os, sys
        from harness.testing.fakeserver import FakeServer, default_responder
        seen = []

        def responder(body):         # runs in this process: what is imported when the first request arrives
            if not seen:
                seen.append([m for m in {HEAVY!r} if m in sys.modules])
            return default_responder(body)

        with FakeServer(responder) as srv:
            os.environ["ANTHROPIC_BASE_URL"] = srv.base_url
            from harness.cli import main
            code = main(sys.argv[1:])
        print(json.dumps({{"code": code, "first": seen[0] if seen else None, "after": [m for m in {HEAVY!r}
                                                                               if m in sys.modules]}}))
    """, "--root", str(project), "run", "--model", MODEL, "--cases", "all", "--no-progress", "--cache", "off",
                 env={"ANTHROPIC_API_KEY": "sk-ant-test-imports", "HARNESS_CACHE_DIR": str(tmp_path / "cache")})
    got = json.loads(out)
    assert got["code"] == 0 and got["first"] == []
    assert "pandas" in got["after"]          # the report, written after the run, does load them: the check is live
