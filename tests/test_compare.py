"""harness compare: paired verdicts, the --fail-on-regression gate, mismatch warnings, reports, the browser."""

from __future__ import annotations

import re

import pytest

from harness.cli import main
from harness.config import load_config
from harness.errors import HarnessError
from harness.records import RunDir
from harness.report.compare import compare_runs, render_compare_html, render_markdown, write_compare_report
from harness.stats import IMPROVED, NO_CHANGE, REGRESSED
from harness.testing.synthetic import make_cases, write_synthetic_run
from harness.verdicts import INCONCLUSIVE

from .browser import OVERFLOW_JS, assert_charts_drawn, open_page, require_chromium
from .test_report import EVIL, evil_cases, evil_review

CASES = make_cases(16, findings_per_case=(2, 5), seed=11)


@pytest.fixture
def cfg(tmp_path):
    return load_config(tmp_path)


def pair(tmp_path, *, shift=0.0, base_kw=None, cand_kw=None, cases=CASES, epochs=3):
    base = write_synthetic_run(tmp_path / "base", cases=cases, epochs=epochs, seed=1, run_id="base",
                               **(base_kw or {}))
    cand = write_synthetic_run(tmp_path / "cand", cases=cases, epochs=epochs, seed=2, run_id="cand",
                               prompt_label="v2", shift=shift, **(cand_kw or {}))
    return base, cand


def test_planted_regression_is_detected(tmp_path, cfg):
    base, cand = pair(tmp_path, shift=-0.3)
    cmp = compare_runs(base, cand, config=cfg)
    h = cmp.headline
    assert cmp.verdict == REGRESSED and h.p_value < 0.05 and h.hi < 0
    assert h.lo <= -0.3 * 0.8 and h.n_clusters == 16 and 0 < h.mde < 0.3
    assert cmp.gate.fail and "regressed significantly" in cmp.gate.reasons[0]
    assert any(f["flip"] == REGRESSED for f in cmp.flips)
    assert cmp.loud == []


def test_planted_improvement(tmp_path, cfg):
    base, cand = pair(tmp_path, shift=+0.3)
    cmp = compare_runs(base, cand, config=cfg)
    assert cmp.verdict == IMPROVED and not cmp.gate.fail
    assert any(f["flip"] == IMPROVED for f in cmp.flips)


def test_a_a_comparison_finds_no_change(tmp_path, cfg):
    base, cand = pair(tmp_path)                      # same found probabilities, different draws
    cmp = compare_runs(base, cand, config=cfg)
    assert cmp.verdict == INCONCLUSIVE and cmp.headline.verdict == NO_CHANGE
    assert cmp.headline.lo < 0 < cmp.headline.hi
    assert 0 < cmp.headline.correlation < 1         # shared per-finding difficulty correlates the two runs


def test_errors_in_candidate_are_not_regressions(tmp_path, cfg):
    base, cand = pair(tmp_path, base_kw={"found_prob": 0.9, "difficulty_sd": 0.0},
                      cand_kw={"found_prob": 0.9, "difficulty_sd": 0.0, "error_rate": 0.5})
    cmp = compare_runs(base, cand, config=cfg)
    assert cmp.verdict == INCONCLUSIVE and cmp.cand_summary.n_errors > 0
    assert any("errored" in w for w in cmp.warnings)


def test_critical_finding_lost_fails_gate_without_significance(tmp_path, cfg):
    cases = make_cases(10, findings_per_case=3, seed=4, severities=["medium"])
    cases[0]["findings"][0]["severity"] = "critical"
    base, cand = pair(tmp_path, cases=cases, base_kw={"found_prob": {"*": 1.0}},
                      cand_kw={"found_prob": {("case-01", "finding-1"): 0.0, "*": 1.0}})
    cmp = compare_runs(base, cand, config=cfg)
    assert cmp.headline.verdict == NO_CHANGE              # one finding in one case: recall not significant
    assert cmp.verdict == REGRESSED and cmp.gate.fail and len(cmp.gate.reasons) == 1
    # the only critical finding: 3/3 -> 0/3 gives Boschloo p = 1/64 < 0.025 (Holm over one test)
    assert "critical finding case-01/finding-1 lost" in cmp.gate.reasons[0]
    assert cmp.gate.lost[0]["p"] == pytest.approx(1 / 64)


