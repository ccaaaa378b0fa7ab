"""harness report: markdown + self-contained HTML of one run; CLI; untrusted content stays inert."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape

from harness.cli import main
from harness.config import load_config
from harness.records import RunDir, RunManifest
from harness.report.html import SORT_JS, csp, md_text, script_hash
from harness.report.report import build_run_report, render_markdown, render_report_html, write_report
from harness.testing.synthetic import make_cases, write_synthetic_run

from .browser import OVERFLOW_JS, assert_charts_drawn, open_page, require_chromium

PAYLOADS = [
    "<script>window.__xss = 1; alert('xss')</script>",
    '<img src=x onerror="window.__xss = 2; alert(2)">',
    "[click me](javascript:window.__xss=3)",
    "</textarea><script>window.__xss = 4</script>",
    "</pre><svg onload=\"window.__xss = 5\"></svg>",
    "<a href=\"javascript:window.__xss=6\">link</a> <iframe src=\"https://evil.example/\"></iframe>",
    "<link rel=stylesheet href=\"https://evil.example/x.css\"> @everyone ![px](https://evil.example/p.png)",
]
EVIL = " ".join(PAYLOADS)


def evil_cases() -> list[dict]:
    cases = make_cases(4, seed=1)
    cases[0]["title"] = "Case " + PAYLOADS[0]
    cases[0]["findings"][0]["title"] = PAYLOADS[1]
    cases[1]["traps"] = [{"id": "trap-1", "title": PAYLOADS[3]}]
    return cases


def evil_review(case, epoch, found, flagged):
    return f"## Review\n\n{EVIL}\n\n" + "\n".join(f"{i + 1}. {f['title']}" for i, f in enumerate(found))


@pytest.fixture
def cfg(tmp_path):
    return load_config(tmp_path)


@pytest.fixture
def run(tmp_path):
    return write_synthetic_run(tmp_path / "runs" / "r1", cases=make_cases(8, seed=3), epochs=3, judge=True,
                               error_rate=0.05, seed=2, run_id="r1")


def test_report_sections_and_default_paths(run, cfg, tmp_path):
    rep = build_run_report(run, config=cfg)
    md_path, html_path = write_report(rep, config=cfg)
    assert md_path == tmp_path / "reports" / "r1" / "report.md"
    assert html_path == tmp_path / "reports" / "r1" / "report.html"
    md = md_path.read_text()
    for needle in ("Eval report", "recall", "severity-weighted recall", "trap FP rate", "Recall by category",
                   "Per case", "Least-found findings", "Cost and latency", "Grader agreement", "Manifest"):
        assert needle in md, needle
    html = html_path.read_text()
    for anchor in ("headline", "breakdown", "cases", "findings", "cost", "agreement", "manifest"):
        assert f'id="{anchor}"' in html
    assert html.count('<svg class="chart"') == 5
    assert "<?xml" not in html


def test_report_excludes_errors_and_says_so(tmp_path, cfg):
    run = write_synthetic_run(tmp_path / "r", cases=make_cases(4, seed=1), epochs=4, error_rate=0.5, seed=1,
                              found_prob=1.0)
    rep = build_run_report(run, config=cfg)
    (s,) = rep.summaries
    assert s.n_errors > 0 and s.recall.value == 1.0
    assert any("errored" in w and "excluded" in w for w in rep.warnings)
    assert "errored" in render_markdown(rep)


def test_no_judge_no_agreement_section(tmp_path, cfg):
    run = write_synthetic_run(tmp_path / "r", cases=make_cases(3, seed=1), epochs=1)
    rep = build_run_report(run, config=cfg)
    assert rep.agreement is None
    assert 'id="agreement"' not in render_report_html(rep)


def test_cli_prints_paths_and_honours_out(run, tmp_path, capsys):
    assert main(["--root", str(tmp_path), "report", str(run)]) == 0
    out = capsys.readouterr().out.split()
    assert str(tmp_path / "reports" / "r1" / "report.md") in out
    assert str(tmp_path / "reports" / "r1" / "report.html") in out
    assert main(["--root", str(tmp_path), "report", str(run), "--out", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "report.html").is_file()
    assert main(["--root", str(tmp_path), "report", str(run), "--out", str(tmp_path / "x" / "mine.md")]) == 0
    assert (tmp_path / "x" / "mine.md").is_file() and (tmp_path / "x" / "mine.html").is_file()


def test_case_and_grader_reports_never_overwrite_the_main_report(run, tmp_path, capsys):
    root = ["--root", str(tmp_path), "report", str(run)]
    folder = tmp_path / "reports" / "r1"
    assert main(root) == 0
    main_md, main_html = (folder / "report.md").read_text(), (folder / "report.html").read_text()
    capsys.readouterr()
    assert main(root + ["--case", "case-02"]) == 0
    out = capsys.readouterr().out.split()
    assert str(folder / "report-case-case-02.html") in out and str(folder / "report-case-case-02.md") in out
    assert main(root + ["--grader", "judge"]) == 0
    assert str(folder / "report-grader-judge.html") in capsys.readouterr().out.split()
    assert main(root + ["--grader", "judge", "--case", "case-03", "--case", "case-01"]) == 0
    assert (folder / "report-grader-judge-case-case-01-case-03.html").is_file()
    assert (folder / "report.md").read_text() == main_md and (folder / "report.html").read_text() == main_html
    assert "grader **judge**" in (folder / "report-grader-judge.md").read_text()
    assert "grader **deterministic**" in main_md


def test_a_grader_without_verdicts_is_bad_input_naming_the_graders_the_run_has(tmp_path, capsys):
    run = write_synthetic_run(tmp_path / "runs" / "det", cases=make_cases(3, seed=1), epochs=1, run_id="det")
    main(["--root", str(tmp_path), "report", str(run)])
    before = (tmp_path / "reports" / "det" / "report.html").read_text()
    capsys.readouterr()
    assert main(["--root", str(tmp_path), "report", str(run), "--grader", "judge"]) == 2
    err = capsys.readouterr().err
    assert "--grader judge: no sample of the run has judge verdicts; graders with verdicts in it: deterministic " \
           "(4 samples)" in err
    assert f"harness grade {run} --grader judge --judge-model M" in err
    assert not list((tmp_path / "reports" / "det").glob("report-grader-*"))
    assert (tmp_path / "reports" / "det" / "report.html").read_text() == before


def test_per_case_ok_counts_outcomes_as_the_outcomes_line_does(tmp_path, cfg):
    """A truncated review graded anyway (grade_truncated, the embedded model) is graded but not ok: the per-case
    table and the headline say 0 ok (1 graded), as the outcomes line says 0 ok, 1 truncated."""
    run = write_synthetic_run(tmp_path / "t", cases=make_cases(2, seed=1, n_clean=0), epochs=1, run_id="t",
                              found_prob=1.0)
    rd = RunDir.open(run)
    recs = rd.read_samples().records
    recs[0].outcome = "truncated"
    rd.rewrite(recs)
    rep = build_run_report(run, config=cfg)
    row = rep.per_case.set_index("case").loc[recs[0].case]
    assert (row["n_ok"], row["n_ok_outcome"], row["n_samples"]) == (1, 0, 1)
    md = render_markdown(rep)
    assert "| 0/1 (1 graded) |" in md and "| 1/1 |" in md
    html = render_report_html(rep)
    assert "0 / 1 (1 graded)" in html and "1 ok of 2 (2 graded)" in html


def test_cli_bad_run_dir_exits_2(tmp_path, capsys):
    assert main(["--root", str(tmp_path), "report", str(tmp_path / "nope")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_markdown_fits_a_pr_comment(tmp_path, cfg):
    run = write_synthetic_run(tmp_path / "big", cases=make_cases(150, findings_per_case=(3, 6), seed=2), epochs=2)
    md = render_markdown(build_run_report(run, config=cfg, with_charts=False))
    assert len(md) < 65_536


def test_multi_variant_run_and_degenerate_runs(tmp_path, cfg):
    a = write_synthetic_run(tmp_path / "mv", cases=make_cases(4), run_id="mv")
    b = write_synthetic_run(tmp_path / "other", cases=make_cases(4), prompt_label="v2", shift=0.3, run_id="o")
    rd = RunDir.open(a)
    rd.rewrite(rd.read_samples().records + RunDir.open(b).read_samples().records)
    rep = build_run_report(a, config=cfg)
    assert [s.prompt_version for s in rep.summaries] == ["v1", "v2"]
    assert rep.summaries[1].recall.value > rep.summaries[0].recall.value
    assert "v2 · synthetic/model" in render_markdown(rep)
    RunDir.create(tmp_path / "empty", RunManifest(run_id="empty"))
    empty = build_run_report(tmp_path / "empty", config=cfg)
    assert empty.summaries == [] and any("running" in w for w in empty.warnings)
    assert "<svg" in render_report_html(empty)
    dead = write_synthetic_run(tmp_path / "dead", cases=make_cases(3), error_rate=1.0, run_id="dead")
    (s,) = build_run_report(dead, config=cfg).summaries
    assert s.n_errors == s.n_samples and s.recall.method == "none"


# ------------------------------------------------------------------------------------------ untrusted content

def test_html_escapes_untrusted_review_and_case_text(tmp_path, cfg):
    run = write_synthetic_run(tmp_path / "r", cases=evil_cases(), epochs=2, review=evil_review, judge=True,
                              prompt_label="v1<script>alert(9)</script>", model="m<img src=x onerror=alert(8)>",
                              run_id="evil")
    html = render_report_html(build_run_report(run, config=cfg))
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S | re.I)
    assert scripts == [SORT_JS], "the only script is the sorting script"
    assert "<img" not in html and "<iframe" not in html and "<link" not in html and "<textarea" not in html
    assert not re.search(r"<[a-z]+[^>]*\son[a-z]+\s*=", html, flags=re.I), "no event-handler attributes"
    assert "href=\"javascript:" not in html.lower()
    assert "&lt;script&gt;window.__xss = 1" in html
    assert f'content="{escape(csp())}"' in html and script_hash(SORT_JS) in csp()
    assert "'unsafe-inline'" not in csp().split("script-src")[1].split(";")[0]


def test_markdown_neutralises_untrusted_text(tmp_path, cfg):
    run = write_synthetic_run(tmp_path / "r", cases=evil_cases(), epochs=1, review=evil_review,
                              model="m<img src=x onerror=alert(8)>", run_id="evil`run")
    md = render_markdown(build_run_report(run, config=cfg, with_charts=False))
    assert "<script" not in md and "<img" not in md and "<textarea" not in md
    assert not re.search(r"(?<!\\)\]\(javascript:", md) and "@everyone" not in md
    assert "`evil'run`" in md


def test_md_text_escapes():
    s = md_text("| a | <b> [x](javascript:1) ![i](http://e/p.png) *em* `c` @team\nnext")
    assert "<b>" not in s and "\\|" in s and "\\[x\\]" in s and "\\!\\[i\\]" in s and "\\*em\\*" in s
    assert "\\`c\\`" in s and "@\u200bteam" in s and "\n" not in s
    assert md_text("# heading").startswith("\\#") and md_text("1. item").startswith("1\\.")


@pytest.mark.browser
def test_report_html_in_headless_chromium_is_inert_and_drawn(tmp_path, cfg):
    require_chromium()
    run = write_synthetic_run(tmp_path / "r", cases=evil_cases(), epochs=3, review=evil_review, judge=True,
                              run_id="evil")
    _, html_path = write_report(build_run_report(run, config=cfg), tmp_path / "out", config=cfg)
    page = open_page(html_path, width=1280,
                     actions=["document.querySelectorAll('details').forEach(function (d) { d.open = true; })"],
                     evaluate={"xss": "typeof window.__xss", "overflow": OVERFLOW_JS,
                               "pres": "document.querySelectorAll('pre').length"})
    assert page.console_errors == []
    assert page.dialogs == [] and page.values["xss"] == "undefined"
    assert page.requests_made == []
    assert page.values["pres"] > 0
    assert page.values["overflow"] == [], page.values["overflow"]   # every sample open: no sideways scroll at 1280 px
    assert_charts_drawn(page, min_charts=5)


@pytest.mark.browser
def test_browser_helper_sees_errors_requests_and_csp_violations(tmp_path):
    """The negative checks above mean something only if the helper catches these."""
    require_chromium()
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
                   "'none'; script-src 'sha256-AAAA'\"></head><body><img src=\"https://example.invalid/x.png\">"
                   "<script>window.x = 1</script></body></html>")
    page = open_page(bad, evaluate={"x": "typeof window.x"})
    assert page.requests_made == ["https://example.invalid/x.png"]
    assert any("Content Security Policy" in e for e in page.console_errors) and page.values["x"] == "undefined"
    noisy = tmp_path / "noisy.html"
    noisy.write_text("<!DOCTYPE html><html><body><script>console.error('boom'); alert('hi'); null.f();</script>"
                     "</body></html>")
    page = open_page(noisy)
    assert "console.error: boom" in page.console_errors and page.exceptions and page.dialogs == ["hi"]


def test_copies_of_a_run_never_overwrite_each_others_report(tmp_path, cfg):
    import shutil
    a = write_synthetic_run(tmp_path / "a" / "x", cases=make_cases(3), run_id="same")
    b = tmp_path / "b" / "x"
    shutil.copytree(a, b)
    md_a, _ = write_report(build_run_report(a, config=cfg), config=cfg)
    md_b, _ = write_report(build_run_report(b, config=cfg), config=cfg)
    assert md_a.parent != md_b.parent and md_a.is_file() and md_b.is_file()
    md_a2, _ = write_report(build_run_report(a, config=cfg), config=cfg)
    assert md_a2 == md_a  # the same run keeps its folder


def test_reports_state_the_graders_measured_agreement_and_when_it_is_stale(run, tmp_path):
    from harness.graders.record import grader_fingerprint, write_record
    from harness.report.compare import compare_runs, render_markdown as render_compare_markdown
    cfg = load_config(tmp_path)
    # no record: the report says how to make one
    rep = build_run_report(run, config=cfg)
    assert not rep.calibration and any("harness calibrate --write" in w for w in rep.warnings)
    res = {"grader": "deterministic", "reviews": 84, "pairs": 500, "finding_agreement": 0.879, "kappa": 0.644,
           "precision": 0.94, "recall": 0.907, "trap_agreement": 0.811, "extra_issues_mae": 2.5}
    write_record(cfg.path(cfg.calibration_record), res, grader_fp=grader_fingerprint("deterministic"),
                 corpus="labelled", split="report", case_fps={})
    rep = build_run_report(run, config=cfg)
    md, html = render_markdown(rep), render_report_html(rep)
    for text in (md, html):
        assert "finding agreement 0.879" in text and "kappa 0.644" in text and "84 reviews" in text
    assert not any("calibrat" in w for w in rep.warnings)
    cmp = compare_runs(run, run, config=cfg)
    assert "finding agreement 0.879" in render_compare_markdown(cmp)
    # a record of another grader version: stale, said loudly in both reports
    write_record(cfg.path(cfg.calibration_record), res, grader_fp="0" * 16, corpus="labelled", split="report",
                 case_fps={})
    assert any("grader changed" in w for w in build_run_report(run, config=cfg).warnings)
    assert "grader changed" in render_compare_markdown(compare_runs(run, run, config=cfg))


def test_nothing_graded_reads_na_not_zero(tmp_path, cfg):
    dead = write_synthetic_run(tmp_path / "dead", cases=make_cases(3, seed=2), error_rate=1.0, run_id="dead")
    rep = build_run_report(dead, config=cfg)
    (s,) = rep.summaries
    assert s.critical_high_missed.method == "none" and s.critical_high_missed.value != s.critical_high_missed.value
    md = render_markdown(rep)
    assert "0.00 (0.00–0.00)" not in md
    row = next(line for line in md.splitlines() if line.startswith("| v1"))
    assert row.count("n/a") >= 4


def test_critical_high_missed_interval_does_not_collapse_when_all_found(tmp_path, cfg):
    run = write_synthetic_run(tmp_path / "all", cases=make_cases(6, seed=4, severities=("critical", "high")),
                              found_prob=1.0, difficulty_sd=0.0, run_id="all")
    (s,) = build_run_report(run, config=cfg).summaries
    m = s.critical_high_missed
    assert m.value == 0 and m.lo == 0 and m.hi > 0.5
