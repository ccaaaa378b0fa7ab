"""The grader's last measured agreement with human labels, recorded by ``harness calibrate --write`` and stated by
every run and comparison report.

The record (JSON, ``[tool.harness] calibration_record``, default ``labelled/calibration.json``) holds one entry per
grader: the figures of :func:`harness.graders.calibrate.calibrate` on the reported part of the labelled corpus,
the date, the corpus and split, the *grader fingerprint* (a digest over the grader's source files, its thresholds
and the embedding model's availability) and the fingerprint of every labelled case. A report compares them with
the grader and cases of the run and says when the figures no longer describe them.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HarnessError

__all__ = ["grader_fingerprint", "write_record", "read_record", "CalibrationStatus", "calibration_status"]



def grader_fingerprint(name: str, *, judge_model: str | None = None) -> str:
    """sha256 hex (first 16 characters) over the grader's source files, its thresholds, whether the semantic
    stage can run and, for the judge, the judge model id. Changes whenever the grader could grade differently."""
    here = Path(__file__).parent
    h = hashlib.sha256(name.encode())
    # what decides a grader's verdicts: its registered source files (harness.graders.registry)
    from .registry import GRADERS
    for rel in (GRADERS[name].sources if name in GRADERS else ()):
        p = here / rel
        h.update(rel.encode())
        h.update(p.read_bytes() if p.is_file() else b"-")
    if name == "deterministic":
        from .semantic import DEFAULT_PARAMS, get_embedder
        h.update(repr(DEFAULT_PARAMS).encode())
        h.update(b"semantic" if get_embedder().available else b"lexical-only")
    if judge_model:
        h.update(judge_model.encode())
    return h.hexdigest()[:16]


def write_record(path: str | Path, res: dict[str, Any], *, grader_fp: str, corpus: str, split: str,
                 case_fps: dict[str, str], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Store ``res`` (a :func:`calibrate` result) as the record of its grader in the JSON file ``path``, keeping
    the other graders' entries. Returns the entry written. Written atomically."""
    from ..textio import atomic_write_json
    path = Path(path)
    data = read_record(path) or {}
    entry = {
        "grader": res["grader"], "grader_fingerprint": grader_fp,
        "date": _dt.date.today().isoformat(), "corpus": corpus, "split": split,
        "reviews": res["reviews"], "pairs": res["pairs"],
        "finding_agreement": res["finding_agreement"], "kappa": res["kappa"],
        "precision": res["precision"], "recall": res["recall"],
        "trap_agreement": res["trap_agreement"], "extra_issues_mae": res.get("extra_issues_mae"),
        "case_fingerprints": dict(sorted(case_fps.items())),
        **(extra or {}),
    }
    data[res["grader"]] = entry
    atomic_write_json(path, data)
    return entry


def read_record(path: str | Path) -> dict[str, Any] | None:
    """The record file as a dict (grader -> entry), or None when it does not exist.

    Raises:
        HarnessError: the file exists but is not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise HarnessError(f"not a calibration record (JSON object expected): {e}", file=path) from None
    if not isinstance(data, dict):
        raise HarnessError("not a calibration record (JSON object expected)", file=path)
    return data


@dataclass
class CalibrationStatus:
    """What a report says about the grader's measured agreement: ``text`` (one line, empty when nothing is
    recorded) and ``stale`` (warnings: no record, the grader or the labelled cases changed since)."""

    text: str = ""
    stale: list[str] = field(default_factory=list)
    entry: dict[str, Any] | None = None


def calibration_status(record_path: str | Path, grader: str, *, case_fps: dict[str, str] | None = None,
                       judge_model: str | None = None) -> CalibrationStatus:
    """The report line for ``grader``: its recorded figures, and whether they still describe the grader and
    the cases (``case_fps``: case id -> fingerprint of the run's cases; a labelled case whose fingerprint
    differs is named).
    Never raises: an unreadable record becomes a warning."""
    try:
        data = read_record(record_path)
    except HarnessError as e:
        return CalibrationStatus(stale=[f"grader calibration record unreadable: {e}"])
    entry = (data or {}).get(grader)
    if not entry:
        return CalibrationStatus(stale=[f"the {grader} grader's agreement with human labels was never recorded "
                                        f"here: run `harness calibrate --write`"])

    # a hand-edited or foreign record: every figure must be a number in [0, 1] (MAE >= 0), reviews a count
    bad = [k for k in ("finding_agreement", "kappa", "precision", "recall", "trap_agreement")
           if entry.get(k) is not None and not (isinstance(entry.get(k), (int, float)) and -1 <= entry[k] <= 1)]
    if not isinstance(entry.get("reviews"), int) or not isinstance(entry.get("date"), str):
        bad += [k for k in ("reviews", "date") if not isinstance(entry.get(k), int if k == "reviews" else str)]
    if bad:
        return CalibrationStatus(stale=[f"grader calibration record {record_path}: field(s) {', '.join(bad)} of "
                                        f"{grader!r} are not valid figures (expected numbers in [0, 1], a review "
                                        f"count and a date): run `harness calibrate --write`"])

    def f(x) -> str:
        return "—" if x is None else f"{x:.3f}"

    text = (f"{grader} grader vs human labels, measured {entry.get('date')} on {entry.get('reviews')} reviews "
            f"({entry.get('corpus')}, split {entry.get('split')}): "
            f"finding agreement {f(entry.get('finding_agreement'))}, "
            f"kappa {f(entry.get('kappa'))}, recall vs human {f(entry.get('recall'))}, precision "
            f"{f(entry.get('precision'))}, trap agreement {f(entry.get('trap_agreement'))}")
    stale = []
    try:
        fp = grader_fingerprint(grader, judge_model=judge_model)
    except Exception:  # pragma: no cover - a missing source file
        fp = None
    if fp != entry.get("grader_fingerprint"):
        stale.append(f"the {grader} grader changed since its agreement with human labels was measured "
                     f"({entry.get('date')}): the figures may not hold; run `harness calibrate --write`")
    rec = entry.get("case_fingerprints") or {}
    changed = sorted(cid for cid, fp in (case_fps or {}).items() if fp and cid in rec and rec[cid] != fp)
    if changed:
        stale.append(f"{len(changed)} case(s) changed since the grader was calibrated on their labelled reviews: "
                     f"{', '.join(changed[:8])}{' …' if len(changed) > 8 else ''}")
    return CalibrationStatus(text=text, stale=stale, entry=entry)