def test_unreliable_baseline_finding_is_not_a_flip(tmp_path, cfg):
    cases = make_cases(6, findings_per_case=1, seed=4, severities=["critical"])
    # baseline finds case-01's finding in exactly 1 of 2 epochs: not "reliably" (< 2/3)
    base, cand = pair(tmp_path, cases=cases, epochs=2,
                      base_kw={"found_prob": lambda c, f, e: 1.0 if c["id"] != "case-01" or e == 1 else 0.0},
                      cand_kw={"found_prob": lambda c, f, e: 1.0 if c["id"] != "case-01" else 0.0})
    cmp = compare_runs(base, cand, config=cfg)
    assert cmp.flips == [] and not cmp.gate.fail


def test_mismatch_warnings_are_loud(tmp_path, cfg):
    other = make_cases(2, seed=99, prefix="other")
    base = write_synthetic_run(tmp_path / "b", cases=CASES, epochs=3, seed=1, run_id="b")
    cand = write_synthetic_run(tmp_path / "c", cases=CASES[:12] + other[:2], epochs=2, seed=2, run_id="c")
    cmp = compare_runs(base, cand, config=cfg)
    text = " ".join(cmp.loud)
    assert "5 case(s) only in the baseline" in text and "2 case(s) only in the candidate" in text
    assert "epochs do not pair" in text
    # the 12 compared cases are the same in both (per-record case fingerprints): no "cases changed" warning
    assert "CHANGED" not in text and "FINGERPRINTS" not in text
    md, html = render_markdown(cmp), render_compare_html(cmp)
    assert "only in the baseline" in md and "[!WARNING]" in md
    assert html.count('class="warn loud"') >= 3


def test_runs_sampled_differently_are_named(tmp_path, cfg):
    """A baseline at temperature 0.7 compared with a candidate at 0: the difference mixes the prompt's effect with
    the sampling's, and the comparison says so (a fresh user's report, 2026-12-08: nothing was said)."""
    base, cand = pair(tmp_path)
    for run, gen in ((base, {"temperature": 0.7, "max_tokens": 2048}),
                     (cand, {"temperature": 0.0, "max_tokens": 2048})):
        rd = RunDir.open(run)
        rd.manifest.models[0].generation = gen
        rd.write_manifest()
    text = " ".join(compare_runs(base, cand, config=cfg).loud)
    assert "SAMPLED DIFFERENTLY: temperature: baseline 0.7, candidate 0.0" in text and "max_tokens" not in text
    rd = RunDir.open(base)
    rd.manifest.models[0].generation = {"temperature": 0.0, "max_tokens": 2048}
    rd.write_manifest()
    assert not any("SAMPLED" in w for w in compare_runs(base, cand, config=cfg).loud)


def test_a_subset_of_unchanged_cases_is_no_change(tmp_path, cfg):
    # a run of 2 of the baseline's cases has another suite fingerprint, but each record's case is unchanged
    base = write_synthetic_run(tmp_path / "b", cases=CASES[:4], seed=1, run_id="b")
    cand = write_synthetic_run(tmp_path / "c", cases=CASES[:2], seed=2, run_id="c", prompt_label="v2")
    assert RunDir.open(base).manifest.suite_fingerprint != RunDir.open(cand).manifest.suite_fingerprint
    cmp = compare_runs(base, cand, config=cfg)
    assert cmp.loud == ["2 case(s) only in the baseline, left out: case-03, case-04"]


def test_an_edited_case_is_named_as_changed(tmp_path, cfg):
    edited = [dict(c) for c in CASES[:4]]
    edited[1] = {**edited[1], "title": edited[1].get("title", "") + " (edited)"}
    base = write_synthetic_run(tmp_path / "b", cases=CASES[:4], seed=1, run_id="b")
    cand = write_synthetic_run(tmp_path / "c", cases=edited[:3], seed=2, run_id="c", prompt_label="v2")
    text = " ".join(compare_runs(base, cand, config=cfg).loud)
    assert f"content of 1 compared case(s) differs ({edited[1]['id']})" in text


