"""Refresh the screenshots of the report pages in docs/: ``python docs/screenshots.py`` (needs chromium).

What it builds, in a temporary folder (nothing is sent to a model):

* a run of three suite cases whose "reviews" are the labelled reviews of ``labelled/`` (two per case), graded by
  the real deterministic grader — its run report (``docs/report.png``, the top; ``docs/report-samples.png``,
  the sample view with the first case open);
* a second run of the same cases with two other labelled reviews per case, compared with the first
  (``docs/compare.png``: the verdict; ``docs/compare-reviews.png``: the reviews side by side);
* a synthetic 30-night history with a regression planted on night 25, and its dashboard (``docs/dashboard.png``).

Each page is opened in headless Chromium at 1280 px (tests/browser.py) and the script fails when a page logs a
console error or scrolls sideways, so a screenshot is never taken of a broken page.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import OVERFLOW_JS, open_page  # noqa: E402

CASES = ["invoices-drf-smoke", "admin-users-spring", "file-relay-fastify"]
OPEN_FIRST = "document.querySelector('details.case').open = true"


def labelled_run(path: Path, label: str, reviews: tuple[str, ...], seed: int) -> Path:
    """A run directory whose samples are labelled reviews of :data:`CASES`, graded by the deterministic grader."""
    import hashlib
    import random

    from harness.cases import load_case
    from harness.graders.rubric import DeterministicGrader
    from harness.records import PromptInfo, ModelInfo, RunDir, RunManifest, SampleRecord, sample_id, utcnow
    from harness.results import write_cases_json
    from harness.cases import suite_fingerprint

    rng = random.Random(seed)
    cases = [load_case(next((ROOT / "cases").glob(f"*/{c}"))) for c in CASES]
    pfp = hashlib.sha256(label.encode()).hexdigest()
    model = "anthropic/claude-sonnet-4-6"
    manifest = RunManifest(run_id=path.name, suite_fingerprint=suite_fingerprint(cases), cases=CASES,
                           prompts=[PromptInfo(label=label, spec=f"prompts/backend-reliability-engineer/{label}.md",
                                               name="backend-reliability-engineer", fingerprint=pfp)],
                           models=[ModelInfo(name=model, provider="anthropic")], epochs=len(reviews),
                           graders=["deterministic"], kind="adhoc", started_at=utcnow(), status="complete")
    rd = RunDir.create(path, manifest)
    write_cases_json(path, cases)
    grader = DeterministicGrader()
    records = []
    for case in cases:
        for epoch, name in enumerate(reviews):
            text = (ROOT / "labelled" / case.id / "reviews" / f"{name}.md").read_text(encoding="utf-8")
            tin, tout = 4200 + rng.randint(0, 900), len(text) // 4
            records.append(SampleRecord(
                sample_id=sample_id(case.id, pfp, model, epoch), case=case.id, case_fingerprint=case.fingerprint,
                kind=case.kind, prompt_version=label, prompt_fingerprint=pfp, model=model, epoch=epoch,
                review=text, stop_reason="end_turn",
                usage={"input_tokens": tin, "output_tokens": tout, "cache_creation_input_tokens": 0,
                       "cache_read_input_tokens": 0},
                cost_usd=(tin * 3 + tout * 15) / 1e6, latency_s=round(8 + rng.random() * 20, 2),
                grades={"deterministic": grader.grade(case, text)}))
    rd.rewrite(records)
    return path


def nights(root: Path) -> Path:
    """30 synthetic nights (3 epochs, 12 cases), recall 10 points lower from night 25 on."""
    from harness.records import RunDir
    from harness.testing.synthetic import make_cases, write_synthetic_run
    cases = make_cases(12, seed=7)
    for n in range(1, 31):
        p = write_synthetic_run(root / f"night-{n:02d}", cases=cases, epochs=3, seed=n, run_id=f"night-{n:02d}",
                                shift=-0.1 if n >= 25 else 0.0)
        rd = RunDir.open(p)
        rd.manifest.kind = "nightly"
        rd.manifest.started_at = f"2026-11-{n:02d}T02:23:00+00:00"
        rd.write_manifest()
    return root


def shoot(page: Path, out: Path, *, actions=(), start: str | None = None, height: int = 2000) -> None:
    """Open ``page`` at 1280 px, check it, and write the screenshot ``out``."""
    res = open_page(page, width=1280, actions=list(actions), evaluate={"overflow": OVERFLOW_JS},
                    screenshot=out, screenshot_from=start, screenshot_height=height)
    if res.console_errors or res.values["overflow"]:
        raise SystemExit(f"{page}: console errors {res.console_errors}, overflow {res.values['overflow']}")
    print(out)


def main() -> int:
    from harness.config import load_config
    from harness.report.compare import compare_runs, write_compare_report
    from harness.report.dashboard import build_dashboard
    from harness.report.report import build_run_report, write_report
    require_chromium_or_exit()
    docs = ROOT / "docs"
    with tempfile.TemporaryDirectory(prefix="harness-shots-") as tmp:
        t = Path(tmp)
        cfg = load_config(ROOT, {"reports_dir": str(t / "reports")})
        base = labelled_run(t / "runs" / "v1-run", "v1", ("r1", "r2"), seed=1)
        cand = labelled_run(t / "runs" / "v2-run", "v2", ("r6", "r3"), seed=2)
        _, report = write_report(build_run_report(cand, config=cfg), t / "report", config=cfg)
        _, compare = write_compare_report(compare_runs(base, cand, config=cfg), t / "compare", config=cfg)
        dash = build_dashboard(nights(t / "nights"), t / "dash", baseline="night-01,night-02,night-03", config=cfg)
        shoot(report, docs / "report.png", height=1500)
        shoot(report, docs / "report-samples.png", actions=[OPEN_FIRST], start="#samples", height=2200)
        shoot(compare, docs / "compare.png", height=1500)
        shoot(compare, docs / "compare-reviews.png", start="#reviews", height=2200,
              actions=["document.querySelector('#reviews ~ details.case').open = true"])
        shoot(dash.index, docs / "dashboard.png", height=2600)
    return 0


def require_chromium_or_exit() -> None:
    from tests.browser import chromium_path
    if chromium_path() is None:
        raise SystemExit("chromium is needed (apt-get install -y chromium)")


if __name__ == "__main__":
    sys.exit(main())
