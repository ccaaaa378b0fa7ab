"""The outcome of a sample: what the model's answer (or the lack of one) was, decided once and recorded.

Every sample ends in exactly one of :data:`OUTCOMES`:

* ``ok`` — a complete review (``stop_reason`` end_turn / stop_sequence / tool_use, OpenAI ``stop``): graded;
* ``truncated`` — the reply was cut at the output limit (Anthropic ``stop_reason: max_tokens``, OpenAI and
  llama.cpp ``finish_reason: length``): not graded unless ``[tool.harness] grade_truncated`` (then graded and
  flagged), because a review cut in half is graded as a review that missed its second half;
* ``refused`` — the model declined (Anthropic ``stop_reason: refusal``, OpenAI ``finish_reason: content_filter``,
  or a short reply that is unmistakably a refusal, see :func:`is_refusal`): never graded;
* ``empty`` — no review text at all (only a thinking block, only a tool call, nothing): never graded;
* ``error`` — no answer: the call failed (``record.error.kind`` says how: rate_limit, timeout, disk...).

Only ``ok`` (and ``truncated`` when asked) samples are graded; the others are counted, shown and never scored as
misses (the results table gives them status ``error``).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable

OUTCOMES: tuple[str, ...] = ("ok", "truncated", "refused", "empty", "error")

# the error kind a non-ok answer is recorded with (record.error.kind): the results table treats every record
# with an error as "not graded", which is what keeps these samples out of recall
ERROR_KIND = {"truncated": "truncated", "refused": "refused", "empty": "empty_review"}
OUTCOME_OF_KIND = {v: k for k, v in ERROR_KIND.items()}

TRUNCATED_STOPS = frozenset({"max_tokens", "length", "model_context_window_exceeded"})
REFUSAL_STOPS = frozenset({"refusal", "content_filter"})

# A refusal is recognised from the text only when the whole reply is short and opens with a refusal: a real
# review can say "I can't verify X" deep inside; it does not open with an apology and end 40 words later.
_REFUSAL_MAX_CHARS = 400
_REFUSAL = re.compile(
    r"^\W*(?:(?:i\s*(?:'|’)?\s*a?m\s+(?:so\s+|very\s+)?sorry|sorry|i\s+apologi[sz]e|unfortunately)\W+(?:but\s+)?)?"
    r"i\s*(?:can\s*(?:'|’)?\s*not|can(?:'|’)t|cannot|won(?:'|’)t|will\s+not|am\s+(?:not\s+able|unable)|"
    r"(?:'|’)m\s+(?:not\s+able|unable))\s+(?:to\s+)?(?:help(?!\s+(?:but|noticing|think|wonder))|assist|comply|provide|do\s+that|review|fulfil|"
    r"support|continue|complete|engage)",
    re.IGNORECASE)


def is_refusal(text: str) -> bool:
    """True when ``text`` as a whole is a refusal ("I'm sorry, but I can't help with that."): at most 400
    characters and opening with "I can't/cannot/won't/am unable to help|assist|comply|review…", optionally after
    an apology. Longer texts are never refusals (a review may decline one point and review the rest)."""
    t = (text or "").strip()
    return 0 < len(t) <= _REFUSAL_MAX_CHARS and bool(_REFUSAL.match(t))


def classify(text: str, stop_reason: str | None) -> str:
    """The outcome of an answer that arrived: ``refused``, ``empty``, ``truncated`` or ``ok`` (in that order of
    precedence: a refusal with no text is a refusal; an empty reply cut at max_tokens is empty)."""
    if stop_reason in REFUSAL_STOPS:
        return "refused"
    if not (text or "").strip():
        return "empty"
    if stop_reason in TRUNCATED_STOPS:
        return "truncated"
    if is_refusal(text):
        return "refused"
    return "ok"


def describe(outcome: str, stop_reason: str | None, blocks: list[str] | None = None) -> str:
    """The message recorded on a non-ok answer (``record.error.message``)."""
    if outcome == "empty":
        what = f"blocks: {', '.join(blocks)}" if blocks else "no content"
        return f"the model returned no review text (stop_reason {stop_reason!r}; {what})"
    if outcome == "truncated":
        return (f"the reply was cut at the output limit (stop_reason {stop_reason!r}); not graded: raise max_tokens, "
                "or set [tool.harness] grade_truncated = true to grade it anyway (flagged)")
    if outcome == "refused":
        why = f"stop_reason {stop_reason!r}" if stop_reason in REFUSAL_STOPS else "the reply is a refusal"
        return f"the model declined to review ({why}); not graded"
    return outcome


def outcome_of(rec: Any) -> str:
    """The outcome of a stored record (``rec.outcome`` when recorded; derived for records written before it was):
    error kinds truncated/refused/empty_review map to their outcome, any other error is ``error``."""
    stored = getattr(rec, "outcome", None)
    if stored in OUTCOMES:
        return stored
    err = getattr(rec, "error", None)
    if err is None:
        return "ok"
    return OUTCOME_OF_KIND.get(err.kind, "error")


def count_outcomes(records: Iterable[Any]) -> dict[str, int]:
    """``{outcome: n}`` over ``records`` with every outcome present (zeros included), in :data:`OUTCOMES` order."""
    c = Counter(outcome_of(r) for r in records)
    return {o: int(c.get(o, 0)) for o in OUTCOMES}


def format_counts(counts: dict[str, int]) -> str:
    """``"57 ok, 1 truncated, 1 refused, 1 empty, 0 errors"``: every outcome, the zeros too, so a reader sees
    that nothing was silently dropped."""
    parts = [f"{counts.get(o, 0)} {o}" for o in OUTCOMES[:-1]]
    n = counts.get("error", 0)
    parts.append(f"{n} error" + ("" if n == 1 else "s"))
    return ", ".join(parts)
