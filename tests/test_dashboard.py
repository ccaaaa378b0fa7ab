"""harness dashboard: a history of synthetic nights with a planted regression and a planted flaky case, rendered
and opened in headless Chromium; single-run and empty histories; hostile text; the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import load_config
from harness.history import load_history
from harness.records import RunDir
from harness.report.dashboard import build_dashboard
from harness.report.dashboard_analysis import flakiness, pair_variants
from harness.testing.synthetic import make_cases, write_synthetic_run

from .browser import OVERFLOW_JS, assert_charts_drawn, open_page, require_chromium

ROOT = Path(__file__).resolve().parents[1]
FLAKY = "case-07"
REGRESS_AT = 25          # 1-based night of the planted regression
NIGHTS = 30
CASES = make_cases(12, findings_per_case=(3, 5), n_clean=1, seed=3)
REGRESSED_CASES = {c["id"] for c in CASES[:6]}


def night_prob(night: int):
    """Found probability of a finding on a night: stable (0.93, or 0.1 for the hard findings 4 and 5), a coin
    flip for the flaky case, and 0.75 lower for half the cases from the regression night on."""
    def prob(case: dict, item: dict, epoch: int) -> float:
        if case["id"] == FLAKY:
            return 0.5
        p = 0.1 if item["id"] in ("finding-4", "finding-5") else 0.93
        if night >= REGRESS_AT and case["id"] in REGRESSED_CASES:
            p = max(0.0, p - 0.75)
        return p
    return prob


def write_nights(root: Path, n: int = NIGHTS, epochs: int = 3) -> list[Path]:
    """``n`` nightly synthetic runs ``nightly-01``… one day apart (write_synthetic_run, then the start time set)."""
    t0 = datetime(2025, 3, 1, 2, 0, tzinfo=timezone.utc)
    paths = []
    for night in range(1, n + 1):
        p = write_synthetic_run(root / f"nightly-{night:02d}", cases=CASES, seed=night, epochs=epochs,
                                run_id=f"nightly-{night:02d}", found_prob=night_prob(night),
                                latency_mean_s=8 + night % 5, output_tokens_mean=600 + 10 * night)
        rd = RunDir.open(p)
        rd.manifest.started_at = (t0 + timedelta(days=night - 1)).isoformat()
        rd.manifest.ended_at = (t0 + timedelta(days=night - 1, minutes=40)).isoformat()
        rd.write_manifest()
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT)


@pytest.fixture(scope="module")
def nights(tmp_path_factory, cfg):
    """30 nights, the baseline pinned at night 1, the dashboard built once for the module."""
    tmp = tmp_path_factory.mktemp("nights")
    write_nights(tmp / "runs")
    dash = build_dashboard(tmp / "runs", tmp / "dashboard", baseline="nightly-01", config=cfg)
    return tmp, dash


def test_regression_and_flaky_case_are_flagged(nights):
    _, dash = nights
    assert len(dash.history.runs) == NIGHTS and dash.history.skipped == []
    assert dash.status == "regressed" and dash.baseline.run_id == "nightly-01" and dash.baseline_night == 0
    (view,) = dash.views
    keys = [r.key for r in view.regressions]
    assert "recall" in keys and "weighted_recall" in keys
    assert view.rows[0].regressed                                   # significant regressions on top
    assert [r.regressed for r in view.rows] == sorted((r.regressed for r in view.rows), reverse=True)
    assert view.below_since == REGRESS_AT - 1                        # 0-based index of night 25
    nv = view.nights.set_index("night")["below"]
    assert nv.loc[REGRESS_AT - 1:].all()
    assert nv.loc[1:REGRESS_AT - 2].sum() <= 2                       # stable nights rarely flagged (α = 5 %)
    assert any(f["flip"] == "regressed" and f["case"] in REGRESSED_CASES for f in view.flips)
    cases, findings = dash.flaky[view.variant]
    assert cases.iloc[0]["case"] == FLAKY
    assert cases.iloc[0]["flakiness"] > 0.4 and cases.iloc[1]["flakiness"] < 0.3
    assert findings.iloc[0]["case"] == FLAKY and findings.iloc[0]["flips"] >= 5
    assert [c for _, c, _ in dash.flaky_cases] == [FLAKY]


def test_latest_vs_baseline_numbers_match_harness_compare(nights):
    tmp, dash = nights
    (view,) = dash.views
    rec = next(r for r in view.rows if r.key == "recall")
    h = view.comparison.headline
    assert rec.cmp.diff == pytest.approx(h.diff) and rec.cmp.p_value == pytest.approx(h.p_value)
    assert rec.cmp.lo == pytest.approx(h.lo) and rec.cmp.n_clusters == h.n_clusters
    assert view.comparison.gate.fail
    assert view.compare_href == "compare/v1-synthetic-model/compare.html"
    assert (tmp / "dashboard" / view.compare_href).is_file()


def test_a_step_change_is_not_flakiness(nights):
    _, dash = nights
    cases, _ = dash.flaky[dash.views[0].variant]
    regressed = cases[cases["case"].isin(REGRESSED_CASES)]
    assert (regressed["flakiness"] < cases.iloc[0]["flakiness"] / 2).all()
    short, _ = flakiness(dash.history, dash.views[0].variant, window=5)  # the last 5 nights: after the step
    assert short.iloc[0]["case"] == FLAKY and short["nights"].max() == 5


@pytest.mark.browser
def test_dashboard_in_headless_chromium(nights):
    """The page opens with no console error and no request, every chart draws, and the flags are on the page."""
    require_chromium()
    tmp, dash = nights
    decode = ("Promise.all(Array.from(document.querySelectorAll('svg.chart image')).map(function (i) {"
              " var im = new Image(); im.src = i.getAttribute('xlink:href') || i.getAttribute('href');"
              " return im.decode().then(function () { return im.naturalWidth * im.naturalHeight; }); }))")
    page = open_page(dash.index, width=1280, evaluate={
        "overflow": OVERFLOW_JS,
        "status": "document.getElementById('status').dataset.status",
        "since": "document.querySelector('[data-below-since]').dataset.belowSince",
        "regressed": "Array.from(document.querySelectorAll('table.baseline tr.regressed')).map(function (r) {"
                     " return r.dataset.key; })",
        "first_row": "document.querySelector('table.baseline tbody tr').dataset.verdict",
        "flaky": "document.querySelector('table.flaky tbody tr').dataset.case",
        "flagged": "Array.from(document.querySelectorAll('table.flaky tr[data-flaky=\"1\"]')).map(function (r) {"
                   " return r.dataset.case; })",
        "summary": "document.getElementById('flaky-summary').textContent",
        "link": "document.querySelector('a[href^=\"compare/\"]').getAttribute('href')",
        "images": decode,
        "runs_read": "document.querySelector('header').textContent",
    })
    assert page.console_errors == [], page.console_errors
    assert [u for u in page.requests_made if not u.startswith("data:")] == [] and page.dialogs == []
    v = page.values
    assert v["overflow"] == [], v["overflow"]          # nothing scrolls sideways in a 1280 px window
    assert v["status"] == "regressed" and v["since"] == str(REGRESS_AT) and v["first_row"] == "regressed"
    assert "recall" in v["regressed"] and v["flaky"] == FLAKY and v["flagged"] == [FLAKY]
    assert FLAKY in v["summary"]
    assert (tmp / "dashboard" / v["link"]).is_file()
    assert v["images"] and all(px > 0 for px in v["images"])         # the heatmap bitmap decodes
    assert "30 run(s) read" in " ".join(v["runs_read"].split())
    assert_charts_drawn(page, min_charts=4)
    labels = [s["label"] for s in page.svgs if "chart" in s["cls"]]
    assert any("Headline" in x for x in labels) and any("category" in x for x in labels)
    assert any("Found rate per case" in x for x in labels) and any("Cost" in x for x in labels)


@pytest.mark.browser
def test_single_run_without_baseline(tmp_path, cfg):
    require_chromium()
    write_nights(tmp_path / "runs", n=1)
    dash = build_dashboard(tmp_path / "runs", tmp_path / "out", config=cfg)
    assert dash.status == "no-baseline" and dash.views == [] and len(dash.history.runs) == 1
    page = open_page(dash.index, evaluate={"status": "document.getElementById('status').dataset.status"})
    assert page.console_errors == [] and page.values["status"] == "no-baseline"
    assert_charts_drawn(page, min_charts=4)


def test_empty_root_states_what_was_skipped(tmp_path, cfg):
    (tmp_path / "runs" / "half").mkdir(parents=True)
    (tmp_path / "runs" / "half" / "samples.jsonl").write_text("")
    dash = build_dashboard(tmp_path / "runs", tmp_path / "out", baseline=None, config=cfg)
    html = dash.index.read_text()
    assert dash.status == "empty" and 'data-status="empty"' in html
    assert "half" in html and "no run.json" in html


def test_an_unknown_baseline_is_bad_input_even_before_the_first_nightly_run(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    code = main(["--root", str(tmp_path), "dashboard", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
                 "--baseline", "nope"])
    assert code == 2
    assert "baseline run 'nope' not found" in capsys.readouterr().err
    assert not (tmp_path / "out" / "index.html").exists()


def test_a_baseline_run_listed_twice_is_bad_input(tmp_path, capsys):
    a, b = write_nights(tmp_path / "runs", n=2, epochs=1)
    base = f"{a},{b},{a.name}"
    code = main(["--root", str(tmp_path), "dashboard", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
                 "--baseline", base])
    assert code == 2
    assert "baseline run 'nightly-01' is listed twice" in capsys.readouterr().err
    # harness compare too: tv1,tv1 pooled would count one night as two
    assert main(["--root", str(tmp_path), "compare", f"{a},{a}", str(b)]) == 2
    assert f"baseline run '{a}' is listed twice" in capsys.readouterr().err


def test_hostile_text_is_escaped(tmp_path, cfg):
    evil = '<script>alert(1)</script>'
    cases = [dict(CASES[0], id="x<img src=x onerror=alert(1)>", title=evil), *CASES[1:4]]
    for i in (1, 2):
        write_synthetic_run(tmp_path / "runs" / f"r{i}", cases=cases, seed=i, run_id=f"{evil}{i}",
                            prompt_label=f"v1{evil}", model=f"m/{evil}")
    dash = build_dashboard(tmp_path / "runs", tmp_path / "out", baseline=tmp_path / "runs" / "r1", config=cfg)
    html = dash.index.read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;1" in html
    assert html.count("<script>") == 1                              # only the hashed sorting script


def test_cli_reads_config_and_reports(tmp_path, capsys, monkeypatch):
    write_nights(tmp_path / "runs", n=3)
    (tmp_path / "runs" / "broken").mkdir()
    (tmp_path / "runs" / "broken" / "run.json").write_text("[]")
    out = tmp_path / "dash"
    code = main(["--root", str(ROOT), "dashboard", str(tmp_path / "runs"), "--out", str(out),
                 "--baseline", "nightly-01"])
    text = capsys.readouterr().out
    assert code == 0 and (out / "index.html").is_file() and (out / "compare").is_dir()
    assert "read 3 run(s)" in text and "skipped 1" in text and "broken: invalid manifest" in text
    assert str(out / "index.html") in text
    assert main(["--root", str(ROOT), "dashboard", str(tmp_path / "runs"), "--out", str(out),
                 "--baseline", "no-such-run"]) == 2
    assert "baseline run 'no-such-run' not found" in capsys.readouterr().err
    assert main(["--root", str(ROOT), "dashboard", str(tmp_path / "nope"), "--out", str(out)]) == 2


def test_history_reads_what_the_dashboard_wrote(nights):
    tmp, _ = nights
    h = load_history(tmp / "runs")
    assert h.notes == [] and len(h.runs) == NIGHTS                  # every summary.json saved on the first build


def test_variants_pair_by_label_or_when_single():
    assert pair_variants(["v1 · m", "v2 · m"], ["v2 · m", "v3 · m"]) == [("v2 · m", "v2 · m")]
    assert pair_variants(["v1 · m"], ["v2 · m"]) == [("v1 · m", "v2 · m")]      # new prompt vs the pinned one
    assert pair_variants(["v1 · m", "v2 · m"], ["v3 · m"]) == []


def test_two_variants_per_run_and_a_baseline_without_common_variant(tmp_path, cfg):
    for i in (1, 2):
        a = write_synthetic_run(tmp_path / "runs" / f"r{i}", cases=CASES, seed=i, run_id=f"r{i}")
        b = write_synthetic_run(tmp_path / "other" / f"r{i}", cases=CASES, seed=10 + i, prompt_label="v2")
        with open(a / "samples.jsonl", "a", encoding="utf-8") as fh:
            fh.write((b / "samples.jsonl").read_text())
    dash = build_dashboard(tmp_path / "runs", tmp_path / "out", baseline="r1", config=cfg)
    assert [v.variant for v in dash.views] == ["v1 · synthetic/model", "v2 · synthetic/model"]
    assert all(v.compare_href and (tmp_path / "out" / v.compare_href).is_file() for v in dash.views)
    assert set(dash.flaky) == {"v1 · synthetic/model", "v2 · synthetic/model"}
    assert sum(k.startswith("heatmap:") for k in dash.charts) == 2
    write_synthetic_run(tmp_path / "runs" / "r3", cases=CASES, seed=3, run_id="r3", prompt_label="v3")
    dash = build_dashboard(tmp_path / "runs", tmp_path / "out", baseline="r1", config=cfg)
    assert dash.status == "no-comparison" and "share no variant" in dash.index.read_text()


def test_the_flakiness_window_states_the_nights_there_are(tmp_path, cfg):
    """"flakiness 38% over the last 30 nights" after one night was false (a fresh user's report, 2026-12-08): the
    line and the page name the nights actually read, up to the window."""
    import io
    from harness.report.dashboard import report
    write_nights(tmp_path / "runs", n=3)
    dash = build_dashboard(tmp_path / "runs", tmp_path / "out", config=cfg)
    assert "flakiness over the last 3 night(s)" in dash.index.read_text()
    buf = io.StringIO()
    report(dash, file=buf)
    assert "over the last 30 nights" not in buf.getvalue()
    assert all("over the last 3 night(s)" in line for line in buf.getvalue().splitlines() if line.startswith("flaky"))


def test_also_worse_fractions_are_printed_in_points(nights):
    """"severity-weighted recall -0.355" was a fraction among points (a fresh user's report, 2026-12-08)."""
    import io
    import re
    from harness.report.dashboard import report
    _, dash = nights
    buf = io.StringIO()
    report(dash, file=buf)
    lines = [ln for ln in buf.getvalue().splitlines() if "also worse" in ln]
    assert lines and all(re.search(r"[+-]\d+\.\d pts$", ln) for ln in lines if "recall" in ln), lines
