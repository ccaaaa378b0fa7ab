"""The sample view (harness/report/samples.py): evidence spans located in the review, segments, outcomes, and the
view in the run report, the comparison and their markdown links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.cases import load_case
from harness.config import load_config
from harness.graders.base import Evidence
from harness.graders.items import split_items
from harness.records import SampleError, SampleRecord
from harness.report.compare import compare_runs, write_compare_report
from harness.report.report import build_run_report, render_report_html, write_report
from harness.report.samples import LARGE_REVIEW, Span, item_spans, locate, outcome, sample_view, segments
from harness.testing.synthetic import make_cases, write_synthetic_run

from .browser import OVERFLOW_JS, open_page, require_chromium

ROOT = Path(__file__).resolve().parents[1]

REVIEW = """# Review

Intro paragraph that
wraps over two lines.

1. **High** — the query in `app.py:12` is built by string formatting.
   - sub-point about escaping
2. Second point with code:

   ```python
   cur.execute(f"select {x}")
   ```

| file | problem |
|---|---|
| db.py | no index |
"""


def _norm(t: str) -> str:
    t = re.sub(r"```[\w-]*", " ", t)            # code fences (and their language) are not in an item's text
    return " ".join(re.sub(r"[*_`|#>-]", " ", t).split())


def test_item_spans_cover_each_items_own_text():
    items = split_items(REVIEW)
    spans = item_spans(REVIEW)
    assert len(spans) == len(items)
    for it, sp in zip(items, spans):
        assert sp is not None
        text = REVIEW[sp[0]:sp[1]]
        first = it.text.split("\n")[0].strip()
        assert first[:12] in text, (it, text)
        assert text == text.rstrip(), "no trailing blank space in a span"
    # spans are in document order and do not overlap
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    # the code block belongs to the point before it, and is inside its span
    code_owner = next(i for i, it in enumerate(items) if "cur.execute" in it.text)
    assert "cur.execute" in REVIEW[slice(*spans[code_owner])]


def test_item_spans_with_crlf_line_breaks():
    crlf = REVIEW.replace("\n", "\r\n")
    spans = item_spans(crlf)
    items = split_items(crlf)
    for it, sp in zip(items, spans):
        assert it.text.split("\n")[0].strip()[:10] in crlf[sp[0]:sp[1]]


def test_locate_prefers_offsets_then_item_then_a_verbatim_quote():
    spans = item_spans(REVIEW)
    assert locate(REVIEW, type("E", (), {"start": 3, "end": 9, "item": 0, "quote": ""})(), spans) == (3, 9)
    point = next(i for i, it in enumerate(split_items(REVIEW)) if it.text.startswith("**High**"))
    assert locate(REVIEW, Evidence(item=point, quote="the query"), spans) == spans[point]
    # the judge quotes the review (no item): the quote is found verbatim
    q = "built by string formatting"
    a, b = locate(REVIEW, Evidence(item=None, quote=q), spans)
    assert REVIEW[a:b] == q
    # an item that does not hold a quote found elsewhere is not what the verdict rests on
    a, b = locate(REVIEW, Evidence(item=0, quote="no index"), spans)
    assert REVIEW[a:b] == "no index"
    # a quote cut with an ellipsis is found by its head
    a, b = locate(REVIEW, Evidence(item=None, quote="Intro paragraph that…"), spans)
    assert REVIEW[a:b] == "Intro paragraph that"
    # nothing to go on: not located, never attached to the wrong text
    assert locate(REVIEW, Evidence(item=None, quote="words the review never wrote"), spans) is None
    assert locate(REVIEW, Evidence(item=99, quote=""), spans) is None
    assert locate(REVIEW, None, spans) is None


def test_segments_give_the_review_back_and_nest_overlapping_spans():
    text = "0123456789abcdef"
    spans = [Span(2, 8, "finding a: found", "found", "m1"), Span(5, 12, "trap t: flagged", "flagged", "m2")]
    segs = segments(text, spans)
    assert "".join(s["text"] for s in segs) == text
    by_text = {s["text"]: s for s in segs}
    assert by_text["01"]["marks"] == [] and by_text["567"]["cls"] == "flagged found"
    assert by_text["234"]["anchor"] == "m1" and by_text["89ab"]["anchor"] == ""
    assert "finding a" in by_text["567"]["title"] and "trap t" in by_text["567"]["title"]
    # out-of-range spans are ignored
    assert "".join(s["text"] for s in segments(text, [Span(10, 99, "x", "found", "m")])) == text


def _rec(**kw) -> SampleRecord:
    base = dict(sample_id="s1", case="c", prompt_version="v1", prompt_fingerprint="p", model="m", epoch=1,
                review="text", stop_reason="end_turn")
    base.update(kw)
    return SampleRecord(**base)


def test_outcome_reads_the_runners_outcome_else_derives_it():
    assert outcome(_rec())[0] == "ok"
    assert outcome(_rec(outcome="refused"))[0] == "refused"
    assert outcome(_rec(stop_reason="max_tokens"))[0] == "truncated"
    assert outcome(_rec(stop_reason="refusal"))[0] == "refused"
    assert outcome(_rec(review="  "))[0] == "empty"
    kind, detail = outcome(_rec(review=None, error=SampleError(kind="overloaded", message="529 from server")))
    assert kind == "error" and "overloaded" in detail and "529" in detail


def test_real_grader_verdicts_are_highlighted_on_the_item_they_credit():
    """On real reviews and the real grader, each located verdict's span holds the grader's quote."""
    from harness.graders.rubric import DeterministicGrader
    grader = DeterministicGrader(semantic=False)
    case = load_case(ROOT / "cases" / "api" / "invoices-drf-smoke")
    n = 0
    for rv in sorted((ROOT / "labelled" / "invoices-drf-smoke" / "reviews").glob("r*.md")):
        text = rv.read_text(encoding="utf-8")
        grade = grader.grade(case, text)
        rec = _rec(review=text, grades={"deterministic": grade})
        view = sample_view(rec, "deterministic", {"findings": [], "traps": []})
        assert "".join(s["text"] for s in view["segments"]) == text
        for v in view["findings"] + view["traps"]:
            if not v["hit"]:
                continue
            n += 1
            assert v["located"], (rv.name, v)
            mark = next(s for s in view["segments"] if s["anchor"] == v["anchor"])
            start = text.index(mark["text"])
            covered = "".join(s["text"] for s in view["segments"] if any(m.anchor == v["anchor"] for m in s["marks"]))
            assert _norm(v["quote"].rstrip("…"))[:12] in _norm(covered), (rv.name, v["id"], v["quote"], covered)
            assert start >= 0
    assert n >= 5, "the reviews credit some findings"


# --------------------------------------------------------------------------------------------- in the reports

@pytest.fixture
def cfg(tmp_path):
    return load_config(tmp_path)


def _long_review(case, epoch, found, flagged):
    body = "\n".join(f"{i + 1}. **High** — {f['title']}." for i, f in enumerate(found))
    return f"## Review {case['id']} epoch {epoch}\n\n{body}\n\n" + "padding line of a thorough review\n" * 200 + \
        "THE LAST LINE OF THE REVIEW\n"


def test_run_report_shows_every_review_whole_with_verdicts_and_outcomes(tmp_path, cfg):
    run = write_synthetic_run(tmp_path / "r", cases=make_cases(3, seed=4), epochs=2, review=_long_review,
                              error_rate=0.2, seed=5, run_id="r")
    rep = build_run_report(run, config=cfg)
    html = render_report_html(rep)
    assert 'id="samples"' in html
    n_ok = sum(1 for r in rep.res.records if r.error is None)
    # every review is in the page in full, collapsed because long, never cut
    assert html.count("THE LAST LINE OF THE REVIEW") == n_ok
    assert len(_long_review({"id": "x"}, 1, [], [])) > LARGE_REVIEW
    assert html.count('<details class="review">') == n_ok and '<details class="review" open>' not in html
    assert html.count('class="sample"') == len(rep.res.records)
    # each found finding is marked in the review and linked from its verdict row
    found = sum(v.found for r in rep.res.records if r.error is None for v in r.grades["deterministic"].findings)
    assert found > 0 and html.count('<td class="verdict-cell"><b>found</b>') == found
    for anchor in re.findall(r'<a href="#(s-[0-9a-f]+-f\d+)">show</a>', html):
        assert f'id="{anchor}"' in html
    # an errored sample shows its outcome and the error kind
    assert 'class="outcome o-error">error</span>' in html and "overloaded" in html


def test_markdown_reports_link_to_the_sample_view(tmp_path, cfg):
    run = write_synthetic_run(tmp_path / "r", cases=make_cases(3, seed=4), epochs=1, run_id="r")
    md, html = write_report(build_run_report(run, config=cfg), tmp_path / "out" / "my report.md", config=cfg)
    assert "](my%20report.html#samples)" in md.read_text()


def _pair(tmp_path):
    cases = make_cases(6, seed=1)
    tc = next(c for c in cases if c["traps"] and c["findings"])
    tid = tc["traps"][0]["id"]
    b = write_synthetic_run(tmp_path / "b", cases=cases, epochs=3, trap_prob=0.0, run_id="b", seed=1)
    c = write_synthetic_run(tmp_path / "c", cases=cases, epochs=3, prompt_label="v2",
                            trap_prob={(tc["id"], tid): 1.0}, run_id="c", seed=2)
    return b, c, tc["id"], tid


def test_a_new_trap_false_alarm_is_among_the_flips_and_its_case_comes_first(tmp_path, cfg):
    b, c, case_id, trap_id = _pair(tmp_path)
    cmp = compare_runs(b, c, config=cfg)
    traps = [f for f in cmp.flips if f["kind"] == "trap"]
    assert [(f["case"], f["finding"], f["flip"]) for f in traps] == [(case_id, trap_id, "regressed")]
    kinds = [(f["flip"], f["kind"]) for f in cmp.flips]
    # lost findings, then new false alarms, then improvements
    assert kinds == sorted(kinds, key=lambda k: (k[0] != "regressed", k[1] != "finding"))
    assert traps[0]["n_found_b"] == 0 and traps[0]["n_found_c"] == 3
    md_path, html_path = write_compare_report(cmp, tmp_path / "out", config=cfg)
    md = md_path.read_text()
    assert "1 new trap false alarm" in md and "new false alarm" in md and "](compare.html#reviews)" in md
    html = html_path.read_text()
    assert "new false alarm on a trap" in html
    side = html[html.index('id="reviews"'):]
    first_cases = re.findall(r'<details class="case" id="case-\d+"[^>]*><summary>([^ <]+)', side)
    flip_cases = list(dict.fromkeys(f["case"] for f in cmp.flips))
    assert first_cases[:len(flip_cases)] == flip_cases
    # both sides of every case, every sample
    n_samples = len(cmp.base.records) + len(cmp.cand.records)
    assert side.count('class="sample"') == n_samples
    assert side.count('<div class="side">') == len(first_cases)


def test_pages_render_without_samples_in_markdown_context(tmp_path, cfg):
    """The markdown context does not read the reviews for the sample view (HTML only)."""
    from harness.report.report import context
    run = write_synthetic_run(tmp_path / "r", cases=make_cases(2, seed=4), epochs=1, run_id="r")
    rep = build_run_report(run, config=cfg, with_charts=False)
    assert context(rep)["cases_view"] == []
    assert len(context(rep, samples=True)["cases_view"]) == len(rep.res.manifest.cases)


@pytest.mark.browser
def test_sample_views_open_and_pages_do_not_overflow_at_1280px(tmp_path, cfg):
    require_chromium()
    b, c, _, _ = _pair(tmp_path)
    _, report_html = write_report(build_run_report(c, config=cfg), tmp_path / "rep", config=cfg)
    _, compare_html = write_compare_report(compare_runs(b, c, config=cfg), tmp_path / "cmp", config=cfg)
    toggle = ["window.__before = document.querySelector('details.case').open",
              "document.querySelector('details.case > summary').click()"]
    for page_path in (report_html, compare_html):
        page = open_page(page_path, width=1280, actions=toggle, evaluate={
            "before": "window.__before", "after": "document.querySelector('details.case').open",
            "overflow": OVERFLOW_JS, "marks": "document.querySelectorAll('pre.review mark').length"})
        assert page.console_errors == [] and page.requests_made == []
        assert page.values["after"] is (not page.values["before"]), "a case's <details> toggles"
        assert page.values["overflow"] == [], page.values["overflow"]
        assert page.values["marks"] > 0


def test_a_big_run_shows_a_few_samples_per_case_and_says_how_to_see_the_rest(tmp_path, cfg, capsys):
    from harness.cli import main
    from harness.report.samples import case_views
    run = write_synthetic_run(tmp_path / "r", cases=make_cases(4, seed=4), epochs=6, error_rate=0.1, seed=3,
                              run_id="r")
    rep = build_run_report(run, config=cfg, with_charts=False)
    views = case_views(rep.res, limit=10)
    assert all(len(v["samples"]) == 10 // len(views) for v in views)
    assert all(v["n_samples"] == 6 for v in views)
    # the samples that did not end ok come first
    for v in views:
        errs = sum(1 for r in rep.res.records if r.case == v["case"] and r.error is not None)
        shown = sum(1 for s in v["samples"] if s["outcome"] == "error")
        assert shown == min(errs, len(v["samples"]))
    one = views[0]["case"]
    assert [len(v["samples"]) for v in case_views(rep.res, cases=[one], limit=10)] == [6]
    # harness report --case writes every sample of that case
    out = tmp_path / "one"
    assert main(["--root", str(tmp_path), "report", str(run), "--case", one, "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert html.count('class="sample"') == 6 and html.count('<details class="case"') == 1
    assert main(["--root", str(tmp_path), "report", str(run), "--case", "no-such-case", "--out", str(out)]) == 2
    assert "no-such-case" in capsys.readouterr().err


def test_identical_prompts_under_two_names_are_said_to_be_identical(tmp_path, cfg, monkeypatch):
    from harness.planning import Choices, build_options
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    (tmp_path / "p").mkdir()
    body = "---\nname: r\ndescription: d\n---\nYou review code.\n"
    (tmp_path / "p" / "v1.md").write_text(body)
    (tmp_path / "p" / "v1-copy.md").write_text(body)
    (tmp_path / "p" / "v2.md").write_text(body + "Be thorough.\n")
    pcfg = load_config(ROOT, {"cases_dir": str(ROOT / "cases")})
    opts, notes = build_options(pcfg, Choices(prompts=[str(tmp_path / "p" / n) for n in ("v1.md", "v1-copy.md",
                                                                                            "v2.md")]))
    assert [p.label for p in opts.prompts] == ["v1", "v2"] and opts.prompt_aliases == {"v1": ["v1-copy"]}
    assert any("v1, v1-copy have identical contents" in n for n in notes)
    # a run that recorded the aliases says so in its report
    run = write_synthetic_run(tmp_path / "r", cases=make_cases(2, seed=4), epochs=1, run_id="r")
    from harness.records import RunDir
    rd = RunDir.open(run)
    rd.manifest.prompt_aliases = {"v1": ["v1-copy"]}
    rd.write_manifest()
    rep = build_run_report(run, config=cfg, with_charts=False)
    assert any("v1, v1-copy have identical contents" in w for w in rep.warnings)
    # a comparison of two names for one text says so, loudly
    cases = make_cases(4, seed=1)
    b = write_synthetic_run(tmp_path / "b", cases=cases, prompt_label="v1@main", prompt_fingerprint="f" * 64,
                            run_id="b", seed=1)
    c = write_synthetic_run(tmp_path / "c", cases=cases, prompt_label="v1", prompt_fingerprint="f" * 64,
                            run_id="c", seed=2)
    cmp = compare_runs(b, c, config=cfg)
    assert any("v1@main and the candidate's prompt v1 have identical contents" in w and "A/A" in w for w in cmp.loud)


def test_the_top_of_each_page_points_at_the_reviews(tmp_path, cfg):
    b, c, _, _ = _pair(tmp_path)
    html = render_report_html(build_run_report(c, config=cfg))
    top = html[:html.index('id="headline"')]
    assert '<a href="#samples">Read the reviews</a>' in top
    from harness.report.compare import render_compare_html
    html = render_compare_html(compare_runs(b, c, config=cfg))
    top = html[:html.index('id="headline"')]
    assert '<a href="#reviews">' in top and "1 of them new trap false alarm" in top
