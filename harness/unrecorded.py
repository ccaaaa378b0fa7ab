"""Answers a session received and paid for but had not recorded when it stopped, kept for the next session.

An answer is recorded only once it is graded, and grading takes a moment (the semantic stage up to ~1 s a
review, one review at a time), so a Ctrl-C or SIGTERM usually finds a few answers received and not recorded.
They are written to the run directory (``unrecorded.json``) when the session stops, whatever the cache mode
(``--cache off`` keeps no other copy); the resume records them from there, graded then, without asking the
model again. Their cost was counted by the session that received them (run.json ``summary.spent_usd``), so the
resume counts it neither as spent nor as saved: the run's spending is what was paid, once.

File shape: ``{"version": 1, "answers": {sample_id: {"completion": {text, usage, stop_reason, latency_s, model,
extra}, "cached": bool, "reused": bool}}}``, written atomically; removed when nothing is left unrecorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .models.base import Completion, Usage
from .textio import atomic_write_json

__all__ = ["FILE", "Unrecorded", "load", "save", "stop_account"]

FILE = "unrecorded.json"


@dataclass(frozen=True)
class Unrecorded:
    """One answer received and not recorded: the completion, and whether it came from the response cache
    (``cached``) or from another epoch's request (``reused``) rather than being paid for by its own request."""

    completion: Completion
    cached: bool = False
    reused: bool = False

    def as_json(self) -> dict:
        c = self.completion
        return {"completion": {"text": c.text, "usage": c.usage.as_dict(), "stop_reason": c.stop_reason,
                               "latency_s": c.latency_s, "model": c.model, "extra": c.extra or {}},
                "cached": self.cached, "reused": self.reused}

    @classmethod
    def from_json(cls, d: dict) -> "Unrecorded":
        """Raises KeyError, TypeError or ValueError on an entry of another shape."""
        c = d["completion"]
        comp = Completion(text=str(c["text"]), usage=Usage(**c["usage"]), stop_reason=c.get("stop_reason"),
                          latency_s=float(c.get("latency_s", 0.0)), model=str(c.get("model", "")),
                          extra=dict(c.get("extra") or {}))
        return cls(comp, cached=bool(d.get("cached")), reused=bool(d.get("reused")))


def save(run_path: str | Path, answers: dict[str, Unrecorded]) -> None:
    """Write ``answers`` (sample id → answer) to ``<run_path>/unrecorded.json`` atomically, or remove the file
    when there are none.

    Raises:
        OSError: the run directory cannot be written.
    """
    path = Path(run_path) / FILE
    if not answers:
        path.unlink(missing_ok=True)
        return
    atomic_write_json(path, {"version": 1, "answers": {k: v.as_json() for k, v in sorted(answers.items())}})


def load(run_path: str | Path) -> tuple[dict[str, Unrecorded], list[str]]:
    """The answers kept by an earlier session of the run at ``run_path`` (empty when none), and notes for
    people: how many are recorded from there, or that the file was damaged (then nothing is used from it and
    those samples are asked again)."""
    path = Path(run_path) / FILE
    if not path.exists():
        return {}, []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        answers = {str(k): Unrecorded.from_json(v) for k, v in data["answers"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        return {}, [f"{path}: unreadable ({type(e).__name__}: {e}); the answers an interrupted session kept "
                    "there are asked for again"]
    return answers, []


def stop_account(summary: dict) -> str | None:
    """The line an interrupted session prints about what it leaves (run.json ``summary``): samples recorded, answers
    received and kept unrecorded (the resume records them without asking again) and what it spent;
    None when the summary says nothing (a session stopped before it counted)."""
    if "recorded" not in summary:
        return None
    out = f"{summary['recorded']} of {summary.get('planned', '?')} samples recorded and kept"
    kept = summary.get("unrecorded_answers") or 0
    if kept:
        out += f"; {kept} answer(s) received and not yet recorded are kept (the resume records them without a request)"
    spent = summary.get("spent_usd")
    if spent is not None and summary.get("cost_usd") is not None:
        out += f"; spent by this run ${spent:.4f}"
    return out
