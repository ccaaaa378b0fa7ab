"""pytest-evals thresholds per case."""
import math

from harness.cases import load_case
from harness.graders.base import FindingVerdict, SampleGrade, TrapVerdict
from harness.records import SampleError, SampleRecord
from harness.verdicts import explain, case_verdict

from .conftest import write_case


def rec(epoch, found=(), flagged=(), error=None):
    g = SampleGrade(grader="deterministic", findings=[FindingVerdict(id="sqli", found="sqli" in found)],
                    traps=[TrapVerdict(id="get-order-ok", flagged="get-order-ok" in flagged)])
    return SampleRecord(sample_id=f"s{epoch}", case="demo-case", prompt_version="v1", prompt_fingerprint="f",
                        model="m", epoch=epoch, review=None if error else "r",
                        error=SampleError(kind="server", message="boom") if error else None,
                        grades={} if error else {"deterministic": g})


def test_pass_and_fail(case_dir):
    case = load_case(case_dir)
    assert case_verdict(case, [rec(0, found={"sqli"})]).passed
    v = case_verdict(case, [rec(0), rec(1, found={"sqli"}), rec(2)])
    assert not v.passed and v.critical_missed == ["sqli"] and abs(v.recall - 1 / 3) < 1e-9
    msg = explain(v)
    assert "missed [critical] sqli" in msg and "app.py:1-3" in msg and "search_orders" in msg


def test_errors_are_not_failures(case_dir):
    case = load_case(case_dir)
    v = case_verdict(case, [rec(0, error=True)])
    assert v.epochs_graded == 0 and v.errors and v.recall is None
    v = case_verdict(case, [rec(0, error=True), rec(1, found={"sqli"})])
    assert v.passed and v.epochs_graded == 1


def test_control_case_fails_on_flagged_trap(tmp_path):
    d = write_case(tmp_path, "ctrl")
    y = (d / "case.yaml").read_text()
    y = y[:y.index("findings:")] + "findings: []\n" + y[y.index("traps:"):]
    (d / "case.yaml").write_text(y)
    case = load_case(d)
    r = rec(0, flagged={"get-order-ok"})
    r.grades["deterministic"].findings = []
    r.case = "ctrl"
    v = case_verdict(case, [r])
    assert not v.passed and "control case" in v.problems[0] and "false positive on trap" in explain(v)


def test_power_advice_reads_as_a_sentence_in_both_branches():
    """"a 5-point change needs no number of epochs is enough ... with 14 cases" was not a sentence (a fresh
    user's report, 2026-12-08). With no review-to-review noise more epochs cannot help: the advice says how many
    cases would, and that no number of epochs is enough with these; with noise it gives the epochs."""
    import pandas as pd
    from harness.stats import PairedComparison
    from harness.verdicts import power_advice
    rec = PairedComparison(baseline=0.5, candidate=0.55, diff=0.05, se=0.04, lo=-0.03, hi=0.13, p_value=0.2,
                           correlation=0.5, mde=0.12, n_items=40, n_clusters=14, verdict="no detectable change")
    rows = [{"run": r, "case": f"c{c}", "epoch": e, "n_found": 2, "n_items": 3}
            for r in ("b", "c") for c in range(14) for e in range(3)]
    same = power_advice(pd.DataFrame(rows), rec, epochs=3, effects=[0.05])
    assert same == [f"a 5-point change needs about {math.ceil(14 / (0.05 / 0.12) ** 2)} cases at 3 epoch(s): with 14 "
                    "cases no number of epochs is enough (the cases differ more than the reviews do) (80% power, "
                    "α = 0.05; MDE now 12.0 pts)"]
    noisy = [{**r, "n_found": (r["epoch"] + int(r["case"][1:])) % 4} for r in rows]
    line = power_advice(pd.DataFrame(noisy), rec, epochs=3, effects=[0.05])[0]
    assert line.startswith("a 5-point change needs about ") and " epochs with 14 cases, or about " in line
