"""harness.history: the per-run summary.json, discovering run directories, staleness, skipping with reasons."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness import history as H
from harness.errors import HarnessError
from harness.records import SUMMARY, RunDir
from harness.results import load_run, per_finding, per_trap, summarize
from harness.testing.synthetic import make_cases, write_synthetic_run

CASES = make_cases(8, findings_per_case=(2, 4), n_clean=1, seed=5)


def run(root: Path, name: str, **kw) -> Path:
    kw.setdefault("cases", CASES)
    kw.setdefault("run_id", name)
    return write_synthetic_run(root / name, **kw)


def set_started(path: Path, when: str) -> None:
    rd = RunDir.open(path)
    rd.manifest.started_at = when
    rd.write_manifest()


def test_summary_holds_the_run_metrics(tmp_path):
    p = run(tmp_path, "r1", epochs=3, seed=1, error_rate=0.1)
    path = H.write_run_summary(p)
    assert path == p / SUMMARY
    assert not [f for f in os.listdir(p) if f.endswith(".tmp")]            # atomic: no temp file left
    data = json.loads(path.read_text())
    assert data["schema"] == H.SCHEMA and data["schema_version"] == H.SCHEMA_VERSION
    assert data["run"]["run_id"] == "r1" and data["run"]["status"] == "complete"
    assert data["run"]["suite_fingerprint"] and data["run"]["prompts"][0]["fingerprint"]
    assert set(data["sources"]) == {"run.json", "samples.jsonl", "cases.json"}
    assert data["params"] == {"grader": "deterministic", "reducer": "mean",
                              "severity_weights": {"critical": 4.0, "high": 3.0, "medium": 2.0, "low": 1.0}}
    res = load_run(p)
    pf, pt = per_finding(res), per_trap(res)
    s = summarize(res, pf, pt)[0]
    (v,) = data["variants"]
    assert v["variant"] == s.variant
    for m in H.METRICS:
        got, want = v["metrics"][m], getattr(s, m)
        assert got["value"] == pytest.approx(want.value, nan_ok=True)
        assert (got["lo"] is None and np.isnan(want.lo)) or got["lo"] == pytest.approx(want.lo)
    assert v["counts"]["n_errors"] == s.n_errors > 0 and v["counts"]["n_samples"] == s.n_samples
    assert v["usage"]["cost_usd"] == pytest.approx(s.cost_usd) and v["usage"]["latency_p95_s"] > 0
    assert len(v["findings"]) == len(pf) and len(v["traps"]) == len(pt) and len(v["cases"]) == len(CASES)
    f0 = v["findings"][0]
    row = pf[(pf["case"] == f0["case"]) & (pf["finding"] == f0["finding"])].iloc[0]
    assert (f0["n_epochs"], f0["n_found"]) == (row["n_epochs"], row["n_found"])
    assert {c["group"] for c in v["categories"]} == set(pf["category"])
    json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))   # no NaN


def test_summary_of_a_run_with_two_variants(tmp_path):
    a = run(tmp_path, "a", seed=1)
    b = run(tmp_path, "b", seed=2, prompt_label="v2", shift=-0.3)
    with open(a / "samples.jsonl", "a", encoding="utf-8") as fh:
        fh.write((b / "samples.jsonl").read_text())
    data = json.loads(H.write_run_summary(a).read_text())
    assert [v["variant"] for v in data["variants"]] == ["v1 · synthetic/model", "v2 · synthetic/model"]
    r1, r2 = (v["metrics"]["recall"]["value"] for v in data["variants"])
    assert r2 < r1


def test_load_history_orders_runs_and_skips_broken_folders_with_reasons(tmp_path):
    root = tmp_path / "runs"
    for i, day in ((2, "2025-01-02"), (1, "2025-01-01"), (3, "2025-01-03")):
        set_started(run(root / "nested" if i == 3 else root, f"n{i}", seed=i), f"{day}T02:00:00+00:00")
    inc = run(root, "n4", seed=4, error_rate=0.3, status="incomplete")
    set_started(inc, "2025-01-04T02:00:00+00:00")
    running = run(root, "crashed", seed=5)
    rd = RunDir.open(running)
    rd.manifest.status = "running"
    rd.write_manifest()
    (root / "bad-manifest").mkdir()
    (root / "bad-manifest" / "run.json").write_text("{not json")
    (root / "orphan").mkdir()
    (root / "orphan" / "samples.jsonl").write_text("{}\n")
    empty = root / "empty"
    RunDir.create(empty, RunDir.open(root / "n1").manifest.model_copy(update={"run_id": "empty"}))
    shutil.copytree(root / "n1", root / "copy-of-n1")
    (root / ".hidden").mkdir()
    shutil.copytree(root / "n2", root / ".hidden" / "n2")
    (root / "notes").mkdir()                                      # unrelated folder: ignored silently

    h = H.load_history(root)
    assert [e.run_id for e in h.runs] == ["n1", "n2", "n3", "n4"]
    assert h.runs[3].status == "incomplete"                      # finished with errors: kept, flagged
    why = {p.name: r for p, r in ((s.path, s.reason) for s in h.skipped)}
    dup = "n1" if "n1" in why else "copy-of-n1"                  # one of two identical copies is read
    assert set(why) == {"crashed", "bad-manifest", "orphan", "empty", dup}
    assert "still running, or interrupted" in why["crashed"]
    assert "invalid manifest" in why["bad-manifest"]
    assert "no run.json" in why["orphan"]
    assert "no samples.jsonl" in why["empty"]
    assert "run id 'n1' already read from" in why[dup]
    assert len(h.notes) == 4 and all("no summary.json: computed from samples.jsonl and saved" in n for n in h.notes)
    assert all((e.path / SUMMARY).is_file() for e in h.runs)

    again = H.load_history(root)
    assert again.notes == []                                     # second read: summaries used as they are
    hl = again.headline
    assert list(hl["run_id"]) == ["n1", "n2", "n3", "n4"] and list(hl["night"]) == [0, 1, 2, 3]
    assert hl.loc[3, "n_errors"] > 0 and hl.loc[3, "error_rate"] > 0
    assert {"recall", "recall_lo", "recall_hi", "trap_fp_rate", "cost_usd", "latency_p50_s"} <= set(hl.columns)
    f = again.findings
    assert len(f) == 4 * sum(len(c["findings"]) for c in CASES)
    assert {"night", "run_id", "variant", "case", "finding", "n_epochs", "n_found", "score"} <= set(f.columns)
    assert len(again.cases) == 4 * len(CASES) and len(again.categories) > 0


def test_stale_invalid_and_copied_summaries(tmp_path):
    root = tmp_path / "runs"
    p = run(root, "r", seed=1)
    H.write_run_summary(p)
    assert H.load_history(root).notes == []

    st = (p / "samples.jsonl").stat()                            # a copy: same bytes, new mtime → still current
    os.utime(p / "samples.jsonl", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert H.load_history(root).notes == []

    lines = (p / "samples.jsonl").read_text().splitlines(keepends=True)    # re-graded: samples changed
    (p / "samples.jsonl").write_text("".join(lines[:-1]))
    h = H.load_history(root)
    assert h.notes and "stale" in h.notes[0] and "samples.jsonl changed" in h.notes[0]
    assert H.load_history(root).notes == []

    data = json.loads((p / SUMMARY).read_text())
    data["schema_version"] = 0
    (p / SUMMARY).write_text(json.dumps(data))
    assert "schema version 0" in H.load_history(root).notes[0]

    (p / SUMMARY).write_text('{"schema": "harness.run-summary", ')
    assert "summary.json is invalid" in H.load_history(root).notes[0]

    h = H.load_history(root, reducer="pass@k")                   # other parameters → recomputed with them
    assert "reducer 'mean'" in h.notes[0] and h.runs[0].summary["params"]["reducer"] == "pass@k"


def test_unwritable_run_folder_is_summarised_in_memory(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    run(root, "r", seed=1)

    def refuse(path, obj):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(H, "atomic_write_json", refuse)
    h = H.load_history(root)
    assert len(h.runs) == 1 and "could not save it: Permission denied" in h.notes[0]
    assert not (root / "r" / SUMMARY).exists()


def test_runs_root_must_be_a_folder(tmp_path):
    with pytest.raises(HarnessError, match="runs root is not a folder"):
        H.load_history(tmp_path / "missing")
    assert H.load_history(tmp_path).runs == []


def _set_kind(path: Path, kind: str | None) -> None:
    rd = RunDir.open(path)
    rd.manifest.kind = kind
    rd.write_manifest()


def test_ad_hoc_runs_are_left_out_of_the_nightly_history(tmp_path):
    from harness.config import load_config
    from harness.report.dashboard import build_dashboard
    root = tmp_path / "runs"
    night, _legacy, adhoc = run(root, "night", seed=1), run(root, "legacy", seed=2), run(root, "adhoc", seed=3)
    _set_kind(night, "nightly")
    _set_kind(adhoc, "adhoc")
    h = H.load_history(root)
    assert sorted(e.run_id for e in h.runs) == ["legacy", "night"]     # no kind: written before it was recorded
    assert h.adhoc == [adhoc] and all(s.path != adhoc for s in h.skipped)
    dash = build_dashboard(root, tmp_path / "dash", config=load_config(tmp_path))
    page = (tmp_path / "dash" / "index.html").read_text()
    assert 'id="adhoc"' in page and "1 ad-hoc run(s)" in page
    # an ad-hoc run can still be pinned as the baseline (a copied release run)
    dash = build_dashboard(root, tmp_path / "dash2", baseline=str(adhoc), latest=night, config=load_config(tmp_path))
    assert dash.baseline is not None and dash.baseline.run_id == "adhoc"


def test_runs_record_their_kind_and_keep_it_on_resume(tmp_path, monkeypatch):
    from harness.config import load_config
    from harness.planning import Choices, build_options
    from harness.runner import open_run
    from .conftest import ROOT, write_case
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    write_case(tmp_path / "cases", "case-0")
    cfg = load_config(ROOT, {"cases_dir": str(tmp_path / "cases"), "runs_root": str(tmp_path / "runs")})
    opts, _ = build_options(cfg, Choices(cases="all", run_dir=str(tmp_path / "r1")))
    rd, _, _, lock = open_run(cfg, opts)
    lock.__exit__(None, None, None)
    assert opts.kind == "adhoc" and RunDir.open(rd.path).manifest.kind == "adhoc"
    opts, _ = build_options(cfg, Choices(cases="all", run_dir=str(tmp_path / "r2"), kind="nightly"))
    rd, _, _, lock = open_run(cfg, opts)
    lock.__exit__(None, None, None)
    assert RunDir.open(rd.path).manifest.kind == "nightly"
    # resumed by `harness run --resume` (an ad-hoc command), a nightly run stays nightly
    opts, _ = build_options(cfg, Choices(run_dir=str(rd.path), resume=True))
    assert opts.kind == "adhoc"
    rd2, _, _, lock = open_run(cfg, opts)
    lock.__exit__(None, None, None)
    assert RunDir.open(rd2.path).manifest.kind == "nightly"


def test_list_frames_match_a_row_by_row_build(tmp_path):
    """History's findings/cases/categories/traps frames (built column by column, text encoded once per distinct
    list: issue 16) hold exactly what a dict-per-row build holds, also when the suite changes between nights."""
    import pandas as pd

    from harness.config import load_config
    from harness.history import load_history
    from harness.testing.synthetic import make_cases, write_synthetic_run
    cases = make_cases(6, seed=1)
    for i in range(4):
        write_synthetic_run(tmp_path / "runs" / f"n{i}", cases=cases if i != 2 else make_cases(3, seed=9), epochs=2,
                            seed=i, run_id=f"n{i}", error_rate=0.3)
    h = load_history(tmp_path / "runs", config=load_config(tmp_path))
    for key in ("findings", "cases", "categories", "traps"):
        rows = [{"night": i, "run_id": e.run_id, "variant": v["variant"], **r}
                for i, e in enumerate(h.runs) for v in e.summary["variants"] for r in v.get(key, [])]
        got = h._rows(key)
        pd.testing.assert_frame_equal(got, pd.DataFrame(rows), check_dtype=False)
        assert got["night"].nunique() == 4
    assert str(h.findings["n_epochs"].dtype) == "int64" and h.findings["score"].dtype == float
