"""Text made safe before it is written (issue 14): a lone surrogate in a model's reply is replaced and the
replacement recorded, in every cache mode; a case whose title holds one is rejected by ``harness validate``."""

from __future__ import annotations

import json

import pytest

from harness.cases import load_case
from harness.cli import main as cli_main
from harness.errors import CaseError
from harness.testing.fakeserver import FakeServer
from harness.records import RunDir
from harness.textsafe import REPLACEMENT, find_unsafe, safe_obj, safe_text

from .conftest import write_case
from .crash_child import MODEL, review_responder, write_project

KEY = "sk-ant-test-textsafe-0000"


def test_safe_text_replaces_lone_surrogates_only():
    assert safe_text("ok 😀 done") == ("ok 😀 done", 0)
    assert safe_text("cut \ud83d here") == (f"cut {REPLACEMENT} here", 1)
    assert safe_obj({"a": ["\udc00", {"\ud800k": "x"}], "n": 3}) == ({"a": [REPLACEMENT, {f"{REPLACEMENT}k": "x"}],
                                                                      "n": 3}, 2)
    assert find_unsafe("fine") is None and find_unsafe("ab\ud83d") == 2


@pytest.mark.parametrize("cache", ["use", "off"])
def test_a_lone_surrogate_in_a_reply_is_replaced_and_recorded(tmp_path, monkeypatch, capsys, cache):
    project = write_project(tmp_path / "proj", 2)
    run_dir = tmp_path / "run"

    def responder(body):
        return review_responder(body) + " \ud83d"   # half of an emoji, sent as a \\ud83d JSON escape
    with FakeServer(responder) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
        code = cli_main(["--root", str(project), "run", "--model", MODEL, "--cases", "all", "--run-dir",
                         str(run_dir), "--no-progress", "--cache", cache])
    err = capsys.readouterr().err
    assert code == 0, err
    recs = RunDir.open(run_dir).read_samples().records
    assert len(recs) == 2 and all(r.outcome == "ok" and r.text_replaced == 1 for r in recs)
    assert all(r.review.endswith(REPLACEMENT) for r in recs)
    entries = list((tmp_path / "cache").rglob("*.json"))
    if cache == "use":
        assert len(entries) == 2
        assert all(json.loads(p.read_text(encoding="utf-8"))["extra"]["text_replaced"] == 1 for p in entries)
    else:
        assert entries == []


def test_a_case_title_with_a_lone_surrogate_is_rejected_by_validate(tmp_path, capsys):
    folder = write_case(tmp_path / "cases", "demo-case")
    y = folder / "case.yaml"
    y.write_text(y.read_text(encoding="utf-8").replace("title: Demo", 'title: "Demo \\ud83d"', 1), encoding="utf-8")
    with pytest.raises(CaseError) as ei:
        load_case(folder)
    assert ei.value.field == "title" and "lone surrogate" in ei.value.message and str(y) in str(ei.value)
    assert cli_main(["validate", str(tmp_path / "cases")]) == 1
    out = capsys.readouterr()
    assert "title" in out.out + out.err and "lone surrogate" in out.out + out.err
