"""One test per case: the review must meet the thresholds of `[tool.harness]` (min_recall, max_critical_missed)."""

import pytest

from harness.verdicts import explain


def test_case(eval_target, case_outcome):
    if not case_outcome.passed:
        pytest.fail(explain(case_outcome), pytrace=False)
