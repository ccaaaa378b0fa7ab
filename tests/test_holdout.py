"""The deterministic grader on a held-out set: reviews of the project's own cases, labelled by a person who did not
see the grader (tests/data/holdout). The calibration figures (../shared/calibration) were reached while the grader
was developed against that set; these are the honest out-of-sample figures, guarded so they cannot silently drop."""

from pathlib import Path

from harness.cases import load_suite
from harness.graders.calibrate import calibrate

from .conftest import ROOT

HOLDOUT = Path(__file__).parent / "data" / "holdout"
MARGIN = 0.02


def test_holdout_agreement_does_not_regress():
    suite = {c.id: c for c in load_suite(ROOT / "cases")}
    res = calibrate(HOLDOUT, "deterministic", suite=suite)
    assert res["reviews"] == 24 and not res["errors"]
    # measured 2026-11-29, lexical stage: agreement 0.848, kappa 0.700, precision 0.973, recall 0.755, traps 0.833;
    # 2026-12-07 with the semantic stage: 0.951, 0.899, 0.930, 0.989, 0.833 (this set's aggregate figures were
    # looked at while the stage was developed: it is no longer strictly held out; labelled/ split "report" is)
    assert res["finding_agreement"] >= 0.951 - MARGIN
    assert res["kappa"] >= 0.899 - MARGIN
    assert res["precision"] >= 0.91
    assert res["trap_agreement"] >= 0.833 - MARGIN
