"""What a grader returns for one sample: a verdict per finding and per trap, each with evidence."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from ..cases import Case


class Evidence(BaseModel):
    """Where in the review a verdict rests: ``item`` is the 0-based index of the review item (deterministic
    grader) or None (judge); ``quote`` is verbatim review text."""

    model_config = ConfigDict(extra="forbid")

    item: int | None = None
    quote: str = ""


class FindingVerdict(BaseModel):
    """Verdict on one expected finding. ``supported`` is False when a judge's quote is not in the review."""

    model_config = ConfigDict(extra="forbid")

    id: str
    found: bool
    evidence: Evidence | None = None
    reason: str = ""
    supported: bool = True


class TrapVerdict(BaseModel):
    """Verdict on one trap: ``flagged`` means the review reported sound code as a defect (a false positive)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    flagged: bool
    evidence: Evidence | None = None
    reason: str = ""
    supported: bool = True


class SampleGrade(BaseModel):
    """A grader's verdicts on one review.

    ``extra_issues`` counts review items matched to no finding (None when the grader cannot tell).
    ``error`` is set (and the verdict lists are empty) when grading itself failed; such a sample is excluded
    from scores, never counted as a review that missed everything.
    """

    model_config = ConfigDict(extra="forbid")

    grader: str
    findings: list[FindingVerdict] = Field(default_factory=list)
    traps: list[TrapVerdict] = Field(default_factory=list)
    extra_issues: int | None = None
    warnings: list[str] = Field(default_factory=list)
    error: str | None = None
    # what grading spent when it called a model (the LLM judge): calls made (retries included), retries, token
    # usage summed over the calls, and its cost in USD (None: no price for the judge model); 0/None otherwise
    calls: int = 0
    retries: int = 0
    usage: dict[str, int] = Field(default_factory=dict)
    cost_usd: float | None = None

    def found_ids(self) -> set[str]:
        return {f.id for f in self.findings if f.found}

    def flagged_ids(self) -> set[str]:
        return {t.id for t in self.traps if t.flagged}


@runtime_checkable
class Grader(Protocol):
    """Synchronous grader: ``grade(case, review) -> SampleGrade``. Must not raise on any review text.
    The runner calls it on its grading thread (CPU-bound work off the event loop)."""

    name: str

    def grade(self, case: Case, review: str) -> SampleGrade:
        ...


@runtime_checkable
class AsyncGrader(Grader, Protocol):
    """A grader that calls a model (the LLM judge): the runner awaits ``agrade`` on its event loop, so its
    requests share the run's retries, budget and (on a shared local server) concurrency limit; ``grade`` is its
    synchronous form for calibration. Model and reply failures become ``SampleGrade.error``, never exceptions."""

    async def agrade(self, case: Case, review: str) -> SampleGrade:
        ...