def test_no_common_cases_or_grader_is_an_error(tmp_path, cfg):
    base = write_synthetic_run(tmp_path / "b", cases=make_cases(3, prefix="x"), run_id="b")
    cand = write_synthetic_run(tmp_path / "c", cases=make_cases(3, prefix="y"), run_id="c")
    with pytest.raises(HarnessError, match="share no finding"):
        compare_runs(base, cand, config=cfg)
    rd = RunDir.open(cand)
    recs = rd.read_samples().records
    for r in recs:
        r.grades = {"judge": r.grades["deterministic"]}
    rd.rewrite(recs)
    with pytest.raises(HarnessError, match="no grader in common"):
        compare_runs(base, cand, config=cfg)


def test_an_all_error_run_is_not_sent_to_harness_grade(tmp_path, cfg):
    base = write_synthetic_run(tmp_path / "b", cases=CASES[:4], run_id="b")
    dead = write_synthetic_run(tmp_path / "c", cases=CASES[:4], run_id="c", error_rate=1.0, epochs=2)
    with pytest.raises(HarnessError) as e:
        compare_runs(base, dead, config=cfg)
    msg = str(e.value)
    assert f"no sample of {dead} has a gradable review" in msg and "0 ok" in msg and "8 errors" in msg
    assert f"`harness run --resume {dead}` sends every sample not recorded or recorded with an error" in msg
    assert "harness grade" not in msg.replace("a re-grade cannot help", "")


