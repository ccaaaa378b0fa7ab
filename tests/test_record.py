"""The grader calibration record (harness.graders.record); the CLI path is tested in tests/test_calibrate.py."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.graders import record


def _res(grader: str, agreement: float) -> dict:
    return {"grader": grader, "reviews": 3, "pairs": 9, "finding_agreement": agreement, "kappa": 0.5,
            "precision": 1.0, "recall": 0.5, "trap_agreement": 1.0, "extra_issues_mae": 1.5}


def test_write_keeps_other_graders_and_reads_back(tmp_path):
    f = tmp_path / "sub" / "cal.json"
    assert record.read_record(f) is None
    record.write_record(f, _res("deterministic", 0.9), grader_fp="a", corpus="labelled", split="report",
                        case_fps={"c1": "x"})
    record.write_record(f, _res("judge", 0.8), grader_fp="b", corpus="labelled", split="report", case_fps={})
    data = record.read_record(f)
    assert set(data) == {"deterministic", "judge"}
    assert data["deterministic"]["finding_agreement"] == 0.9 and data["judge"]["grader_fingerprint"] == "b"
    f.write_text("{not json", encoding="utf-8")
    with pytest.raises(HarnessError) as e:
        record.read_record(f)
    assert "cal.json" in str(e.value)


def test_fingerprint_follows_the_grader_and_its_thresholds(monkeypatch):
    a = record.grader_fingerprint("deterministic")
    assert a == record.grader_fingerprint("deterministic") and len(a) == 16
    assert record.grader_fingerprint("judge", judge_model="m1") != record.grader_fingerprint("judge",
                                                                                             judge_model="m2")
    from harness.graders import semantic
    monkeypatch.setattr(semantic, "DEFAULT_PARAMS", semantic.SemanticParams(0.5, 0.1))
    assert record.grader_fingerprint("deterministic") != a


def test_a_record_with_wrong_types_is_a_warning_not_a_crash(tmp_path):
    import json
    f = tmp_path / "cal.json"
    f.write_text(json.dumps({"deterministic": {"finding_agreement": "high", "reviews": "many", "date": None}}),
                 encoding="utf-8")
    st = record.calibration_status(f, "deterministic")
    assert not st.text and "finding_agreement" in st.stale[0] and "reviews" in st.stale[0]
