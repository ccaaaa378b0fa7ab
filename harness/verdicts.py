"""Per-case pass/fail for ``pytest evals``: thresholds from ``[tool.harness]`` applied to a case's samples."""

from __future__ import annotations

from dataclasses import dataclass, field

from .cases import Case
from .records import SampleRecord


@dataclass
class CaseVerdict:
    """Outcome of one case on one prompt version × model, over its epochs.

    ``recall`` is the mean over graded epochs of found/expected; a finding counts as missed when it was missed
    in more than half of the graded epochs. ``errors`` lists sample errors; when every epoch errored the case is
    an error, not a failure.
    """

    case: Case
    epochs_graded: int
    recall: float | None
    missed: list[tuple[str, float]] = field(default_factory=list)  # (finding id, miss rate)
    critical_missed: list[str] = field(default_factory=list)
    traps_flagged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def judge_case(case: Case, records: list[SampleRecord], *, grader: str = "deterministic", min_recall: float = 0.5,
               max_critical_missed: int = 0) -> CaseVerdict:
    """Apply the thresholds: recall ≥ ``min_recall`` and at most ``max_critical_missed`` critical findings missed
    (in most epochs); for a control case (no findings), no trap flagged in most epochs."""
    errors = [f"epoch {r.epoch}: {r.error.kind}: {r.error.message}" for r in records if r.error is not None]
    graded = [r.grades[grader] for r in records if r.error is None and grader in r.grades
              and r.grades[grader].error is None]
    errors += [f"epoch {r.epoch}: grader {grader}: {r.grades[grader].error}" for r in records
               if r.error is None and grader in r.grades and r.grades[grader].error]
    v = CaseVerdict(case=case, epochs_graded=len(graded), recall=None, errors=errors)
    if not graded:
        return v
    n = len(graded)
    findings = case.findings
    if findings:
        per_epoch = [len(g.found_ids() & {f.id for f in findings}) / len(findings) for g in graded]
        v.recall = sum(per_epoch) / n
        for f in findings:
            miss_rate = sum(f.id not in g.found_ids() for g in graded) / n
            if miss_rate > 0.5:
                v.missed.append((f.id, miss_rate))
                if f.severity == "critical":
                    v.critical_missed.append(f.id)
    for t in case.traps:
        if sum(t.id in g.flagged_ids() for g in graded) / n > 0.5:
            v.traps_flagged.append(t.id)
    if findings and v.recall is not None and v.recall < min_recall:
        v.problems.append(f"recall {v.recall:.2f} < {min_recall:.2f}")
    if len(v.critical_missed) > max_critical_missed:
        v.problems.append(f"{len(v.critical_missed)} critical finding(s) missed (allowed {max_critical_missed})")
    if not findings and v.traps_flagged:
        v.problems.append(f"control case: {len(v.traps_flagged)} trap(s) flagged as defects (false positives)")
    return v


def explain(v: CaseVerdict) -> str:
    """A failure message listing the missed findings with severity and location."""
    by_id = {f.id: f for f in v.case.findings}
    lines = [f"{v.case.id}: " + "; ".join(v.problems)]
    for fid, rate in sorted(v.missed, key=lambda x: ["critical", "high", "medium", "low"].index(by_id[x[0]].severity)):
        f = by_id[fid]
        loc = f.location
        lines.append(f"  missed [{f.severity}] {f.id}: {f.title} ({loc.file}:{loc.lines[0]}-{loc.lines[1]}"
                     f"{', ' + loc.symbol if loc.symbol else ''}) in {rate:.0%} of epochs")
    traps = {t.id: t for t in v.case.traps}
    for tid in v.traps_flagged:
        t = traps[tid]
        lines.append(f"  false positive on trap {tid}: {t.title} ({t.location.file}:{t.location.lines[0]}-"
                     f"{t.location.lines[1]})")
    return "\n".join(lines)