def test_a_complete_run_whose_records_are_gone_is_not_complete(tmp_path, cfg, capsys):
    base, cand = pair(tmp_path)
    rd = RunDir.open(cand)
    recs = rd.read_samples().records
    rd.manifest.summary = {**(rd.manifest.summary or {}), "recorded": len(recs)}
    rd.write_manifest()
    rd.rewrite(recs[: len(recs) // 2])
    cmp = compare_runs(base, cand, config=cfg)
    assert not cmp.complete and cmp.exit_code() == 3
    assert any("samples.jsonl holds" in w and "records are missing" in w for w in cmp.warnings)
    assert main(["--root", str(tmp_path), "compare", str(base), str(cand), "--fail-on-regression"]) == 3
    # emptied: the report warns instead of showing a clean, empty "complete" run
    rd.rewrite([])
    from harness.report.report import build_run_report
    rep = build_run_report(cand, config=cfg)
    assert "holds no sample record" in rep.warnings[0]
    with pytest.raises(HarnessError, match=f"{cand}: no sample record at all"):
        compare_runs(base, cand, config=cfg)


def test_cli_exit_codes_and_paths(tmp_path, capsys):
    base, cand = pair(tmp_path, shift=-0.3)
    root = ["--root", str(tmp_path)]
    assert main(root + ["compare", str(base), str(cand)]) == 0           # no flag: report only
    out = capsys.readouterr().out
    folder = tmp_path / "reports" / "compare-base-vs-cand"
    assert str(folder / "compare.md") in out and str(folder / "compare.html") in out
    assert "verdict: regressed" in out
    assert main(root + ["compare", str(base), str(cand), "--fail-on-regression"]) == 1
    assert "regression:" in capsys.readouterr().out
    assert main(root + ["compare", str(cand), str(cand), "--fail-on-regression",
                        "--out", str(tmp_path / "aa")]) == 0
    assert (tmp_path / "aa" / "compare.html").is_file()
    assert main(root + ["compare", str(base), str(tmp_path / "missing")]) == 2


def test_markdown_leads_with_verdict_and_fits(tmp_path, cfg):
    big = make_cases(150, findings_per_case=(3, 6), seed=3)
    base, cand = pair(tmp_path, cases=big, shift=-0.25, epochs=2)
    md = render_markdown(compare_runs(base, cand, config=cfg, with_charts=False))
    first = md.splitlines()[0]
    assert first.startswith("## ") and "regressed" in first
    assert "Recall −" in md.splitlines()[2]
    assert len(md) < 65_536


def test_compare_with_judge_shows_agreement(tmp_path, cfg):
    base, cand = pair(tmp_path, base_kw={"judge": 0.8}, cand_kw={"judge": 0.9})
    cmp = compare_runs(base, cand, config=cfg)
    assert cmp.agreement["baseline"] is not None and cmp.agreement["candidate"] is not None
    assert 'id="agreement"' in render_compare_html(cmp) and "Grader agreement" in render_markdown(cmp)
    judged = compare_runs(base, cand, config=cfg, grader="judge")
    assert judged.base.grader == "judge"


def test_untrusted_text_in_compare_markdown(tmp_path, cfg):
    base, cand = pair(tmp_path, cases=evil_cases(), shift=-0.5, base_kw={"review": evil_review},
                      cand_kw={"review": evil_review})
    md = render_markdown(compare_runs(base, cand, config=cfg, with_charts=False))
    assert "<script" not in md and "<img" not in md and "@everyone" not in md
    assert "\\[click me\\](javascript:" in md                 # escaped brackets: literal text, not a link
    assert not re.search(r"(?<!\\)\]\(javascript:", md)


@pytest.mark.browser
def test_compare_html_end_to_end_in_headless_chromium(tmp_path, cfg):
    """v1 vs v2 end to end: the HTML opens with no console errors, no requests, every chart drawn, the case table
    sorts, and hostile review text stays inert."""
    require_chromium()
    base = write_synthetic_run(tmp_path / "v1", cases=evil_cases() + CASES, epochs=3, seed=1, run_id="v1",
                               review=evil_review, judge=True)
    cand = write_synthetic_run(tmp_path / "v2", cases=evil_cases() + CASES, epochs=3, seed=2, run_id="v2",
                               prompt_label="v2", shift=-0.3, review=evil_review, judge=True)
    cmp = compare_runs(base, cand, config=cfg)
    _, html_path = write_compare_report(cmp, config=cfg)
    assert EVIL.split()[0] not in html_path.read_text()          # "<script>window.__xss" appears only escaped
    first_cell = "document.querySelector('#case-table tbody tr td').textContent"
    page = open_page(html_path, actions=["document.querySelectorAll('#case-table thead th')[0].click()",
                                         "document.querySelectorAll('details.case').forEach(function (d) {"
                                         " d.open = true; })"],
                     width=1280,
                     evaluate={"first": first_cell, "xss": "typeof window.__xss", "overflow": OVERFLOW_JS,
                               "sorted": "document.querySelector('#case-table thead th').getAttribute('aria-sort')",
                               "verdict": "document.getElementById('verdict').textContent"})
    assert page.console_errors == [], page.console_errors
    assert page.requests_made == [] and page.dialogs == [] and page.values["xss"] == "undefined"
    assert page.values["sorted"] == "ascending"
    assert page.values["overflow"] == [], page.values["overflow"]     # every review open, still no sideways scroll
    assert page.values["first"] == min(r["case"] for r in cmp.per_case.to_dict("records"))
    assert "regressed" in page.values["verdict"]
    assert_charts_drawn(page, min_charts=5)


# -------------------------------------------------------------------------------------- intervals at the edges

def edge_pair(tmp_path, n_cases, found_b, found_c):
    cases = make_cases(n_cases, findings_per_case=(2, 4), n_clean=0, seed=5)
    kw = dict(cases=cases, epochs=3, difficulty_sd=0.0)
    base = write_synthetic_run(tmp_path / "base", seed=1, run_id="base", found_prob=found_b, **kw)
    cand = write_synthetic_run(tmp_path / "cand", seed=2, run_id="cand", prompt_label="v2", found_prob=found_c, **kw)
    return base, cand


def test_one_case_is_not_estimable_and_inconclusive(tmp_path, cfg, capsys):
    base, cand = edge_pair(tmp_path, 1, 1.0, 0.0)
    cmp = compare_runs(base, cand, config=cfg, with_charts=False)
    assert cmp.verdict == INCONCLUSIVE and not cmp.headline.estimable
    assert any("not estimable with 1 case" in r for r in cmp.gate.reasons)
    md = render_markdown(cmp)
    assert "nan" not in md.lower() and "inf" not in md.replace("info", "")
    assert "95% CI not estimable with 1 case" in md and "effect at 80% power (simulated for this test): not " \
        "estimable with 1 case" in md
    assert "not estimable with 1 case" in cmp.gate.headline()
    assert main(["--root", str(tmp_path), "compare", str(base), str(cand), "--fail-on-regression"]) == 0
    assert "inconclusive: recall is not estimable" in capsys.readouterr().out


def test_two_cases_interval_stays_in_the_metric_range(tmp_path, cfg):
    base, cand = edge_pair(tmp_path, 2, 0.9, 0.2)
    cmp = compare_runs(base, cand, config=cfg, with_charts=False)
    for m in cmp.metrics[:4]:                                     # the proportion rows
        assert m.cmp.n_clusters < 2 or -1.0 <= m.cmp.lo <= m.cmp.hi <= 1.0, m.key
    for rows in cmp.groups.values():
        for r in rows:
            assert r["cmp"].n_clusters < 2 or -1.0 <= r["cmp"].lo <= r["cmp"].hi <= 1.0
    assert "unbounded" not in render_markdown(cmp)


def test_all_passing_runs_show_no_false_certainty(tmp_path, cfg):
    base, cand = edge_pair(tmp_path, 8, 1.0, 1.0)
    cmp = compare_runs(base, cand, config=cfg)
    h = cmp.headline
    assert h.diff == 0 and h.lo < -0.05 and h.hi > 0.05 and cmp.verdict == INCONCLUSIVE
    for m in cmp.metrics[:3]:
        assert m.cmp.hi - m.cmp.lo > 0.1, m.key
    md = render_markdown(cmp)
    assert "±0.0 to ±0.0" not in md and "(simulated for this test): 0.0 pts" not in md
    assert "not estimable: no spread between cases" in md
    assert "not estimable: no spread between cases" in render_compare_html(cmp)


def two_prompt_run(tmp_path, *, shift=-0.3, order=("v1", "v2")):
    """One run holding two prompt versions (what `harness run --prompt A --prompt B` writes), started in
    ``order``."""
    a = write_synthetic_run(tmp_path / "ab", cases=CASES, epochs=3, seed=1, run_id="ab")
    b = write_synthetic_run(tmp_path / "other", cases=CASES, epochs=3, seed=2, prompt_label="v2", shift=shift,
                            run_id="other")
    rd, other = RunDir.open(a), RunDir.open(b)
    rd.rewrite(rd.read_samples().records + other.read_samples().records)
    by = {p.label: p for p in [*rd.manifest.prompts, *other.manifest.prompts]}
    rd.manifest.prompts = [by[x] for x in order]
    rd.write_manifest()
    return a


def test_compare_one_run_with_two_prompt_versions(tmp_path, capsys):
    run = two_prompt_run(tmp_path)
    root = ["--root", str(tmp_path)]
    assert main(root + ["compare", str(run), "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    assert "comparing two variants of one run: baseline v1 · synthetic/model, candidate v2 · synthetic/model" in out
    assert "verdict: regressed" in out
    folder = tmp_path / "reports" / "compare-ab-v1_synthetic_model-vs-v2_synthetic_model"
    assert str(folder / "compare.md") in out
    md = (folder / "compare.md").read_text()
    assert "v1 · synthetic/model → v2 · synthetic/model: **regressed**" in md
    assert "Comparison — v1 · synthetic/model vs v2 · synthetic/model in ab" in (folder / "compare.html").read_text()
    # the order the run was started with decides the baseline: B first, then the drop is an improvement
    run2 = two_prompt_run(tmp_path / "x", order=("v2", "v1"))
    assert main(root + ["compare", str(run2)]) == 0
    assert "baseline v2 · synthetic/model, candidate v1 · synthetic/model" in capsys.readouterr().out


def test_a_run_of_several_variants_names_the_command_that_compares_them(tmp_path, capsys):
    run = two_prompt_run(tmp_path)
    single = write_synthetic_run(tmp_path / "single", cases=CASES, epochs=3, seed=3, run_id="single")
    root = ["--root", str(tmp_path)]
    assert main(root + ["compare", str(single), str(run)]) == 2
    assert f"to compare its two variants with each other: `harness compare {run}`" in capsys.readouterr().err
    assert main(root + ["compare", str(single)]) == 2
    err = capsys.readouterr().err
    assert "the run holds 1 variant(s)" in err and f"`harness compare {single} OTHER_RUN`" in err
    # a chosen variant of a several-variant run compares with another run
    assert main(root + ["compare", str(single), str(run), "--candidate-variant", "v2 · synthetic/model"]) == 0
